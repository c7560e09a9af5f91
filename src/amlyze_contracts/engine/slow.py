"""Slow path: every violation of a body the fast path refused, with positions.

The body is read with diagnostics (:mod:`engine.jsoninput`: encoding, syntax with
line and column, duplicate keys, depth), the operation and the item/batch shape
decided when the caller left them open (:mod:`engine.shapes`), then diagnosed:

* a batch's items column by column (:mod:`engine.slow_columns` for the schema, the
  generated ``diagnose_rules`` for the rules), their positions found member by
  member in the text;
* everything else by jsonschema-rs (:class:`engine.schema.SlowValidator`) and the
  generated ``diagnose`` per object; the batch rules over the item list.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import repeat
from operator import add, is_
from typing import Any

import msgspec

from .. import rule_functions
from ..catalogue import Rule, RuleSet
from ..domain import escape_token
from ..specs import SCHEMA_NAME, Spec, operation
from ..violations import InputError, Report, Violation
from .codegen import MISSING, ObjectChecker
from .compiler import Body, CompiledOperation, Snapshot, Target, compiled_for
from .fast import UNKNOWN, VALID, fast_check
from .jsoninput import FlatBatchText, line_cols, locate, read_input
from .schema import SchemaError
from .shapes import detect_operation
from .slow_columns import ItemColumns, render_each, schema_findings


def _batch_items(comp: CompiledOperation, value: Any, as_item: bool) -> list[dict[str, Any]] | None:
    """The items of a batch body that the column diagnosis can take, or None."""
    if as_item or not isinstance(value, dict) or comp.flat_items is None:
        return None
    items = value.get(comp.item_key or "")
    if items.__class__ is not list or not items:
        return None
    return items if set(map(type, items)) == {dict} else None


def diagnose(
    comp: CompiledOperation,
    value: Any,
    as_item: bool,
    text: str | None = None,
    schema_proven: bool = False,
) -> list[Violation]:
    """Every violation in a parsed body; ``text`` (the body's text) lets batch items'
    violations carry their line and column at once. ``schema_proven``: the fast path
    proved the body keeps the schema (:data:`engine.fast.SCHEMA`), only rules are left."""
    target = comp.item if as_item else comp.body
    assert target is not None
    items = _batch_items(comp, value, as_item)
    out: list[Violation] = []
    if items is None:
        if not schema_proven:
            out += _schema_violations(comp, target, target.slow.iter_errors(value))
        objects = _walk_objects(value, target.schema, "")
    else:
        if not schema_proven:
            out += _schema_violations(comp, target, comp.root_only.iter_errors(value))
        out += _batch_item_violations(comp, target, value, items, text, schema_proven)
        # The body's other objects (the items are done).
        objects = _walk_objects({**value, comp.item_key: []}, target.schema, "")
    for pointer, obj, obj_schema in objects:
        out += _rule_violations(comp, target, pointer, obj, obj_schema)
    if (
        not as_item
        and comp.item_key
        and isinstance(value, dict)
        and isinstance(value.get(comp.item_key), list)
    ):
        for rule, batch in comp.batch_rules:
            for finding in batch.diagnose(value[comp.item_key], comp.item_key):
                out.append(
                    Violation(
                        rule.id,
                        rule.severity,
                        finding.pointer,
                        rule.render(**finding.values),
                        rule.code,
                    )
                )
    # A specific rule about a member (e.g. balanceAt renamed) beats "unknown member".
    if not any(v.rule == "common.unknown-field" for v in out):
        return out
    specific = {v.pointer for v in out if v.rule != "common.unknown-field"}
    return [v for v in out if v.rule != "common.unknown-field" or v.pointer not in specific]


def _batch_item_violations(
    comp: CompiledOperation,
    target: Target,
    value: dict[str, Any],
    items: list[dict[str, Any]],
    text: str | None,
    schema_proven: bool = False,
) -> list[Violation]:
    """Schema errors (unless ``schema_proven``) and rules of every item of a batch,
    column by column; with the text, their positions too (found member by member,
    not pointer by pointer)."""
    flat, item_schema = comp.flat_items, comp.item_schema
    assert flat is not None and item_schema is not None
    ruleset = comp.ruleset
    schema_name = item_schema.get(SCHEMA_NAME)
    cols = ItemColumns(items, flat.required)
    cols.prefetch(flat.properties)
    found: dict[str, list[_ItemFinding]] = {}  # by member
    severities: dict[str, str] = {}
    codes: dict[str, str | None] = {}
    for index, rule_id, member, message in () if schema_proven else schema_findings(cols, flat):
        severity = severities.get(rule_id)
        if severity is None:
            severity = severities[rule_id] = ruleset.severity(rule_id)
        if severity == "off":
            continue
        if member not in codes:
            codes[member] = ruleset.field_code(schema_name, member)
        found.setdefault(member, []).append((index, rule_id, severity, message, codes[member]))
    checker = target.checkers.get(id(item_schema))
    if checker is not None:
        for member, findings in _rule_findings(checker, cols).items():
            found.setdefault(member, []).extend(findings)
    out = _located(comp, found, value, text, cols)
    if comp.unknown_rule is not None and flat.additional:
        prefix = f"/{escape_token(comp.item_key or '')}/"
        for i in cols.outside(flat.known):
            out += _unknown_violations(comp, f"{prefix}{i}", items[i], item_schema)
    return out


def _located(
    comp: CompiledOperation,
    found: dict[str, list[_ItemFinding]],
    value: dict[str, Any],
    text: str | None,
    cols: ItemColumns,
) -> list[Violation]:
    """Violations of batch items' findings, with line and column when the text
    is a flat batch (otherwise positioned() finds them by pointer)."""
    prefix = f"/{escape_token(comp.item_key or '')}/"
    where = FlatBatchText.of(text, value) if text is not None else None
    one_line = where is not None and "\n" not in where.text
    out: list[Violation] = []
    for member, findings in found.items():
        # Columns of the findings, and the violations built by C loops (map), not by
        # a Python statement per finding: a broken batch has one or more per item.
        indexes, rule_ids, severities, messages, codes = zip(*findings, strict=True)
        pointers = map(f"{prefix}{{}}/{escape_token(member)}".format, indexes)
        if where is None:
            out += map(Violation, rule_ids, severities, pointers, messages, codes)
            continue
        # A missing member (a rule's "bic is required") is pointed at its item at once.
        missing = map(is_, map(cols[member].__getitem__, indexes), repeat(MISSING))
        offsets = where.members(indexes, escape_token(member), missing)
        lines: Iterable[int]
        columns: Iterable[int]
        if one_line:  # compact JSON: the column is the offset, without a lookup
            lines, columns = repeat(1), map(add, offsets, repeat(1))
        else:
            found_at = line_cols(where.text, offsets)
            lines, columns = zip(*map(found_at.__getitem__, offsets), strict=True)
        out += map(Violation, rule_ids, severities, pointers, messages, codes, lines, columns)
    return out


def _schema_violations(
    comp: CompiledOperation, target: Target, errors: Iterable[SchemaError]
) -> list[Violation]:
    ruleset = comp.ruleset
    out: list[Violation] = []
    for error in errors:
        severity = ruleset.severity(error.rule)
        if severity == "off":
            continue
        parent_schema = target.schema_of(error.parent_pointer)
        code = ruleset.field_code(
            parent_schema.get(SCHEMA_NAME) if parent_schema else None, error.member or ""
        )
        out.append(Violation(error.rule, severity, error.pointer, error.message, code))
    return out


def _rule_violations(
    comp: CompiledOperation,
    target: Target,
    pointer: str,
    obj: dict[str, Any],
    obj_schema: Mapping[str, Any],
) -> list[Violation]:
    out: list[Violation] = []
    checker = target.checkers.get(id(obj_schema))
    if checker is not None:
        for index in checker.diagnose(obj):
            out.append(_rule_violation(checker.rules[index], pointer, obj))
    if comp.unknown_rule is not None and obj_schema.get("additionalProperties") is not False:
        out += _unknown_violations(comp, pointer, obj, obj_schema)
    return out


def _unknown_violations(
    comp: CompiledOperation, pointer: str, obj: dict[str, Any], obj_schema: Mapping[str, Any]
) -> list[Violation]:
    rule = comp.unknown_rule
    assert rule is not None and rule.function is not None
    unknown = rule_functions.OBJECT_RULES[rule.function]
    name = obj_schema.get(SCHEMA_NAME, "the schema")
    return [
        Violation(
            rule.id,
            rule.severity,
            finding.pointer,
            rule.render(**finding.values, schema=name),
            rule.code,
        )
        for finding in unknown(obj, obj_schema["properties"], pointer)
    ]


# One finding about one member of a batch item: (item, rule id, severity, message, code).
_ItemFinding = tuple[int, str, str, str, str | None]


def _rule_findings(checker: ObjectChecker, cols: ItemColumns) -> dict[str, list[_ItemFinding]]:
    """The declarative rules' findings over a batch's columns, by member: rule by
    rule, each rule's findings built in C loops (an item breaking two rules is
    two findings, not twice the Python work)."""
    found: dict[str, list[_ItemFinding]] = {}
    for rule, hits in zip(checker.rules, checker.diagnose_rules(cols), strict=True):
        if not hits:
            continue
        member = rule.target_field or ""
        # The same rule and value read the same (a missing bic, a status): rendered once.
        render = functools.partial(_render_at, rule.render, member)
        messages = render_each(render, list(map(cols[member].__getitem__, hits)))
        found.setdefault(member, []).extend(
            zip(hits, repeat(rule.id), repeat(rule.severity), messages, repeat(rule.code))
        )
    return found


def _render_at(render: Callable[..., str], member: str, value: Any) -> str:
    # A missing member reads as null in a message, as dict.get gives it.
    return render(field=member, value=None if value is MISSING else value)


def _rule_violation(rule: Rule, pointer: str, obj: Mapping[str, Any]) -> Violation:
    target = rule.target_field or ""
    value = obj.get(target)
    message = rule.render(field=target, value=value)
    return Violation(
        rule.id, rule.severity, f"{pointer}/{escape_token(target)}", message, rule.code
    )


def _walk_objects(
    value: Any, schema: Mapping[str, Any], pointer: str
) -> Iterator[tuple[str, dict[str, Any], Mapping[str, Any]]]:
    """(pointer, object, schema) for every JSON object that has an object schema."""
    stack = [(value, schema, pointer)]
    while stack:
        node, node_schema, here = stack.pop()
        if isinstance(node, dict) and isinstance(node_schema.get("properties"), Mapping):
            yield here, node, node_schema
            # Only members whose schema describes objects or arrays can lead further
            # (a batch item's dozen strings are not looked at one by one).
            for name, sub in _nested_properties(node_schema):
                child = node.get(name)
                if isinstance(child, (dict, list)):
                    stack.append((child, sub, f"{here}/{escape_token(name)}"))
        elif isinstance(node, list) and isinstance(node_schema.get("items"), Mapping):
            items_schema = node_schema["items"]
            stack.extend(
                (child, items_schema, f"{here}/{i}")
                for i, child in reversed(list(enumerate(node)))
                if child.__class__ is dict or child.__class__ is list
            )


_NESTED: dict[int, tuple[Mapping[str, Any], list[tuple[str, Mapping[str, Any]]]]] = {}


def _nested_properties(schema: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    cached = _NESTED.get(id(schema))
    if cached is None or cached[0] is not schema:  # the schema is kept: ids stay valid
        nested = [
            (name, sub)
            for name, sub in schema["properties"].items()
            if isinstance(sub, Mapping)
            and (
                isinstance(sub.get("properties"), Mapping) or isinstance(sub.get("items"), Mapping)
            )
        ]
        cached = _NESTED[id(schema)] = (schema, nested)
    return cached[1]


# ------------------------------------------------------------------ one request body


class RequestCall(msgspec.Struct, frozen=True):
    """One ``validate_request`` call's settings, as its slow path needs them."""

    operation_id: str | None
    item: bool | None  # None: decided from the body's shape
    ruleset: RuleSet
    snapshot: Snapshot
    spec: Spec | None
    positions: bool
    # What the fast path proved of this body, by target (as an item or not), where
    # it has been asked already (engine.fast: UNKNOWN or SCHEMA).
    tried: Mapping[bool, int] = msgspec.field(default_factory=dict)
    # A revision's documents, for detecting the operation (each names its own spec).
    specs: tuple[Spec, ...] | None = None

    def detection_specs(self) -> list[Spec] | None:
        if self.specs:
            return list(self.specs)
        return [self.spec] if self.spec else None

    def compiled(self, operation_id: str) -> CompiledOperation:
        spec = operation(operation_id, list(self.specs)).spec if self.specs else self.spec
        return compiled_for(operation_id, self.ruleset, self.snapshot, spec)


