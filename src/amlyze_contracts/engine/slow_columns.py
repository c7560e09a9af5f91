"""Slow path: the schema diagnosis of a batch's items, column by column.

jsonschema-rs reports each error as a Python exception object built in Rust, about
5 us apiece: a 10,000-item batch with an error in every item spent four times the
JSON parse on that alone. Batch items are flat objects of scalars (the same subset
of JSON Schema the fast path supports), so here each member becomes one column and
each keyword is tested once per column in C (``set(map(type, column))``, a set
difference for an enum, ``max(map(len, ...))``, one regex run for a date-time
column). Only a column that fails is searched for the items that break it.

The messages come from :mod:`engine.schema`'s message functions, so
an error reads the same whichever engine found it; a property test holds this
engine equal to jsonschema-rs (``tests/validator/test_item_columns.py``). A schema
outside the subset gets ``None`` from :func:`flat_item_schema` and the caller uses
jsonschema-rs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from itertools import compress, count, repeat
from operator import is_, is_not, itemgetter, not_
from typing import Any

import msgspec

from ..formats import all_date_times, failing_date_times, is_date_time
from .codegen import MISSING  # a member absent from an item (None is JSON null)
from .schema import (
    ANNOTATIONS,
    NUMBER_FORMATS,
    additional_message,
    enum_message,
    format_message,
    max_length_message,
    min_length_message,
    required_message,
    type_message,
)

_PYTHON_TYPES: dict[str, frozenset[type]] = {
    "string": frozenset({str}),
    "integer": frozenset({int}),
    "number": frozenset({int, float}),
    "boolean": frozenset({bool}),
    "null": frozenset({type(None)}),
}
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
    required: frozenset[str]


def _member(name: str, schema: Any, required: bool) -> MemberColumn | None:
    if not isinstance(schema, Mapping):
        return None
    for key in schema:
        if key not in ANNOTATIONS and not key.startswith("x-") and key not in (
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
        or (fmt in NUMBER_FORMATS and names and set(names) <= {"integer", "number", "null"})
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
        if key not in ANNOTATIONS and not key.startswith("x-") and key not in (
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
    return FlatItemSchema(
        props, frozenset(props), additional is not False, tuple(members), frozenset(required)
    )


class ItemColumns(dict[str, list[Any]]):
    """The columns of a batch of items (dicts), each read once, on first use; a
    missing member reads as ``MISSING``."""

    def __init__(self, items: Sequence[dict[str, Any]], required: Collection[str] = ()) -> None:
        super().__init__()
        self.objects = items
        self.required = required
        self._failing: dict[tuple[str, Any], set[str]] = {}
        self._outside: dict[frozenset[str], list[int]] = {}

    def outside(self, known: frozenset[str]) -> list[int]:
        """The items with a member outside ``known`` (read once, in C)."""
        found = self._outside.get(known)
        if found is None:
            found = self._outside[known] = _indexes(map(not_, map(known.issuperset, self.objects)))
        return found

    def __missing__(self, name: str) -> list[Any]:
        column: list[Any] | None = None
        if name in self.required:
            with contextlib.suppress(KeyError):  # present in every item, nearly always
                column = list(map(itemgetter(name), self.objects))
        if column is None:
            # dict.get mapped from C: no Python frame per item (the items are dicts).
            column = list(map(dict.get, self.objects, repeat(name), repeat(MISSING)))
        self[name] = column
        return column

    def prefetch(self, names: Iterable[str]) -> None:
        """Read the columns of several members in one pass over the items: one tuple
        per item, transposed in C (a third of reading them one by one). A member some
        item lacks is left to :meth:`__missing__`."""
        wanted = [name for name in dict.fromkeys(names) if name not in self]
        while len(wanted) > 1:
            try:
                rows = list(map(itemgetter(*wanted), self.objects))
            except KeyError as exc:  # nearly always found at one of the first items
                wanted.remove(exc.args[0])
                continue
            for name, column in zip(wanted, zip(*rows, strict=True), strict=True):
                self[name] = list(column)
            return

    def failing(
        self,
        name: str,
        holds: Callable[[str], Any],
        holds_all: Callable[[list[str]], bool] | None = None,
        find_failing: Callable[[list[str]], set[str] | None] | None = None,
    ) -> set[str]:
        """The distinct strings of a column that fail a one-value test (a truthy result
        passes). The test's column forms answer first where there are any: whether
        none fails (``holds_all``, the common case), then which fail (``find_failing``)."""
        key = (name, holds)
        found = self._failing.get(key)
        if found is None:
            column = self[name]
            try:
                distinct = set(column)
            except TypeError:  # unhashable values (arrays, objects) too
                strings = list({v for v in column if v.__class__ is str})
            else:
                distinct.discard(MISSING)
                if set(map(type, distinct)) <= {str}:  # nearly always: no Python loop
                    strings = list(distinct)
                else:
                    strings = [v for v in distinct if v.__class__ is str]
            if holds_all is not None and holds_all(strings):
                found = set()
            elif find_failing is None or (found := find_failing(strings)) is None:
                # The test mapped from C: no Python loop around it.
                found = set(compress(strings, map(not_, map(holds, strings))))
            self._failing[key] = found
        return found


def schema_findings(cols: ItemColumns, flat: FlatItemSchema) -> list[Finding]:
    """Every schema error of every item (all dicts), as jsonschema-rs would report it."""
    items = cols.objects
    out: list[Finding] = []
    if not flat.additional and not all(map(flat.known.issuperset, items)):
        for i, item in enumerate(items):
            extra = next((k for k in item if k not in flat.known), None)
            if extra is not None:
                out.append((i, "schema.additional", extra, additional_message(extra)))
    for member in flat.members:
        out.extend(_member_findings(cols, member, flat.properties))
    return out


def _member_findings(
    cols: ItemColumns, member: MemberColumn, properties: Mapping[str, Any]
) -> list[Finding]:
    name = member.name
    where = f"`{name}`"
    items = cols.objects
    column = cols[name]
    out: list[Finding] = []
    types = set(map(type, column))
    missing = MISSING.__class__ in types
    if missing:
        types.discard(MISSING.__class__)
        if member.required:
            # The message names a likely misspelling among the item's unknown members;
            # an item without any (nearly all) gets the same message.
            plain = required_message(name, (), properties)
            absent = _indexes(map(is_, column, repeat(MISSING)))
            odd = set(cols.outside(frozenset(properties))).intersection(absent)
            messages = (
                [
                    required_message(name, items[i], properties) if i in odd else plain
                    for i in absent
                ]
                if odd
                else repeat(plain)
            )
            out += zip(absent, repeat("schema.required"), repeat(name), messages)
    if member.types is not None and not types <= member.types:
        allowed, integer = member.types, member.integer
        for i, value in enumerate(column):
            if value is MISSING or value.__class__ in allowed:
                continue
            if not (integer and value.__class__ is float and value.is_integer()):
                out.append((i, "schema.type", name, type_message(where, member.type_text, value)))
    only_strings = types <= {str}
    if member.enum is not None:
        enum = member.enum
        if only_strings:
            bad = set(column) - enum
            bad.discard(MISSING)
            broken = _indexes(map(bad.__contains__, column)) if bad else []
        else:
            broken = [
                i
                for i, v in enumerate(column)
                if v is not MISSING and not (v.__class__ is str and v in enum)
            ]
        enum_text = per_value(lambda v: enum_message(where, member.enum_list or [], v))
        out += zip(
            broken,
            repeat("schema.enum"),
            repeat(name),
            map(enum_text, map(column.__getitem__, broken)),
        )
    if str not in types or (
        member.max_length is None and member.min_length is None and not member.date_time
    ):
        return out
    if not missing:
        strings = column if only_strings else [v for v in column if v.__class__ is str]
    elif only_strings:  # strings and gaps: drop the gaps in C
        strings = list(compress(column, map(is_not, column, repeat(MISSING))))
    else:
        strings = [v for v in column if v.__class__ is str]
    lengths = list(map(len, strings))
    high, low = member.max_length, member.min_length
    if high is not None and max(lengths) > high:
        for i, v in enumerate(column):
            if v.__class__ is str and len(v) > high:
                out.append((i, "schema.maxLength", name, max_length_message(where, v, high)))
    if low is not None and min(lengths) < low:
        for i, v in enumerate(column):
            if v.__class__ is str and len(v) < low:
                out.append((i, "schema.minLength", name, min_length_message(where, v, low)))
    if member.date_time and (
        bad_dates := cols.failing(name, is_date_time, all_date_times, failing_date_times)
    ):
        format_text = per_value(lambda v: format_message(where, v, "date-time"))
        if types & _UNHASHABLE:
            at = [i for i, v in enumerate(column) if v.__class__ is str and v in bad_dates]
        else:  # bad_dates holds strings only: a set lookup per value, in C
            at = _indexes(map(bad_dates.__contains__, column))
        out += zip(
            at, repeat("schema.format"), repeat(name), map(format_text, map(column.__getitem__, at))
        )
    return out


_UNHASHABLE = frozenset({list, dict})


def _indexes(flags: Iterable[Any]) -> list[int]:
    """The indexes of the true flags (in C)."""
    return list(compress(count(), flags))


# Values that read the same in a message whenever they are equal (1, 1.0 and True
# are equal and hash alike, yet read differently; so do 0.0 and -0.0).
_PLAIN = frozenset({str, type(None), type(MISSING)})


def render_each(render: Callable[[Any], str], values: list[Any]) -> list[str]:
    """``render`` of each value, called once per distinct value; the messages are
    spread to the values by a C loop (a broken batch repeats its wrong values)."""
    if not set(map(type, values)) <= _PLAIN:
        return list(map(per_value(render), values))
    rendered = {value: render(value) for value in set(values)}
    return list(map(rendered.__getitem__, values))


def _distinct(value: Any) -> Any:
    """A cache key as distinct as the value's text (see _PLAIN)."""
    kind = value.__class__
    return value if kind in _PLAIN else (kind, value, repr(value) if kind is float else None)


def per_value(render: Callable[[Any], str]) -> Callable[[Any], str]:
    """``render``, once per distinct (hashable) value: wrong values repeat in a batch."""
    cache: dict[Any, str] = {}

    def message(value: Any) -> str:
        try:
            key = _distinct(value)
            found = cache.get(key)
        except TypeError:  # unhashable
            return render(value)
        if found is None:
            found = cache[key] = render(value)
        return found

    return message
