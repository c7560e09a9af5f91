"""The one rule set: loading rule files, severity overrides, and compiling.

Declarative rules (``specs/rules/*.yaml``) are compiled once into Python source: a
*check* function (fast path: returns False at the first broken rule, reads msgspec
Structs by attribute) and a *diagnose* function (slow path: lists every broken rule
of one object, reads dicts). Both come from the same generator, so a rule exists
once. Rules that need code are functions in :mod:`amlyze_contracts.rule_functions`
registered under the same ids.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from . import column_rules, parse_cache
from .formats import ALL_CHECKS, CHECKS, FAILING, not_before, not_before_valid
from .specs import bundled_dir

SEVERITY_CHOICES = ("error", "warning", "off")
CONDITION_OPS = (
    "present",
    "not-empty",
    "equals",
    "not-equals",
    "in",
    "not-in",
    "in-set",
    "matches",
    "type",
    "check",
    "not-before",
)
TYPE_NAMES = ("string", "boolean", "number", "integer", "object", "array", "null")
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
}


class RuleFileError(Exception):
    """A rule file or a severity override is not usable; the message names file and entry."""


class Condition(msgspec.Struct, frozen=True):
    field: str
    op: str
    arg: Any


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
    origin: str = "<builtin>"

    @property
    def fields(self) -> tuple[str, ...]:
        names: list[str] = []
        for cond in (*self.when, *self.require):
            for name in (cond.field, cond.arg if cond.op == "not-before" else None):
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


def _parse_condition(fname: str, spec: Any, where: str) -> list[Condition]:
    if not isinstance(spec, dict) or not spec:
        raise RuleFileError(f"{where}: condition for {fname!r} must be a non-empty mapping")
    out: list[Condition] = []
    for op, arg in spec.items():
        if op not in CONDITION_OPS:
            raise RuleFileError(
                f"{where}: unknown condition {op!r} for {fname!r} (known: {', '.join(CONDITION_OPS)})"
            )
        if op in ("present", "not-empty") and not isinstance(arg, bool):
            raise RuleFileError(f"{where}: {op!r} takes true or false")
        if op in ("in", "not-in") and not isinstance(arg, list):
            raise RuleFileError(f"{where}: {op!r} takes a list")
        if op == "matches":
            try:
                re.compile(arg)
            except (re.error, TypeError) as exc:
                raise RuleFileError(f"{where}: bad regular expression {arg!r}: {exc}") from None
        if op == "type" and arg not in TYPE_NAMES:
            raise RuleFileError(f"{where}: type must be one of {', '.join(TYPE_NAMES)}")
        if op == "check" and arg not in CHECKS:
            raise RuleFileError(f"{where}: unknown check {arg!r} (known: {', '.join(CHECKS)})")
        if op == "not-before" and not isinstance(arg, str):
            raise RuleFileError(f"{where}: not-before takes another field's name")
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
                target.extend(_parse_condition(str(fname), spec, f"{where}: {key}.{fname}"))
        if not when and not require:
            raise RuleFileError(f"{where}: needs 'when' or 'require'")
        for cond in (*when, *require):
            if (
                cond.op == "in-set"
                and cond.arg not in sets
                and not str(cond.arg).startswith("classifier:")
            ):
                raise RuleFileError(f"{where}: unknown set {cond.arg!r}")
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


# --------------------------------------------------------------------------- compile

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>"})()


class _Gen(msgspec.Struct):
    """Accumulates generated source and the constants it refers to."""

    ns: dict[str, Any]
    counter: int = 0

    def const(self, value: Any) -> str:
        self.counter += 1
        name = f"_c{self.counter}"
        self.ns[name] = value
        return name


_TYPE_EXPR = {
    "string": "{v}.__class__ is str",
    "boolean": "{v}.__class__ is bool",
    "number": "({v}.__class__ is int or {v}.__class__ is float)",
    "integer": "{v}.__class__ is int",
    "object": "isinstance({v}, dict)",
    "array": "isinstance({v}, list)",
    "null": "{v} is None",
}


def _equals_expr(v: str, value: Any, gen: _Gen) -> str:
    if value is None or isinstance(value, bool):
        return f"{v} is {value!r}"
    if isinstance(value, str):
        return f"{v} == {value!r}"
    return f"({v}.__class__ is {type(value).__name__} and {v} == {gen.const(value)})"


def _condition_expr(
    cond: Condition,
    var: dict[str, str],
    miss: str,
    gen: _Gen,
    sets: Mapping[str, Any],
    asserted: Mapping[str, str],
) -> str:
    """Python source for one condition. ``asserted`` maps members to the format the
    fast path's decoder already proved (so the check is only "present")."""
    v = var[cond.field]
    op, arg = cond.op, cond.arg
    if op == "check" and asserted.get(cond.field) == arg:
        return f"{v} is not {miss}"
    if op == "not-before" and asserted.get(cond.field) == asserted.get(arg) == "date-time":
        other = var[arg]
        return (
            f"({v} is {miss} or {other} is {miss} or {gen.const(not_before_valid)}({v}, {other}))"
        )
    if op == "present":
        return f"{v} is not {miss}" if arg else f"{v} is {miss}"
    if op == "not-empty":
        expr = f"({v} is not {miss} and {v} is not None and {v} != '' and {v} != [])"
        return expr if arg else f"not {expr}"
    if op == "equals":
        return f"({v} is not {miss} and {_equals_expr(v, arg, gen)})"
    if op == "not-equals":
        return f"({v} is not {miss} and not ({_equals_expr(v, arg, gen)}))"
    if op in ("in", "not-in", "in-set"):
        values = sets[arg] if op == "in-set" else arg
        if all(isinstance(x, str) for x in values):
            member = f"({v}.__class__ is str and {v} in {gen.const(frozenset(values))})"
        else:
            # Mixed types: compare each allowed value the way `equals` does (True is not 1).
            member = "(" + " or ".join(f"({_equals_expr(v, x, gen)})" for x in values) + ")"
        return f"({v} is not {miss} and not {member})" if op == "not-in" else member
    if op == "matches":
        return f"({v}.__class__ is str and {gen.const(pattern_test(arg))}({v}) is not None)"
    if op == "type":
        return f"({v} is not {miss} and {_TYPE_EXPR[arg].format(v=v)})"
    if op == "check":
        return f"({v} is not {miss} and {gen.const(CHECKS[arg])}({v}))"
    if op == "not-before":
        return (
            f"({v} is {miss} or {var[arg]} is {miss} or {gen.const(not_before)}({v}, {var[arg]}))"
        )
    raise AssertionError(op)  # pragma: no cover - parse rejects unknown ops