def diagnose_request(body: Body, call: RequestCall) -> Report:
    """validate_request's slow path, for a body the fast path refused (or never saw)."""
    ruleset, operation_id, item = call.ruleset, call.operation_id, call.item
    text: str | None = None
    report = Report(operation_id, [], "request")
    if isinstance(body, (bytes, str)):
        parsed = read_input(body)
        report.extend(with_severity(parsed.violations, ruleset))
        if not parsed.ok:
            return report.sorted()
        value, text = parsed.value, parsed.text
    else:
        value = body
        report.extend(with_severity(_non_finite_numbers(value), ruleset))
        if not report.valid:
            return report

    if operation_id is None:
        detected = detect_operation(value, call.detection_specs())
        if detected is None or detected[1] == "response":
            report.extend(with_severity([_operation_unknown(text is not None)], ruleset))
            return report
        operation_id = detected[0]
        item = item if item is not None else detected[1] == "item"
        report.operation_id = operation_id
    comp = call.compiled(operation_id)
    if item is None:
        item = (
            bool(comp.item_key)
            and isinstance(value, dict)
            and comp.item_key not in value
            and detect_operation(value, [comp.op.spec]) == (operation_id, "item")
        )
    report.kind = "item" if item else "request"
    if item and comp.item is None:
        raise InputError(f"{operation_id} has no batch items to validate one of")
    # Offer the parsed value to the fast path only for a target it has not seen yet.
    proven = call.tried.get(bool(item))
    if proven is None:
        proven = fast_check(comp, None, as_item=bool(item), parsed=value)
        if proven == VALID and not report.violations:
            return report
    where = text if call.positions else None
    found = diagnose(comp, value, bool(item), where, schema_proven=proven != UNKNOWN)
    report.extend(found)
    return positioned(report, where, value)


