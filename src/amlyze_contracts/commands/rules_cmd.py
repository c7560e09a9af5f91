"""``amlyze-contracts rules``: the rule catalogue (built-in schema/input rules, the bundled
rule files, and optionally the user's own), with severity, vendor code and target.
``--revision`` keeps the rules that apply under that vendor revision and says why the
others do not (no schema of theirs in it, or an ``unless-defined`` member defined).

Exit codes: 0 listed, 2 bad rule file, severity override or unknown revision.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from ..catalogue import BUILTIN_RULES, Rule, RuleFileError, load_rules
from ..domain import EXIT_OK
from .options import UsageError, add_revision_option, fail, resolve_revision

if TYPE_CHECKING:
    from ..catalogue import RuleSet
    from ..revisions import Revision

PROG = "amlyze-contracts rules"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--rules", action="append", default=[], metavar="FILE", help="add a rule file (repeatable)"
    )
    parser.add_argument(
        "--severity",
        action="append",
        default=[],
        metavar="RULE=LEVEL",
        help="show the catalogue with this override applied (repeatable)",
    )
    add_revision_option(parser)


# What a code-backed rule looks at, in CONTRACT.md's words; unknown functions show their name.
_FUNCTION_TARGETS = {
    "classifier": "x-dynamic-enum fields",
    "unknown_field": "any object",
    "batch_not_empty": "batch body",
    "communication_number_unique": "batch body",
    "status_documented": "response",
    "content_type": "response",
}


def _applies_to(rule: Rule) -> str:
    if rule.applies_to:
        return "any schema with these fields" if rule.applies_to == "*" else rule.applies_to
    if rule.function:
        if rule.function in _FUNCTION_TARGETS:
            return _FUNCTION_TARGETS[rule.function]
        if rule.id.startswith(("batch.", "brm.")):
            return "response (with its request)"
        return f"function {rule.function}"
    # Built-ins: the schema checker or the input reader, on every body.
    return "any body"


def _codes(rule: Rule) -> str | None:
    """Per-field codes (common.classifier: 006 for accountType) when there is no single one."""
    return ", ".join(f"{code} ({name})" for name, code in rule.codes.items()) or None


def _entry(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "severity": rule.severity,
        "code": rule.code or _codes(rule),
        "codes": dict(rule.codes),
        "applies_to": _applies_to(rule),
        "message": rule.message,
        "source": rule.source,
        "origin": rule.origin,
    }


class Scope:
    """Where the schema-bound (declarative) rules apply under one revision: each rule's
    operations, and for a rule that applies to none, why. Asks the catalogue's own
    ``rules_for_schema`` about every object schema of every request of the revision."""

    def __init__(self, ruleset: RuleSet, revision: Revision) -> None:
        from ..catalogue import rules_for_schema
        from ..engine.compiler import _dynamic_enums, _object_schemas
        from ..specs import SCHEMA_NAME

        # Judged as if none were switched off: `--severity x=off` is shown, not hidden.
        on = ruleset.with_severities(
            {r.id: "error" for r in ruleset.rules if r.severity == "off" and not r.function}
        )
        self.revision = revision
        self.operations: dict[str, list[str]] = {}
        # schema name -> its members, operation by operation (for the reasons).
        self._schemas: list[tuple[str | None, frozenset[str], str]] = []
        for op_id, op in revision.operations().items():
            schema = op.request_schema
            for obj in _object_schemas(schema) if schema else ():
                props = obj["properties"]
                self._schemas.append((obj.get(SCHEMA_NAME), frozenset(props), op_id))
                for rule in rules_for_schema(
                    on, obj.get(SCHEMA_NAME), props, _dynamic_enums(obj), None
                ):
                    found = self.operations.setdefault(rule.id, [])
                    if op_id not in found:
                        found.append(op_id)

    def applies(self, rule: Rule) -> bool:
        return rule.function is not None or not rule.applies_to or rule.id in self.operations

    def why_not(self, rule: Rule) -> str:
        """Why a declarative rule applies to no operation of the revision."""
        switched: dict[str, list[str]] = {}  # member defined -> operations
        for name, members, op_id in self._schemas:
            if rule.applies_to in (name, "*"):
                for member in sorted(members.intersection(rule.unless_defined)):
                    switched.setdefault(member, []).append(op_id)
        if switched:
            where = "; ".join(f"{m} in {', '.join(ops)}" for m, ops in switched.items())
            return f"unless-defined: {rule.applies_to} defines {where}"
        if rule.applies_to == "*":
            return f"no request schema of this revision defines {', '.join(rule.fields)}"
        return f"no request schema {rule.applies_to} in this revision"


def run(args: argparse.Namespace) -> int:
    from .validate_cmd import ConfigError, parse_severities

    try:
        overrides = dict(parse_severities(args.severity))
        ruleset = load_rules(args.rules).with_severities(overrides)
        scope = None if args.revision is None else Scope(ruleset, resolve_revision(args.revision))
    except (ConfigError, RuleFileError, UsageError) as exc:
        return fail(PROG, str(exc))
    # by_id: built-ins first, a rule file's entry (or an override) replacing a built-in's.
    known = {rule.id: rule for rule in BUILTIN_RULES}
    known.update(ruleset.by_id)
    listed = sorted(known.values(), key=lambda r: r.id)
    entries = [_entry(rule) for rule in listed if scope is None or scope.applies(rule)]
    left_out = [
        {"id": rule.id, "reason": scope.why_not(rule)}
        for rule in listed
        if scope is not None and not scope.applies(rule)
    ]
    if scope is not None:
        for entry in entries:
            # None: not bound to a schema (built-ins, code-backed rules): see applies_to.
            entry["operations"] = scope.operations.get(entry["id"])
    if args.format == "json":
        head = {} if scope is None else {"revision": scope.revision.name}
        tail = {} if scope is None else {"notApplied": left_out}
        print(json.dumps({**head, "rules": entries, **tail}, indent=2))
        return EXIT_OK
    widths = {
        key: max(len(str(e[key] or "-")) for e in entries)
        for key in ("id", "severity", "code", "applies_to")
    }
    header = {"id": "RULE", "severity": "SEVERITY", "code": "CODE", "applies_to": "APPLIES TO"}
    widths = {key: max(width, len(header[key])) for key, width in widths.items()}
    for row in [header, *entries]:
        cells = [f"{row[key] or '-':<{widths[key]}}" for key in widths]
        print("  ".join([*cells, str(row.get("message", "MESSAGE"))]).rstrip())
    if scope is not None:
        revision = scope.revision
        print(f"revision {revision.name} (commit {revision.commit}): {len(entries)} rules apply")
        for item in left_out:
            print(f"not applied under {revision.name}: {item['id']} ({item['reason']})")
    return EXIT_OK
