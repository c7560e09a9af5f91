"""validate_request / validate_response: the library's front door.

Every request is first offered to the fast path (msgspec decode into generated
Structs + the compiled rule checker); it can only say "no violation at all". Any
doubt sends the body to the slow path, which parses with positions, runs
jsonschema-rs and the rules' diagnose functions, and attaches line/column. So a
valid body never pays for diagnostics.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec

from . import classifiers as classifier_snapshots
from . import rule_functions
from .item_columns import (
    FlatItemSchema,
    ItemColumns,
    flat_item_schema,
    per_value,
    schema_findings,
)
from .jsoninput import FlatBatchText, line_cols, locate, may_have_duplicates, read_input
from .report import InputError, Report, Violation, escape_token
from .rules import (
    ObjectChecker,
    Rule,
    RuleSet,
    compile_checker,
    load_rules,
    rules_for_schema,
    sets_with_classifiers,
)
from .schema_check import (
    FAST_FORMATS,
    FastType,
    SchemaError,
    SlowValidator,
    fast_type,
    schema_at_pointer,
)
from .specs import SCHEMA_NAME, Operation, Spec, operation, operation_ids

Body = Any  # bytes | str | parsed JSON
Classifiers = Mapping[str, Iterable[str]] | str | Path | None

_NO_VALUE: Any = object()
_DECODE_ERRORS = (
    msgspec.ValidationError,
    msgspec.DecodeError,
    RecursionError,
    TypeError,
    ValueError,
)


# ------------------------------------------------------------------ compiled form


def _object_schemas(schema: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every object schema with properties reachable through properties/items."""
    stack = [schema]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen or not isinstance(node, Mapping):
            continue
        seen.add(id(node))
        if isinstance(node.get("properties"), Mapping):
            yield node
            stack.extend(v for v in node["properties"].values() if isinstance(v, Mapping))
        if isinstance(node.get("items"), Mapping):
            stack.append(node["items"])