def pattern_test(pattern: str) -> Callable[[str], Any]:
    """The test of ``matches: <pattern>`` (a match object or None)."""
    compiled = re.compile(pattern)
    return compiled.match if pattern.startswith("^") else compiled.search


class ObjectChecker(msgspec.Struct, frozen=True):
    """The compiled declarative rules for one schema."""

    rules: tuple[Rule, ...]
    # Fast path: a list of Structs -> every deferred format valid and every rule kept.
    check_many: Callable[[Sequence[Any]], bool]
    diagnose: Callable[[Mapping[str, Any]], list[int]]  # slow path: indexes of broken rules
    # Slow path, a batch: its columns (item_columns.ItemColumns) -> (item, rule) pairs.
    diagnose_many: Callable[[Any], list[tuple[int, int]]]
    source: str


class _ColumnRecipe(msgspec.Struct, frozen=True):
    """A rule's whole-column form before its generated functions exist."""

    key: tuple[tuple[str, bool], ...]  # see column_rules.ColumnRule
    # (kind, member, the other member of a pair, generated function name)
    provers: tuple[tuple[str, str, str, str], ...]


def _column_recipe(
    rule: Rule,
    index: int,
    gen: _Gen,
    sets: Mapping[str, Any],
    asserted: Mapping[str, str],
    lines: list[str],
) -> _ColumnRecipe:
    """Generate a rule's row predicate ``_broken<index>`` and the condition functions
    its provers need (appended to ``lines``)."""
    names = tuple(sorted(rule.fields))
    conds = rule.conditions
    # Members tested only for presence are read as bools: their rows repeat.
    presence_only = tuple(
        all(c.op == "present" for c in conds if c.field == name)
        and not any(c.op == "not-before" and c.arg == name for c in conds)
        for name in names
    )
    var = {name: f"v{i}" for i, name in enumerate(names)}

    def expr(cond: Condition, var: Mapping[str, str], row: bool = False) -> str:
        if row and presence_only[names.index(cond.field)]:  # the variable is that bool
            return var[cond.field] if cond.arg else f"not {var[cond.field]}"
        return _condition_expr(cond, dict(var), "_UNSET", gen, sets, asserted)

    broken = _broken_expr(rule, lambda c: expr(c, var, row=True))
    lines.append(f"def _broken{index}({', '.join(var.values())}):  # {rule.id}")
    lines.append(f"    return {broken}")
    provers: list[tuple[str, str, str, str]] = []
    for j, cond in enumerate(rule.require):
        fn = f"_holds{index}_{j}"
        if (cond.op == "present" and cond.arg) or (
            cond.op == "check" and asserted.get(cond.field) == cond.arg
        ):
            provers.append(("present", cond.field, "", ""))
        elif cond.op == "check" and cond.arg in ALL_CHECKS:
            provers.append(("check", cond.field, "", cond.arg))
        elif (
            cond.op == "not-before"
            and asserted.get(cond.field) == asserted.get(cond.arg) == "date-time"
        ):
            provers.append(("date-times", cond.field, cond.arg, ""))
        elif cond.op == "not-before":
            lines.append(f"def {fn}(v, o):")
            lines.append(f"    return {expr(cond, {cond.field: 'v', cond.arg: 'o'})}")
            provers.append(("pairs", cond.field, cond.arg, fn))
        elif len(names) > 1:  # a one-member rule's distinct rows are this test already
            lines.append(f"def {fn}(v):")
            lines.append(f"    return {expr(cond, {cond.field: 'v'})}")
            provers.append(("distinct", cond.field, "", fn))
    return _ColumnRecipe(tuple(zip(names, presence_only, strict=False)), tuple(provers))