def _operation_unknown(with_position: bool) -> Violation:
    return Violation(
        "input.operation-unknown",
        "error",
        "",
        "the body matches no bundled request shape; name the operation (--operation) or check the top-level member",
        None,
        1 if with_position else None,
        1 if with_position else None,
    )


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while one body is diagnosed.

    A broken 10,000-item batch allocates some 100,000 small objects (parsed items,
    columns, violations) that all live until the report is returned, so collections
    during the diagnosis free nothing yet cost 10% of it (each one walks the parsed
    body). The same device as Mercurial's ``util.nogc``; it is re-enabled only by
    the caller that found it enabled, so nested or concurrent calls cannot leave it off.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def json_like(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, dict, list))


def _non_finite_numbers(value: Any) -> list[Violation]:
    found: list[Violation] = []
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, pointer = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            found.append(
                Violation("input.non-finite", "error", pointer, f"{node} is not a JSON number")
            )
        elif isinstance(node, dict):
            stack.extend((v, f"{pointer}/{escape_token(k)}") for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{pointer}/{i}") for i, v in enumerate(node))
        elif not json_like(node) and not isinstance(node, (dict, list)):
            raise InputError(f"{pointer or 'body'}: {type(node).__name__} is not a JSON value")
    return found


def with_severity(violations: Iterable[Violation], ruleset: RuleSet) -> list[Violation]:
    """The input reader's violations with the rule set's severities (off: dropped)."""
    out = []
    for v in violations:
        severity = ruleset.severity(v.rule) if v.rule in ruleset.by_id else v.severity
        if severity == "off":
            continue
        out.append(
            v
            if severity == v.severity
            else Violation(v.rule, severity, v.pointer, v.message, v.code, v.line, v.column)
        )
    return out


def positioned(report: Report, text: str | None, value: Any) -> Report:
    """The report sorted, its violations with line and column where ``text`` is known."""
    if text is None or not report.violations:
        return report.sorted()
    wanted = [v.pointer for v in report.violations if v.line is None]
    positions = locate(text, wanted, value) if wanted else {}
    report.violations = [
        v
        if v.line is not None or v.pointer not in positions
        else v.with_position(*positions[v.pointer])
        for v in report.violations
    ]
    return report.sorted()