def _dynamic_enums(schema: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, sub in (schema.get("properties") or {}).items():
        dyn = sub.get("x-dynamic-enum") if isinstance(sub, Mapping) else None
        if isinstance(dyn, Mapping) and isinstance(dyn.get("path"), str):
            found[name] = dyn["path"].rstrip("/").rsplit("/", 1)[-1]
    return found


class _Target(msgspec.Struct, dict=True):
    """One schema a body can be validated against (the batch body, or one item)."""

    schema: Mapping[str, Any]
    fast: FastType | None
    checkers: dict[int, ObjectChecker]  # id(object schema) -> compiled rules

    shapes: dict[str, Mapping[str, Any] | None] = msgspec.field(default_factory=dict)

    def schema_of(self, pointer: str) -> Mapping[str, Any] | None:
        """The schema of the value at ``pointer``; items of one array share one lookup."""
        shape = _ITEM_INDEX.sub("/0", pointer)
        if shape not in self.shapes:
            self.shapes[shape] = schema_at_pointer(self.schema, shape)
        return self.shapes[shape]

    @functools.cached_property
    def slow(self) -> SlowValidator:
        # Built (and jsonschema-rs imported) only when a body needs diagnostics.
        return SlowValidator(self.schema)


class CompiledOperation:
    """An operation's schemas and rules, compiled once per (rules, classifiers)."""

    def __init__(
        self, op: Operation, ruleset: RuleSet, snapshot: Mapping[str, frozenset[str]]
    ) -> None:
        self.op = op
        self.ruleset = ruleset
        self.snapshot = snapshot
        self.sets = sets_with_classifiers(ruleset, snapshot)
        batch = op.batch_item
        self.item_key = batch[0] if batch else None
        self.item_schema: Mapping[str, Any] | None = batch[1] if batch else None
        schema = op.request_schema
        self.body = self._target(schema) if schema else None
        fn = ruleset.functional
        self.batch_rules = [
            (rule, rule_functions.BATCH_RULES[rule.function])
            for name in rule_functions.BATCH_RULES
            if (rule := fn(name)) is not None and rule.function is not None
        ]
        self.unknown_rule = fn("unknown_field")

    @functools.cached_property
    def item(self) -> _Target | None:
        """The single-item target, built only when one item is validated on its own."""
        return self._target(self.item_schema) if self.item_schema is not None else None

    def _target(self, schema: Mapping[str, Any]) -> _Target:
        # Formats of the objects the fast path checks column-wise (the body and its
        # items) are left out of the decoder; see fast_type.
        checked = {id(schema)} | ({id(self.item_schema)} if self.item_schema else set())
        fast = fast_type(schema, defer_formats_in=checked)
        checkers: dict[int, ObjectChecker] = {}
        struct_of = fast.struct_by_schema if fast else {}
        for obj_schema in _object_schemas(schema):
            rules = rules_for_schema(
                self.ruleset,
                obj_schema.get(SCHEMA_NAME),
                obj_schema["properties"],
                _dynamic_enums(obj_schema),
                self.snapshot,
            )
            struct = struct_of.get(id(obj_schema))
            deferred = fast.deferred.get(struct, {}) if fast and struct else {}
            if not rules and not deferred:
                continue
            attrs = fast.attrs_for(struct) if fast and struct else None
            formats = {
                name: sub["format"]
                for name, sub in obj_schema["properties"].items()
                if isinstance(sub, Mapping)
                and sub.get("type") == "string"
                and sub.get("format") in FAST_FORMATS
            }
            checkers[id(obj_schema)] = compile_checker(
                rules, self.sets, attrs, formats, deferred.keys(), obj_schema.get("required", ())
            )
        return _Target(schema, fast, checkers)

    # -------------------------------------------------------------- fast path

    def fast_valid(self, body: Body, as_item: bool, parsed: Any = _NO_VALUE) -> bool:
        target = self.item if as_item else self.body
        if target is None or target.fast is None:
            return False
        fast = target.fast
        try:
            if parsed is not _NO_VALUE:
                obj = msgspec.convert(parsed, fast.type)
            elif isinstance(body, (bytes, str)):
                obj = fast.decoder.decode(body)
                if may_have_duplicates(body, msgspec.json.encode(obj)):
                    return False
            else:
                obj = msgspec.convert(body, fast.type)
        except _DECODE_ERRORS:
            return False
        # Rules: items (or the single item) and the body object; nested objects with
        # rules of their own are not walked here, so such specs always take the slow path.
        root_checker = target.checkers.get(id(target.schema))
        if root_checker is not None and not root_checker.check_many((obj,)):
            return False
        if as_item or self.item_schema is None or self.item_key is None:
            return len(target.checkers) <= 1
        items = getattr(obj, fast.attrs_for(type(obj))[self.item_key])
        # The body's checkers cover the items too (the item schema is inside the body's).
        item_checker = target.checkers.get(id(self.item_schema))
        if len(target.checkers) > (root_checker is not None) + (item_checker is not None):
            return False
        if item_checker is not None and not item_checker.check_many(items):
            return False
        if self.batch_rules:
            attrs = fast.attrs_for(type(items[0])) if items else {}

            def getter(name: str) -> Callable[[Any], Any]:
                attr = attrs.get(name)
                return operator.attrgetter(attr) if attr else (lambda _item: msgspec.UNSET)

            for _rule, batch in self.batch_rules:
                if batch.fast_ok is None or not batch.fast_ok(items, getter):
                    return False
        return True

    # -------------------------------------------------------------- slow path

    @functools.cached_property
    def flat_items(self) -> FlatItemSchema | None:
        """The batch items' schema in column form, when the items are flat objects."""
        item_schema = self.item_schema
        if item_schema is None or self.body is None or self.item_key is None:
            return None
        batch = (self.body.schema.get("properties") or {}).get(self.item_key)
        if not isinstance(batch, Mapping) or id(batch.get("items")) != id(item_schema):
            return None
        return flat_item_schema(item_schema)

    @functools.cached_property
    def root_only(self) -> SlowValidator:
        """jsonschema-rs for the body with the batch items left out (any item is
        allowed): the items are diagnosed column by column (item_columns)."""
        assert self.body is not None and self.item_key is not None
        schema = dict(self.body.schema)
        properties = dict(schema["properties"])
        properties[self.item_key] = {**properties[self.item_key], "items": {}}
        schema["properties"] = properties
        return SlowValidator(schema)

    def _batch_items(self, value: Any, as_item: bool) -> list[dict[str, Any]] | None:
        """The items of a batch body that the column diagnosis can take, or None."""
        if as_item or not isinstance(value, dict) or self.flat_items is None:
            return None
        items = value.get(self.item_key or "")
        if items.__class__ is not list or not items:
            return None
        return items if set(map(type, items)) == {dict} else None

    def diagnose(self, value: Any, as_item: bool, text: str | None = None) -> list[Violation]:
        """Every violation in a parsed body; ``text`` (the body's text) lets batch items'
        violations carry their line and column at once."""
        target = self.item if as_item else self.body
        assert target is not None
        items = self._batch_items(value, as_item)
        out: list[Violation] = []
        if items is None:
            out += self._schema_violations(target, target.slow.iter_errors(value))
            objects = _walk_objects(value, target.schema, "")
        else:
            out += self._schema_violations(target, self.root_only.iter_errors(value))
            out += self._batch_item_violations(target, value, items, text)
            # The body's other objects (the items are done).
            objects = _walk_objects({**value, self.item_key: []}, target.schema, "")
        for pointer, obj, obj_schema in objects:
            out += self._rule_violations(target, pointer, obj, obj_schema)
        if (
            not as_item
            and self.item_key
            and isinstance(value, dict)
            and isinstance(value.get(self.item_key), list)
        ):
            for rule, batch in self.batch_rules:
                for finding in batch.diagnose(value[self.item_key], self.item_key):
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
        self, target: _Target, value: dict[str, Any], items: list[dict[str, Any]], text: str | None
    ) -> list[Violation]:
        """Schema errors and rules of every item of a batch, column by column; with the
        text, their positions too (found member by member, not pointer by pointer)."""
        flat, item_schema = self.flat_items, self.item_schema
        assert flat is not None and item_schema is not None
        ruleset = self.ruleset
        schema_name = item_schema.get(SCHEMA_NAME)
        cols = ItemColumns(items, flat.required)
        found: dict[str, list[_ItemFinding]] = {}  # by member
        severities: dict[str, str] = {}
        codes: dict[str, str | None] = {}
        for index, rule_id, member, message in schema_findings(cols, flat):
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
        out = self._located(found, value, text)
        if self.unknown_rule is not None and flat.additional:
            prefix = f"/{escape_token(self.item_key or '')}/"
            for i in _indexes_not(map(flat.known.issuperset, items)):
                out += self._unknown_violations(f"{prefix}{i}", items[i], item_schema)
        return out

    def _located(
        self, found: dict[str, list[_ItemFinding]], value: dict[str, Any], text: str | None
    ) -> list[Violation]:
        """Violations of batch items' findings, with line and column when the text
        is a flat batch (otherwise _positioned finds them by pointer)."""
        prefix = f"/{escape_token(self.item_key or '')}/"
        where = FlatBatchText.of(text, value) if text is not None else None
        one_line = where is not None and "\n" not in where.text
        out: list[Violation] = []
        append = out.append
        for member, findings in found.items():
            token = escape_token(member)
            if where is None:
                for index, rule_id, severity, message, code in findings:
                    pointer = f"{prefix}{index}/{token}"
                    append(Violation(rule_id, severity, pointer, message, code))
                continue
            offsets = where.members([f[0] for f in findings], token)
            # Compact JSON is one line: the column is the offset, without a lookup.
            lines = None if one_line else line_cols(where.text, offsets)
            for (index, rule_id, severity, message, code), offset in zip(
                findings, offsets, strict=True
            ):
                pointer = f"{prefix}{index}/{token}"
                line, column = (1, offset + 1) if lines is None else lines[offset]
                append(Violation(rule_id, severity, pointer, message, code, line, column))
        return out

    def _schema_violations(self, target: _Target, errors: Iterable[SchemaError]) -> list[Violation]:
        ruleset = self.ruleset
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
        self, target: _Target, pointer: str, obj: dict[str, Any], obj_schema: Mapping[str, Any]
    ) -> list[Violation]:
        out: list[Violation] = []
        checker = target.checkers.get(id(obj_schema))
        if checker is not None:
            for index in checker.diagnose(obj):
                out.append(_rule_violation(checker.rules[index], pointer, obj))
        if self.unknown_rule is not None and obj_schema.get("additionalProperties") is not False:
            out += self._unknown_violations(pointer, obj, obj_schema)
        return out

    def _unknown_violations(
        self, pointer: str, obj: dict[str, Any], obj_schema: Mapping[str, Any]
    ) -> list[Violation]:
        rule = self.unknown_rule
        assert rule is not None
        name = obj_schema.get(SCHEMA_NAME, "the schema")
        return [
            Violation(
                rule.id,
                rule.severity,
                finding.pointer,
                rule.render(**finding.values, schema=name),
                rule.code,
            )
            for finding in rule_functions.unknown_members(obj, obj_schema["properties"], pointer)
        ]