def _column_rule(
    recipe: _ColumnRecipe, index: int, ns: Mapping[str, Any]
) -> column_rules.ColumnRule:
    provers: list[column_rules.Prover] = []
    for kind, member, other, name in recipe.provers:
        if kind == "present":
            provers.append(column_rules.present_all(member))
        elif kind == "check":
            provers.append(column_rules.check_all(member, name))
        elif kind == "date-times":
            provers.append(column_rules.date_times_not_before(member, other))
        elif kind == "pairs":
            provers.append(column_rules.pairs_all(member, other, ns[name]))
        else:
            provers.append(column_rules.distinct_all(member, ns[name]))
    return column_rules.ColumnRule(recipe.key, tuple(provers), ns[f"_broken{index}"])


def compile_checker(
    rules: list[Rule],
    sets: Mapping[str, frozenset[str]],
    attr_names: Mapping[str, str] | None = None,
    formats: Mapping[str, str] | None = None,
    deferred_formats: Iterable[str] = (),
    required: Iterable[str] = (),
) -> ObjectChecker:
    """Compile rules into a fast ``check_many(structs)`` and a ``diagnose(dict)``.

    ``attr_names`` maps member names to the Struct's attribute names for the fast
    path (members the Struct lacks are always missing there); ``formats`` maps
    members to their schema format, which the fast path has proven by the time rules
    run: by its decoder, or for ``deferred_formats`` by ``check_many`` itself;
    ``required`` names the members the decoder proved present.
    """
    gen = _Gen(ns={"_UNSET": _unset(), "_MISSING": MISSING, "_NOTHING": frozenset()})
    asserted = dict(formats or {})
    attrs = dict(attr_names or {})
    lines = _object_function("diagnose", rules, "_MISSING", gen, sets, {}, None)
    lines += _many_function(rules, gen, sets)
    # Rules of cheap conditions run in one loop over the items (a tenth of a
    # microsecond per item); the others are proven column-wise (column_rules).
    is_cheap = [all(_is_cheap(c, asserted) for c in rule.conditions) for rule in rules]
    cheap = [rule for rule, flag in zip(rules, is_cheap, strict=True) if flag]
    lines += _object_function("check_loop", cheap, "_UNSET", gen, sets, asserted, attrs)
    costly = [
        (i, rule) for i, (rule, flag) in enumerate(zip(rules, is_cheap, strict=True)) if not flag
    ]
    recipes = [_column_recipe(rule, index, gen, sets, asserted, lines) for index, rule in costly]
    source = "\n".join(lines) + "\n"
    code = compile(source, "<amlyze_contracts rules>", "exec")
    exec(code, gen.ns)  # our own generated source, from validated rule data
    resolved = [
        _column_rule(recipe, index, gen.ns)
        for (index, _), recipe in zip(costly, recipes, strict=False)
    ]
    format_columns = [
        column_rules.FormatColumn(name, ALL_CHECKS[asserted[name]], CHECKS[asserted[name]])
        for name in deferred_formats
    ]
    return ObjectChecker(
        tuple(rules),
        functools.partial(
            column_rules.check_columns,
            loop=gen.ns["check_loop"],
            attr_names=attrs,
            required=frozenset(required),
            formats=format_columns,
            rules=resolved,
        ),
        gen.ns["diagnose"],
        gen.ns["diagnose_many"],
        source,
    )


