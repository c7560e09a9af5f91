"""The schema diagnosis of a batch's items, column by column.

jsonschema-rs reports each error as a Python exception object built in Rust, about
5 us apiece: a 10,000-item batch with an error in every item spent four times the
JSON parse on that alone. Batch items are flat objects of scalars (the same subset
of JSON Schema the fast path supports), so here each member becomes one column and
each keyword is tested once per column in C (``set(map(type, column))``, a set
difference for an enum, ``max(map(len, ...))``, one regex run for a date-time
column). Only a column that fails is searched for the items that break it.

The messages come from :mod:`amlyze_contracts.schema_check`'s message functions, so
an error reads the same whichever engine found it; a property test holds this
engine equal to jsonschema-rs (``tests/validator/test_item_columns.py``). A schema
outside the subset gets ``None`` from :func:`flat_item_schema` and the caller uses
jsonschema-rs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import compress
from operator import itemgetter
from typing import Any

import msgspec

from .formats import all_date_times, is_date_time
from .schema_check import (
    additional_message,
    enum_message,
    format_message,
    max_length_message,
    min_length_message,
    required_message,
    type_message,
)

_MISSING: Any = msgspec.UNSET  # a member absent from an item (None is JSON null)
_PYTHON_TYPES: dict[str, frozenset[type]] = {
    "string": frozenset({str}),
    "integer": frozenset({int}),
    "number": frozenset({int, float}),
    "boolean": frozenset({bool}),
    "null": frozenset({type(None)}),
}
_ANNOTATIONS = {
    "description", "title", "example", "examples", "default", "readOnly", "writeOnly",
    "deprecated",
}  # fmt: skip
_NUMBER_FORMATS = {"int32", "int64", "float", "double"}  # no assertion (as in schema_check)
# What one item's finding is: (item index, rule id, member, message).
Finding = tuple[int, str, str, str]


class MemberColumn(msgspec.Struct, frozen=True):
    """What the schema asks of one member's values."""

    name: str
    required: bool
    types: frozenset[type] | None  # None: any type
    type_text: Any  # the schema's "type", for messages
    integer: bool  # "integer" allowed: a float of integral value is one too
    enum: frozenset[str] | None
    enum_list: list[Any] | None
    max_length: int | None
    min_length: int | None
    date_time: bool


class FlatItemSchema(msgspec.Struct, frozen=True):
    properties: Mapping[str, Any]
    known: frozenset[str]
    additional: bool  # members outside ``properties`` allowed (additionalProperties)
    members: tuple[MemberColumn, ...]


def _member(name: str, schema: Any, required: bool) -> MemberColumn | None:
    if not isinstance(schema, Mapping):
        return None
    for key in schema:
        if key not in _ANNOTATIONS and not key.startswith("x-") and key not in (
            "type", "enum", "maxLength", "minLength", "format",
        ):  # fmt: skip
            return None
    type_text = schema.get("type")
    names = type_text if isinstance(type_text, list) else [type_text] if type_text else []
    if not all(isinstance(n, str) and n in _PYTHON_TYPES for n in names):
        return None
    types = frozenset().union(*(_PYTHON_TYPES[n] for n in names)) if names else None
    enum = schema.get("enum")
    if enum is not None and (
        not isinstance(enum, list) or not enum or not all(isinstance(v, str) for v in enum)
    ):
        return None
    fmt = schema.get("format")
    if fmt is not None and not (
        (fmt == "date-time" and names and set(names) <= {"string", "null"})
        or (fmt in _NUMBER_FORMATS and names and set(names) <= {"integer", "number", "null"})
    ):
        return None
    lengths = [schema.get("maxLength"), schema.get("minLength")]
    if any(b is not None and (not isinstance(b, int) or isinstance(b, bool)) for b in lengths):
        return None
    return MemberColumn(
        name,
        required,
        types,
        type_text,
        "integer" in names,
        frozenset(enum) if enum is not None else None,
        enum,
        lengths[0],
        lengths[1],
        fmt == "date-time",
    )