# One finding about one member of a batch item: (item, rule id, severity, message, code).
_ItemFinding = tuple[int, str, str, str, str | None]


def _rule_findings(checker: ObjectChecker, cols: ItemColumns) -> dict[str, list[_ItemFinding]]:
    """The declarative rules' findings over a batch's columns, by member."""
    rules = checker.rules
    items = cols.objects
    # The same rule and value read the same (a missing bic, a status): rendered once.
    renderers: dict[int, Callable[[Any], str]] = {}
    found: dict[str, list[_ItemFinding]] = {}
    for index, number in checker.diagnose_many(cols):
        rule = rules[number]
        member = rule.target_field or ""
        render = renderers.get(number)
        if render is None:
            render = renderers[number] = per_value(
                functools.partial(_render_at, rule.render, member)
            )
        message = render(items[index].get(member))
        found.setdefault(member, []).append((index, rule.id, rule.severity, message, rule.code))
    return found


def _render_at(render: Callable[..., str], member: str, value: Any) -> str:
    return render(field=member, value=value)


def _indexes_not(flags: Iterable[bool]) -> list[int]:
    return [i for i, flag in enumerate(flags) if not flag]


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


_ITEM_INDEX = re.compile(r"/\d+(?=/|$)")


# ------------------------------------------------------------------ caches