_CHEAP_OPS = {"present", "not-empty", "equals", "not-equals", "in", "not-in", "in-set", "type"}


def _is_cheap(cond: Condition, asserted: Mapping[str, str]) -> bool:
    return cond.op in _CHEAP_OPS or (cond.op == "check" and asserted.get(cond.field) == cond.arg)


def _object_function(
    name: str,
    rules: list[Rule],
    miss: str,
    gen: _Gen,
    sets: Mapping[str, Any],
    asserted: Mapping[str, str],
    attrs: Mapping[str, str] | None,
) -> list[str]:
    """Source of ``diagnose(dict) -> [broken rule indexes]`` (``attrs`` None) or of
    ``check_loop(structs) -> every rule kept`` (reads ``attrs``, stops at the first)."""
    names: list[str] = []
    for rule in rules:
        names.extend(f for f in rule.fields if f not in names)
    var = {member: f"v{i}" for i, member in enumerate(names)}
    if attrs is None:
        lines = [f"def {name}(it):", "    _g = it.get", "    out = []"]
        lines += [f"    {var[m]} = _g({m!r}, {miss})" for m in names]
        indent = "    "
    else:
        # Members the Struct lacks are missing from every item.
        lines = [f"def {name}(items):"]
        lines += [f"    {var[m]} = {miss}" for m in names if m not in attrs]
        lines.append("    for it in items:")
        lines += [f"        {var[m]} = it.{attrs[m]}" for m in names if m in attrs]
        indent = "        "
    for index, rule in enumerate(rules):
        broken = _broken_expr(rule, lambda c: _condition_expr(c, var, miss, gen, sets, asserted))
        lines.append(f"{indent}if {broken}:  # {rule.id}")
        lines.append(
            f"{indent}    {'out.append(' + str(index) + ')' if attrs is None else 'return False'}"
        )
    lines += ["    return out" if attrs is None else "    return True", ""]
    return lines


