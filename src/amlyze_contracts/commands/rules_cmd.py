"""``amlyze-contracts rules``: the rule catalogue (built-in schema/input rules, the bundled
rule files, and optionally the user's own), with severity, vendor code and target.

Exit codes: 0 listed, 2 bad rule file or severity override.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..catalogue import BUILTIN_RULES, Rule, RuleFileError, load_rules
from ..domain import EXIT_OK, EXIT_USAGE

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


def run(args: argparse.Namespace) -> int:
    overrides: dict[str, str] = {}
    for value in args.severity:
        rule_id, sep, level = value.partition("=")
        if not sep:
            print(f"{PROG}: error: --severity {value!r}: expected RULE=LEVEL", file=sys.stderr)
            return EXIT_USAGE
        overrides[rule_id.strip()] = level.strip()
    try:
        ruleset = load_rules(args.rules).with_severities(overrides)
    except RuleFileError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # by_id: built-ins first, a rule file's entry (or an override) replacing a built-in's.
    known = {rule.id: rule for rule in BUILTIN_RULES}
    known.update(ruleset.by_id)
    entries = [_entry(rule) for rule in sorted(known.values(), key=lambda r: r.id)]
    if args.format == "json":
        print(json.dumps({"rules": entries}, indent=2))
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
    return EXIT_OK