def _freeze_snapshot(classifiers: Classifiers) -> tuple[tuple[str, frozenset[str]], ...]:
    if classifiers is None:
        return ()
    if isinstance(classifiers, (str, Path)):
        loaded = classifier_snapshots.load_file(classifiers)
    else:
        loaded = classifier_snapshots.normalize(classifiers)
    return tuple(sorted(loaded.items()))


@functools.lru_cache(maxsize=64)
def _compiled(
    op_key: tuple[str, str],
    ruleset: RuleSet,
    snapshot: tuple[tuple[str, frozenset[str]], ...],
    spec: Spec | None,
) -> CompiledOperation:
    op = operation(op_key[0], [spec] if spec else None)
    return CompiledOperation(op, ruleset, dict(snapshot))


def _ruleset(
    rules: Iterable[str | Path] | RuleSet | None, severities: Mapping[str, str] | None
) -> RuleSet:
    base = (
        rules
        if isinstance(rules, RuleSet)
        else load_rules(tuple(str(r) for r in rules) if rules else None)
    )
    return _with_severities(base, tuple(sorted((severities or {}).items())))


@functools.lru_cache(maxsize=64)
def _with_severities(base: RuleSet, severities: tuple[tuple[str, str], ...]) -> RuleSet:
    return base.with_severities(dict(severities))


def compiled(
    operation_id: str,
    *,
    rules: Iterable[str | Path] | RuleSet | None = None,
    severities: Mapping[str, str] | None = None,
    classifiers: Classifiers = None,
    spec: Spec | None = None,
) -> CompiledOperation:
    ruleset = _ruleset(rules, severities)
    return _compiled(
        (operation_id, spec.source if spec else ""), ruleset, _freeze_snapshot(classifiers), spec
    )


# ------------------------------------------------------------------ shape detection


class _Shape(msgspec.Struct, frozen=True):
    operation_id: str
    kind: str  # item | response
    properties: frozenset[str]
    required: frozenset[str]


@functools.lru_cache(maxsize=16)
def _shape_index(specs: tuple[Spec, ...] | None) -> tuple[dict[str, str], list[_Shape]]:
    """Batch member names -> operation, and the item/response shapes to score, once."""
    batch_keys: dict[str, str] = {}
    shapes: list[_Shape] = []
    for op_id in operation_ids(list(specs) if specs else None):
        op = operation(op_id, list(specs) if specs else None)
        batch = op.batch_item
        candidates: list[tuple[str, Mapping[str, Any] | None]] = []
        if batch:
            batch_keys.setdefault(batch[0], op_id)
            candidates.append(("item", batch[1]))
        if op.method == "GET":
            candidates.append(("response", op.response_schema(200)))
        for kind, schema in candidates:
            if schema and isinstance(schema.get("properties"), Mapping):
                props = frozenset(schema["properties"])
                shapes.append(_Shape(op_id, kind, props, frozenset(schema.get("required") or ())))
    return batch_keys, shapes