def _many_function(rules: list[Rule], gen: _Gen, sets: Mapping[str, Any]) -> list[str]:
    """Source of ``diagnose_many(cols) -> [(item, rule index)]`` over a batch's columns.

    One loop over the rows; a one-member test that costs a call per value (``check``,
    ``matches``) becomes a lookup in the set of that column's failing values, which
    the columns compute once (:meth:`item_columns.ItemColumns.failing`)."""
    names: list[str] = []
    for rule in rules:
        names.extend(f for f in rule.fields if f not in names)
    if not names:  # no rule reads a member (none at all, in practice)
        return ["def diagnose_many(cols):", "    return []", ""]
    var = {member: f"v{i}" for i, member in enumerate(names)}
    failing: dict[tuple[str, str, str], str] = {}
    header: list[str] = []

    def condition(cond: Condition) -> str:
        key = _failing_key(cond)
        if key is None:
            return _condition_expr(cond, var, "_MISSING", gen, sets, {})
        if key not in failing:
            failing[key] = name = f"_f{len(failing)}"
            if cond.op == "check":
                one, column = gen.const(CHECKS[cond.arg]), gen.const(ALL_CHECKS.get(cond.arg))
                which = gen.const(FAILING.get(cond.arg))
            else:
                one, column, which = gen.const(pattern_test(cond.arg)), "None", "None"
            header.append(f"    {name} = cols.failing({cond.field!r}, {one}, {column}, {which})")
        v = var[cond.field]
        return f"({v}.__class__ is str and {v} not in {failing[key]})"

    body = []
    for index, rule in enumerate(rules):
        body.append(f"        if {_broken_expr(rule, condition)}:  # {rule.id}")
        body.append(f"            append((i, {index}))")
    columns = ", ".join(f"cols[{m!r}]" for m in names)
    row = ", ".join(var.values())
    loop = f"    for i, ({row},) in enumerate(zip({columns})):"
    return [
        "def diagnose_many(cols):",
        *_ordered_failing_sets(rules, failing, header),
        "    out = []",
        "    append = out.append",
        loop,
        *body,
        "    return out",
        "",
    ]


def _failing_key(cond: Condition) -> tuple[str, str, str] | None:
    """The failing-value set a condition becomes in ``diagnose_many`` (None: it stays
    an expression)."""
    return (cond.op, cond.field, str(cond.arg)) if cond.op in ("check", "matches") else None


def _ordered_failing_sets(
    rules: list[Rule], failing: Mapping[tuple[str, str, str], str], header: list[str]
) -> list[str]:
    """The header's failing-set lines, those a rule needs only when its ``require``
    may fail computed last and only then.

    Such a set belongs to a ``when`` of rules whose every ``require`` is a set lookup
    on the same member (``iban-checksum``: when the value looks like an IBAN, it must
    pass the checksum). Where that member is a string and the ``require`` sets are
    empty, the rule holds whatever ``when`` says; where it is not a string, ``when``
    is false anyway. So the set is only computed when one of those sets is not empty.
    """

    in_require = {k for rule in rules for c in rule.require if (k := _failing_key(c)) is not None}
    users: dict[tuple[str, str, str], list[Rule]] = {}
    for rule in rules:
        for cond in rule.when:
            if (k := _failing_key(cond)) is not None and k not in in_require:
                users.setdefault(k, []).append(rule)
    lines = dict(zip(failing, header, strict=True))
    guarded: list[str] = []
    for k, found_in in users.items():
        required = [_failing_key(c) for rule in found_in for c in rule.require]
        if all(rule.require for rule in found_in) and all(
            r is not None and r[1] == k[1] for r in required
        ):
            guard = " or ".join(dict.fromkeys(failing[r] for r in required if r is not None))
            line = lines.pop(k)
            guarded.append(f"{line} if ({guard}) else _NOTHING")
    return [*lines.values(), *guarded]


def _broken_expr(rule: Rule, condition: Callable[[Condition], str]) -> str:
    """Source of "the rule is broken": every ``when`` holds and not every ``require``."""
    when = " and ".join(map(condition, rule.when)) or "True"
    if not rule.require:
        return when
    return f"({when}) and not ({' and '.join(map(condition, rule.require))})"


def _unset() -> Any:
    return msgspec.UNSET


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
    classifier_rule = ruleset.functional("classifier")
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