def flat_item_schema(schema: Mapping[str, Any]) -> FlatItemSchema | None:
    """The column form of an object schema whose members are all scalars, or None."""
    props = schema.get("properties")
    if schema.get("type", "object") != "object" or not isinstance(props, Mapping):
        return None
    for key in schema:
        if key not in _ANNOTATIONS and not key.startswith("x-") and key not in (
            "type", "properties", "required", "additionalProperties",
        ):  # fmt: skip
            return None
    additional = schema.get("additionalProperties", True)
    required = schema.get("required") or []
    if additional not in (True, False) or not set(required) <= set(props):
        return None
    members = []
    for name, sub in props.items():
        member = _member(name, sub, name in required)
        if member is None:
            return None
        members.append(member)
    return FlatItemSchema(props, frozenset(props), additional is not False, tuple(members))


def _column(items: Sequence[dict[str, Any]], name: str, required: bool) -> list[Any]:
    if required:
        try:  # present in every item, nearly always: one C loop
            return list(map(itemgetter(name), items))
        except KeyError:
            pass
    return [item.get(name, _MISSING) for item in items]


def _indexes(column: list[Any], test: Callable[[Any], bool]) -> list[int]:
    return [i for i, value in enumerate(column) if test(value)]


def schema_findings(items: Sequence[dict[str, Any]], flat: FlatItemSchema) -> list[Finding]:
    """Every schema error of every item (all dicts), as jsonschema-rs would report it."""
    out: list[Finding] = []
    if not flat.additional and not all(map(flat.known.issuperset, items)):
        for i, item in enumerate(items):
            extra = next((k for k in item if k not in flat.known), None)
            if extra is not None:
                out.append((i, "schema.additional", extra, additional_message(extra)))
    for member in flat.members:
        out.extend(_member_findings(items, member, flat.properties))
    return out


def _member_findings(
    items: Sequence[dict[str, Any]], member: MemberColumn, properties: Mapping[str, Any]
) -> list[Finding]:
    name = member.name
    where = f"`{name}`"
    column = _column(items, name, member.required)
    out: list[Finding] = []
    types = set(map(type, column))
    missing = _MISSING.__class__ in types
    if missing:
        types.discard(_MISSING.__class__)
        if member.required:
            for i in _indexes(column, lambda v: v is _MISSING):
                out.append(
                    (i, "schema.required", name, required_message(name, items[i], properties))
                )
    if member.types is not None and not types <= member.types:

        def wrong(value: Any) -> bool:
            if value is _MISSING or value.__class__ in member.types:  # type: ignore[operator]
                return False
            return not (member.integer and value.__class__ is float and value.is_integer())

        for i in _indexes(column, wrong):
            out.append((i, "schema.type", name, type_message(where, member.type_text, column[i])))
    only_strings = types <= {str}
    if member.enum is not None:
        if only_strings:
            bad = set(column) - member.enum
            bad.discard(_MISSING)
            broken = _indexes(column, bad.__contains__) if bad else []
        else:
            enum = member.enum
            broken = _indexes(
                column, lambda v: v is not _MISSING and not (v.__class__ is str and v in enum)
            )
        for i in broken:
            out.append(
                (i, "schema.enum", name, enum_message(where, member.enum_list or [], column[i]))
            )
    if str not in types or (
        member.max_length is None and member.min_length is None and not member.date_time
    ):
        return out
    strings = (
        column
        if only_strings and not missing
        else list(compress(column, (v.__class__ is str for v in column)))
    )
    lengths = list(map(len, strings))
    high, low = member.max_length, member.min_length
    if high is not None and max(lengths) > high:
        for i in _indexes(column, lambda v: v.__class__ is str and len(v) > high):
            out.append((i, "schema.maxLength", name, max_length_message(where, column[i], high)))
    if low is not None and min(lengths) < low:
        for i in _indexes(column, lambda v: v.__class__ is str and len(v) < low):
            out.append((i, "schema.minLength", name, min_length_message(where, column[i], low)))
    if member.date_time and not all_date_times(strings):
        bad_dates = {v for v in set(strings) if not is_date_time(v)}
        for i in _indexes(column, lambda v: v.__class__ is str and v in bad_dates):
            out.append((i, "schema.format", name, format_message(where, column[i], "date-time")))
    return out
