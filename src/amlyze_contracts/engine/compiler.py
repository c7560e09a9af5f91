"""Compilation: an operation's schemas and rules, compiled once per (rules, classifiers).

:class:`CompiledOperation` holds what both paths need for one operation: the target
schemas (the batch body, and one item on its own), each with its msgspec decoder
(:mod:`engine.schema`) and its rules compiled per object schema
(:mod:`engine.codegen`); the slow path's forms (the items' column schema, a
jsonschema-rs validator) are built on first use. Compiled operations are cached
per operation, rule set and classifier snapshot (:func:`compiled`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec

from .. import classifiers as classifier_snapshots
from .. import rule_functions
from ..catalogue import RuleSet, load_rules, rules_for_schema, sets_with_classifiers
from ..specs import SCHEMA_NAME, Operation, Spec, operation
from ..violations import Violation
from .codegen import MISSING, ObjectChecker, compile_checker
from .schema import FAST_FORMATS, FastType, SlowValidator, fast_type, schema_at_pointer
from .slow_columns import FlatItemSchema, flat_item_schema

Body = Any  # bytes | str | parsed JSON
Classifiers = Mapping[str, Iterable[str]] | str | Path | None
Snapshot = tuple[tuple[str, frozenset[str]], ...]


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


class Target(msgspec.Struct, dict=True):
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
        self.unknown_rule = fn(rule_functions.UNKNOWN_FIELD)

    @functools.cached_property
    def item(self) -> Target | None:
        """The single-item target, built only when one item is validated on its own."""
        return self._target(self.item_schema) if self.item_schema is not None else None

    def _target(self, schema: Mapping[str, Any]) -> Target:
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
        return Target(schema, fast, checkers)

    # ---------------------------------------------------------- the two paths

    def fast_valid(self, body: Body, as_item: bool, parsed: Any = MISSING) -> bool:
        """True only when the body (or ``parsed``, its value) has no violation at all
        (:func:`engine.fast.fast_valid`)."""
        from .fast import fast_valid

        return fast_valid(self, body, as_item, parsed)

    def diagnose(self, value: Any, as_item: bool, text: str | None = None) -> list[Violation]:
        """Every violation in a parsed body (:func:`engine.slow.diagnose`)."""
        from .slow import diagnose

        return diagnose(self, value, as_item, text)

    # ---------------------------------------------------------- the slow path's forms

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
        allowed): the items are diagnosed column by column (slow_columns)."""
        assert self.body is not None and self.item_key is not None
        schema = dict(self.body.schema)
        properties = dict(schema["properties"])
        properties[self.item_key] = {**properties[self.item_key], "items": {}}
        schema["properties"] = properties
        return SlowValidator(schema)


_ITEM_INDEX = re.compile(r"/\d+(?=/|$)")


# ------------------------------------------------------------------ caches


def freeze_snapshot(classifiers: Classifiers) -> Snapshot:
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
    snapshot: Snapshot,
    spec: Spec | None,
) -> CompiledOperation:
    op = operation(op_key[0], [spec] if spec else None)
    return CompiledOperation(op, ruleset, dict(snapshot))


def ruleset_of(
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
    ruleset = ruleset_of(rules, severities)
    return compiled_for(operation_id, ruleset, freeze_snapshot(classifiers), spec)


def compiled_for(
    operation_id: str, ruleset: RuleSet, snapshot: Snapshot, spec: Spec | None
) -> CompiledOperation:
    """:func:`compiled` for a rule set and snapshot already prepared (cached)."""
    return _compiled((operation_id, spec.source if spec else ""), ruleset, snapshot, spec)