def detect_operation(value: Any, specs: list[Spec] | None = None) -> tuple[str, str] | None:
    """(operationId, kind) for a parsed body, kind being request | item | response."""
    if not isinstance(value, dict):
        return None
    batch_keys, shapes = _shape_index(tuple(specs) if specs else None)
    for key, op_id in batch_keys.items():
        if key in value:
            return op_id, "request"
    keys = set(value)
    best: tuple[float, str, str] | None = None
    for shape in shapes:
        overlap = len(keys & shape.properties) / max(len(keys), 1)
        needed = len(keys & shape.required) / len(shape.required) if shape.required else overlap
        score = min(overlap, needed)
        if score >= 0.6 and (best is None or score > best[0]):
            best = (score, shape.operation_id, shape.kind)
    return (best[1], best[2]) if best else None


# ------------------------------------------------------------------ public API


def validate_request(
    operation_id: str | None,
    body: Body,
    *,
    rules: Iterable[str | Path] | RuleSet | None = None,
    severities: Mapping[str, str] | None = None,
    classifiers: Classifiers = None,
    item: bool | None = None,
    spec: Spec | None = None,
    positions: bool = True,
) -> Report:
    """Validate a request body (bytes, str, or parsed JSON) for one operation.

    ``item=True`` validates one element of a batch against the item schema;
    ``None`` decides from the shape. ``operation_id=None`` detects the operation
    from the shape (``input.operation-unknown`` when nothing fits).
    ``rules`` adds rule files; ``severities`` maps rule ids to error|warning|off;
    ``classifiers`` maps classifier names to codes (or names a JSON snapshot file).
    ``positions=False`` skips line/column for callers that never show them (a server).
    """
    if not isinstance(body, (bytes, bytearray, memoryview)) and not _json_like(body):
        raise InputError(f"body must be bytes, str or parsed JSON, not {type(body).__name__}")
    if isinstance(body, (bytearray, memoryview)):
        body = bytes(body)
    ruleset = _ruleset(rules, severities)
    snapshot = _freeze_snapshot(classifiers)

    def compile_for(op_id: str) -> CompiledOperation:
        return _compiled((op_id, spec.source if spec else ""), ruleset, snapshot, spec)

    tried: bool | None = None  # the target (item or not) the fast path already refused
    comp = compile_for(operation_id) if operation_id is not None else None
    if comp is not None:
        tried = bool(item)
        if item is not True and comp.fast_valid(body, as_item=False):
            return Report(operation_id, [], "request")
        if item is True and comp.fast_valid(body, as_item=True):
            return Report(operation_id, [], "item")

    # Slow path: parse with diagnostics.
    with _collector_paused():
        return _diagnose_request(
            body, operation_id, comp, tried, item, ruleset, compile_for, spec, positions
        )


def _diagnose_request(
    body: Body,
    operation_id: str | None,
    comp: CompiledOperation | None,
    tried: bool | None,
    item: bool | None,
    ruleset: RuleSet,
    compile_for: Callable[[str], CompiledOperation],
    spec: Spec | None,
    positions: bool,
) -> Report:
    """validate_request's slow path, for a body the fast path refused (or never saw)."""
    text: str | None = None
    report = Report(operation_id, [], "request")
    if isinstance(body, (bytes, str)):
        parsed = read_input(body)
        report.extend(_with_severity(parsed.violations, ruleset))
        if not parsed.ok:
            return report.sorted()
        value, text = parsed.value, parsed.text
    else:
        value = body
        report.extend(_with_severity(_non_finite_numbers(value), ruleset))
        if not report.valid:
            return report

    if operation_id is None:
        detected = detect_operation(value, [spec] if spec else None)
        if detected is None or detected[1] == "response":
            report.extend(
                _with_severity(
                    [
                        Violation(
                            "input.operation-unknown",
                            "error",
                            "",
                            "the body matches no bundled request shape; name the operation (--operation) or check the top-level member",
                            None,
                            1 if text else None,
                            1 if text else None,
                        )
                    ],
                    ruleset,
                )
            )
            return report
        operation_id = detected[0]
        item = item if item is not None else detected[1] == "item"
        report.operation_id = operation_id
        comp = compile_for(operation_id)
    assert comp is not None
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
    # Offer the parsed value to the fast path only for a target it has not refused yet.
    if (
        tried != bool(item)
        and comp.fast_valid(None, as_item=bool(item), parsed=value)
        and not report.violations
    ):
        return report
    report.extend(comp.diagnose(value, as_item=bool(item), text=text if positions else None))
    return _positioned(report, text if positions else None, value)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
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


