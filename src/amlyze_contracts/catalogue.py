"""The rule catalogue: loading rule files into the one rule set, severity overrides,
and the rules that apply to one schema.

Declarative rules (``specs/rules/*.yaml``) are data: conditions on an object's
members, each condition an entry of :mod:`amlyze_contracts.conditions`; the engine
compiles them (:mod:`amlyze_contracts.engine.codegen`). Rules that need code name a
function (``function:``) registered in :mod:`amlyze_contracts.rule_functions`; a
name that is not registered there is a :class:`RuleFileError` when the file loads.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from . import parse_cache, rule_functions
from .conditions import CONDITION_OPS, OPS, Condition
from .specs import bundled_dir

SEVERITY_CHOICES = ("error", "warning", "off")
RULE_KEYS = {
    "id",
    "severity",
    "code",
    "applies-to",
    "when",
    "require",
    "pointer",
    "message",
    "fix",
    "source",
    "function",
    "classifier",
    "codes",
    "unless-defined",
}


class RuleFileError(Exception):
    """A rule file or a severity override is not usable; the message names file and entry."""


class Rule(msgspec.Struct, frozen=True):
    id: str
    severity: str
    message: str
    code: str | None = None
    applies_to: str | None = None
    when: tuple[Condition, ...] = ()
    require: tuple[Condition, ...] = ()
    pointer: str | None = None
    fix: str | None = None
    source: str | None = None
    function: str | None = None
    classifier: str | None = None
    codes: Mapping[str, str] = msgspec.field(default_factory=dict)
    # Members whose definition in the schema turns the rule off (a rename rule must
    # not fire under a revision where the new name is the right one).
    unless_defined: tuple[str, ...] = ()
    origin: str = "<builtin>"

    @property
    def fields(self) -> tuple[str, ...]:
        names: list[str] = []
        for cond in (*self.when, *self.require):
            for name in (cond.field, cond.arg if OPS[cond.op].other_member else None):
                if isinstance(name, str) and name not in names:
                    names.append(name)
        return tuple(names)

    @property
    def conditions(self) -> tuple[Condition, ...]:
        return (*self.when, *self.require)

    @property
    def target_field(self) -> str | None:
        if self.pointer:
            return self.pointer
        if self.require:
            return self.require[0].field
        return self.when[0].field if self.when else None

    def render(self, **values: Any) -> str:
        """The message with the fix hint, placeholders filled where known."""
        text = _fill(self.message, values)
        if self.fix:
            text = f"{text}. Fix: {_fill(self.fix, values)}"
        return text


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _fill(template: str, values: Mapping[str, Any]) -> str:
    try:
        return template.format_map(_Blank(values))
    except (ValueError, IndexError, KeyError):
        return template


# Rules whose logic is the schema or the input reader; listed so they can be
# overridden (``--severity schema.format=warning``) and documented in one catalogue.
BUILTIN_RULES: tuple[Rule, ...] = tuple(
    Rule(rule_id, severity, message, source="CONTRACT.md section 2")
    for rule_id, severity, message in (
        ("schema.required", "error", "a required member is missing"),
        ("schema.type", "error", "a value has the wrong JSON type"),
        ("schema.enum", "error", "a value is not one of the allowed values"),
        ("schema.maxLength", "error", "a string is longer than allowed"),
        ("schema.minLength", "error", "a string is shorter than allowed"),
        ("schema.minItems", "error", "an array has too few items"),
        ("schema.maxItems", "error", "an array has too many items"),
        ("schema.format", "error", "a string does not have the documented format"),
        ("schema.pattern", "error", "a string does not match the documented pattern"),
        ("schema.minimum", "error", "a number is below the documented minimum"),
        ("schema.maximum", "error", "a number is above the documented maximum"),
        ("schema.additional", "error", "a member the schema forbids"),
        ("schema.other", "error", "another JSON Schema keyword failed"),
        ("input.json-syntax", "error", "the text is not JSON"),
        ("input.encoding", "error", "the bytes are not UTF-8"),
        ("input.bom", "warning", "a UTF-8 byte-order mark precedes the JSON"),
        ("input.duplicate-key", "error", "the same member appears twice in one object"),
        ("input.non-finite", "error", "NaN or Infinity is not JSON"),
        ("input.too-deep", "error", "nesting deeper than the documented limit"),
        ("input.operation-unknown", "error", "the body matches no bundled operation"),
    )
)


def _parse_condition(fname: str, spec: Any, where: str, sets: Mapping[str, Any]) -> list[Condition]:
    if not isinstance(spec, dict) or not spec:
        raise RuleFileError(f"{where}: condition for {fname!r} must be a non-empty mapping")
    out: list[Condition] = []
    for op, arg in spec.items():
        entry = OPS.get(op)
        if entry is None:
            raise RuleFileError(
                f"{where}: unknown condition {op!r} for {fname!r} (known: {', '.join(CONDITION_OPS)})"
            )
        problem = entry.check_arg(arg, sets)
        if problem is not None:
            raise RuleFileError(f"{where}: {problem}")
        out.append(Condition(fname, op, arg))
    return out


def _parse_rule(entry: Any, origin: str, index: int, sets: Mapping[str, Any]) -> Rule:
    where = f"{origin}: rules[{index}]"
    if not isinstance(entry, dict):
        raise RuleFileError(f"{where}: must be a mapping")
    rule_id = entry.get("id")
    if not isinstance(rule_id, str) or not re.fullmatch(
        r"[a-z][a-z0-9-]*(\.[a-zA-Z0-9-]+)+", rule_id
    ):
        raise RuleFileError(f"{where}: 'id' must look like 'area.name', got {rule_id!r}")
    where = f"{origin}: rule {rule_id}"
    unknown = set(entry) - RULE_KEYS
    if unknown:
        raise RuleFileError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    severity = entry.get("severity", "error")
    if severity not in SEVERITY_CHOICES:
        raise RuleFileError(f"{where}: severity must be one of {', '.join(SEVERITY_CHOICES)}")
    message = entry.get("message")
    if not isinstance(message, str) or not message:
        raise RuleFileError(f"{where}: 'message' is required")
    function = entry.get("function")
    if function is not None and function not in rule_functions.KINDS:
        known = ", ".join(sorted(rule_functions.KINDS))
        raise RuleFileError(
            f"{where}: function {function!r} is not a registered rule function (known: {known})"
        )
    when: list[Condition] = []
    require: list[Condition] = []
    if function is None:
        if not isinstance(entry.get("applies-to"), str):
            raise RuleFileError(f"{where}: 'applies-to' (a schema name or \"*\") is required")
        for key, target in (("when", when), ("require", require)):
            block = entry.get(key) or {}
            if not isinstance(block, dict):
                raise RuleFileError(f"{where}: {key!r} must be a mapping of field to condition")
            for fname, spec in block.items():
                target.extend(_parse_condition(str(fname), spec, f"{where}: {key}.{fname}", sets))
        if not when and not require:
            raise RuleFileError(f"{where}: needs 'when' or 'require'")
    unless = entry.get("unless-defined") or []
    if not isinstance(unless, list) or not all(isinstance(n, str) for n in unless):
        raise RuleFileError(f"{where}: 'unless-defined' must be a list of member names")
    code = entry.get("code")
    return Rule(
        id=rule_id,
        severity=severity,
        message=message,
        code=None if code is None else str(code),
        applies_to=entry.get("applies-to"),
        when=tuple(when),
        require=tuple(require),
        pointer=entry.get("pointer"),
        fix=entry.get("fix"),
        source=entry.get("source"),
        function=function,
        unless_defined=tuple(unless),
        classifier=entry.get("classifier"),
        codes={str(k): str(v) for k, v in (entry.get("codes") or {}).items()},
        origin=origin,
    )


class RuleSet(
    msgspec.Struct, frozen=True, eq=False, dict=True
):  # identity: rule sets are cached and used as cache keys
    rules: tuple[Rule, ...]
    sets: Mapping[str, frozenset[str]]
    field_codes: Mapping[str, Mapping[str, str]]

    @functools.cached_property
    def by_id(self) -> dict[str, Rule]:
        return {r.id: r for r in (*BUILTIN_RULES, *self.rules)}

    def severity(self, rule_id: str) -> str:
        rule = self.by_id.get(rule_id)
        return rule.severity if rule else "error"

    def enabled(self, rule_id: str) -> bool:
        return self.severity(rule_id) != "off"

    def field_code(self, schema_name: str | None, field_name: str) -> str | None:
        if not schema_name:
            return None
        return (self.field_codes.get(schema_name) or {}).get(field_name)

    def with_severities(self, severities: Mapping[str, str] | None) -> RuleSet:
        if not severities:
            return self
        known = self.by_id
        overridden_builtins = []
        new_rules = list(self.rules)
        for rule_id, severity in severities.items():
            if severity not in SEVERITY_CHOICES:
                raise RuleFileError(
                    f"severity for {rule_id}: {severity!r} is not one of {', '.join(SEVERITY_CHOICES)}"
                )
            if rule_id not in known:
                raise RuleFileError(f"severity for unknown rule {rule_id!r}")
        for i, rule in enumerate(new_rules):
            if rule.id in severities:
                new_rules[i] = msgspec.structs.replace(rule, severity=severities[rule.id])
        for rule in BUILTIN_RULES:
            if rule.id in severities:
                overridden_builtins.append(
                    msgspec.structs.replace(rule, severity=severities[rule.id])
                )
        return RuleSet((*overridden_builtins, *new_rules), self.sets, self.field_codes)

    def declarative(self) -> list[Rule]:
        return [r for r in self.rules if r.function is None and r.severity != "off"]

    def functional(self, name: str) -> Rule | None:
        for rule in self.rules:
            if rule.function == name:
                return rule if rule.severity != "off" else None
        return None


def _read_rule_file(path: Path) -> dict[str, Any]:
    data = parse_cache.get(path)
    if data is None:
        data = _parse_rule_yaml(path)
        parse_cache.put(path, data)
    if not isinstance(data, dict) or not isinstance(data.get("rules", []), list):
        raise RuleFileError(f"{path}: must be a mapping with a 'rules' list")
    return data


def _parse_rule_yaml(path: Path) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except OSError as exc:
        raise RuleFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise RuleFileError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RuleFileError(f"{where}: not valid YAML: {problem}") from None


def parse_rule_documents(docs: Iterable[tuple[str, Mapping[str, Any]]]) -> RuleSet:
    rules: dict[str, Rule] = {}
    sets: dict[str, frozenset[str]] = {}
    field_codes: dict[str, dict[str, str]] = {}
    parsed = list(docs)
    for origin, data in parsed:
        for name, values in (data.get("sets") or {}).items():
            if not isinstance(values, list):
                raise RuleFileError(f"{origin}: sets.{name} must be a list")
            sets[str(name)] = frozenset(str(v) for v in values)
        for schema_name, mapping in (data.get("field-codes") or {}).items():
            field_codes.setdefault(str(schema_name), {}).update(
                {str(k): str(v) for k, v in (mapping or {}).items()}
            )
    for origin, data in parsed:
        for index, entry in enumerate(data.get("rules") or []):
            rule = _parse_rule(entry, origin, index, sets)
            # A later file may redefine a rule of the same id (a user's stricter variant).
            rules[rule.id] = rule
    return RuleSet(tuple(rules.values()), sets, field_codes)


def bundled_rule_files() -> list[Path]:
    return list(_rule_files_in(bundled_dir()))


@functools.lru_cache(maxsize=8)
def _rule_files_in(root: Path) -> tuple[Path, ...]:
    # Package data does not change while we run: one directory listing per process.
    folder = root / "rules"
    return tuple(sorted(folder.glob("*.yaml"))) if folder.is_dir() else ()


@functools.lru_cache(maxsize=16)
def _load(paths: tuple[str, ...]) -> RuleSet:
    return parse_rule_documents((p, _read_rule_file(Path(p))) for p in paths)


def load_rules(extra: Iterable[str | Path] | None = None) -> RuleSet:
    """The bundled rules, plus the user's rule files in the same form."""
    paths = [str(p) for p in bundled_rule_files()]
    for p in extra or ():
        path = Path(p)
        if not path.is_file():
            raise RuleFileError(f"{path}: no such rule file")
        paths.append(str(path.resolve()))
    return _load(tuple(paths))