def _json_like(value: Any) -> bool:
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
        elif not _json_like(node) and not isinstance(node, (dict, list)):
            raise InputError(f"{pointer or 'body'}: {type(node).__name__} is not a JSON value")
    return found


def _with_severity(violations: Iterable[Violation], ruleset: RuleSet) -> list[Violation]:
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


def _positioned(report: Report, text: str | None, value: Any) -> Report:
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


def validate_response(
    operation_id: str,
    status: int,
    body: Body,
    *,
    headers: Mapping[str, str] | None = None,
    request: Any = None,
    rules: Iterable[str | Path] | RuleSet | None = None,
    severities: Mapping[str, str] | None = None,
    spec: Spec | None = None,
) -> Report:
    """Validate a response body for one operation and status.

    ``request``: for the AMLYZE batch operations the request body that was sent
    (bytes, str or parsed); for the BRM read, the request parameters
    ``{"id": ..., "@type": ..., "fields": ...}``. With it, the request/response
    rules of the contract run too.
    """
    ruleset = _ruleset(rules, severities)
    op = operation(operation_id, [spec] if spec else None)
    report = Report(operation_id, [], "response")
    text: str | None = None
    value: Any = body

    def emit(rule_id: str, pointer: str, severity: str | None = None, **values: Any) -> None:
        rule = ruleset.by_id.get(rule_id)
        if rule is None or rule.severity == "off":
            return
        report.violations.append(
            Violation(
                rule_id, (severity or rule.severity), pointer, rule.render(**values), rule.code
            )
        )

    empty = isinstance(body, (bytes, bytearray, memoryview, str)) and len(body) == 0
    has_body = body is not None and not empty
    if headers is not None and has_body:
        # Checked before parsing: a text/html error page is a content-type failure too.
        content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            emit("response.content-type", "", got=content_type or "(none)")
    documented = op.response(status)
    if documented is None:
        emit(
            "response.status-documented",
            "",
            status=status,
            operation=operation_id,
            documented=", ".join(op.statuses),
        )
    if isinstance(body, (bytes, bytearray, memoryview, str)):
        raw = bytes(body) if isinstance(body, (bytearray, memoryview)) else body
        if len(raw) == 0:
            value = None
        else:
            parsed = read_input(raw)
            report.extend(_with_severity(parsed.violations, ruleset))
            if not parsed.ok:
                return report.sorted()
            value, text = parsed.value, parsed.text

    schema = op.response_schema(status)
    if schema is not None and value is not None:
        for error in _response_validator(op.operation_id, str(status), op.spec.source).iter_errors(
            value
        ):
            severity = ruleset.severity(error.rule)
            if severity != "off":
                report.violations.append(
                    Violation(error.rule, severity, error.pointer, error.message)
                )
    if request is not None:
        exchange = _exchange(op, status, value, request)
        for rule in ruleset.rules:
            fn = rule_functions.EXCHANGE_RULES.get(rule.function or "")
            if fn is None or rule.severity == "off":
                continue
            for finding in fn(exchange):
                emit(rule.id, finding.pointer, finding.severity, **finding.values)
    return _positioned(report, text, value)


@functools.lru_cache(maxsize=64)
def _response_validator(operation_id: str, status: str, source: str) -> SlowValidator:
    from .specs import load

    spec = load(source)
    schema = spec.operations[operation_id].response_schema(status)
    assert schema is not None
    return SlowValidator(schema)


def _exchange(op: Operation, status: int, value: Any, request: Any) -> rule_functions.Exchange:
    batch = op.batch_item
    if batch:
        request_body = request
        if isinstance(request, (bytes, bytearray, str)):
            parsed = read_input(bytes(request) if isinstance(request, bytearray) else request)
            request_body = parsed.value if parsed.ok else None
        return rule_functions.Exchange(
            op.operation_id, status, value, request_body=request_body, item_key=batch[0]
        )
    params = dict(request) if isinstance(request, Mapping) else {}
    return rule_functions.Exchange(op.operation_id, status, value, request_params=params)