def rules_for_schema(
    ruleset: RuleSet,
    schema_name: str | None,
    properties: Iterable[str],
    dynamic_enums: Mapping[str, str],
    classifiers: Mapping[str, frozenset[str]] | None,
    severity_overrides: Mapping[str, str] | None = None,
) -> list[Rule]:
    """The declarative rules that apply to objects of one schema.

    ``dynamic_enums`` maps the schema's ``x-dynamic-enum`` members to classifier
    names. With a classifier snapshot, a rule carrying ``classifier:`` checks
    membership in it (as an error) instead of its static set, and
    ``common.classifier`` expands to one membership check per remaining member.
    """
    props = set(properties)
    out: list[Rule] = []
    claimed: set[str] = set()
    snapshot = classifiers or {}
    overrides = severity_overrides or {}
    for rule in ruleset.declarative():
        if rule.applies_to == "*":
            if not set(rule.fields) <= props:
                continue
        elif rule.applies_to != schema_name:
            continue
        if props.intersection(rule.unless_defined):
            continue
        if rule.classifier:
            claimed.add(rule.classifier)
            if rule.classifier in snapshot:
                set_name = f"classifier:{rule.classifier}"
                rule = msgspec.structs.replace(
                    rule,
                    require=tuple(
                        msgspec.structs.replace(c, arg=set_name) if c.op == "in-set" else c
                        for c in rule.require
                    ),
                    severity=overrides.get(rule.id, "error"),
                    message=rule.message.replace(
                        "an active ISO 4217 alphabetic code", "in the classifier snapshot"
                    ),
                )
        out.append(rule)
    classifier_rule = ruleset.functional(rule_functions.CLASSIFIER)
    if classifier_rule is not None:
        for member, classifier in dynamic_enums.items():
            if classifier in claimed or classifier not in snapshot:
                continue
            out.append(
                msgspec.structs.replace(
                    classifier_rule,
                    function=None,
                    applies_to=schema_name,
                    when=(Condition(member, "type", "string"),),
                    require=(Condition(member, "in-set", f"classifier:{classifier}"),),
                    code=classifier_rule.codes.get(member, classifier_rule.code),
                    message=classifier_rule.message.replace("{field}", member).replace(
                        "{classifier}", classifier
                    ),
                    fix=(classifier_rule.fix or "").replace("{path}", f"/classifier/{classifier}"),
                )
            )
    return out


def sets_with_classifiers(
    ruleset: RuleSet, classifiers: Mapping[str, frozenset[str]] | None
) -> dict[str, frozenset[str]]:
    sets = dict(ruleset.sets)
    for name, codes in (classifiers or {}).items():
        sets[f"classifier:{name}"] = frozenset(codes)
    return sets
