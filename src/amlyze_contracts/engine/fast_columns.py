"""Fast path: the whole-column form of the compiled declarative rules.

A batch of 10,000 items checked one item at a time costs a Python call and a dozen
attribute reads per item. Here each member the rules read becomes one column (a C
loop over the items), and a rule is settled for the whole batch at once:

* when every ``require`` condition provably holds on every row (a column test in C,
  or a test of each *distinct* value), the rule cannot be broken anywhere;
* otherwise its row predicate runs once per distinct row of the members it reads,
  with members it only tests for presence reduced to a bool. Those rows are few:
  flags, statuses and codes repeat; account numbers and dates do not, and the rules
  on those (``check: iban``, ``not-before``) are proven column-wise.

The predicates come from :mod:`engine.codegen`, the generator of the one-object
forms, with each condition's column form from its entry in
:mod:`amlyze_contracts.conditions`, so a rule still exists once. This is only a proof of
validity: a False sends the body to the slow path, which names what is broken.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Mapping, Sequence
from itertools import compress, repeat, starmap
from operator import and_, attrgetter, ge, is_not
from typing import Any

import msgspec

from ..formats import ALL_CHECKS, all_date_times, all_not_before, parse_date_times
from .codegen import MISSING

Column = list[Any]
Prover = Callable[["Columns"], bool]


class Columns(dict[str, Column]):
    """Columns of one batch of Structs, each read at most once, on first use."""

    def __init__(
        self, objs: Sequence[Any], attr_names: Mapping[str, str], required: Collection[str]
    ) -> None:
        super().__init__()
        self.objs = objs
        self.attr_names = attr_names
        self.required = required  # the decoder proved these present in every object
        self.presence: dict[str, Column] = {}
        self.rows: dict[tuple[tuple[str, bool], ...], Any] = {}
        self.parsed: dict[str, list[Any] | None] = {}

    def __missing__(self, name: str) -> Column:
        attr = self.attr_names.get(name)
        # A member the Struct does not define is missing from every object.
        col = list(map(attrgetter(attr), self.objs)) if attr else [MISSING] * len(self.objs)
        self[name] = col
        return col

    def present(self, name: str) -> Column:
        col = self.presence.get(name)
        if col is None:
            col = self.presence[name] = list(map(is_not, self[name], repeat(MISSING)))
        return col

    def has_missing(self, name: str) -> bool:
        # The scan compares every value with UNSET: worth skipping for required members.
        return name not in self.required and MISSING in self[name]

    def present_values(self, name: str) -> Column:
        """The column without its missing entries."""
        col = self[name]
        return list(compress(col, self.present(name))) if self.has_missing(name) else col

    def instants(self, name: str) -> list[Any] | None:
        """The present values as datetimes, when all parse as RFC 3339 date-times in C."""
        if name not in self.parsed:
            self.parsed[name] = parse_date_times(self.present_values(name))
        return self.parsed[name]

    def distinct_rows(self, key: tuple[tuple[str, bool], ...]) -> Any:
        """The distinct rows of some members (each its value, or whether it is
        present); rules reading the same members share them."""
        rows = self.rows.get(key)
        if rows is None and len(key) == 1 and not key[0][1]:
            # One member: its distinct values, without building a 1-tuple per row.
            with contextlib.suppress(TypeError):
                rows = self.rows[key] = [(value,) for value in set(self[key[0][0]])]
        if rows is None:
            projected = [self.present(name) if flag else self[name] for name, flag in key]
            try:
                rows = set(zip(*projected, strict=False))
            except TypeError:  # unhashable values: every row, then
                rows = list(zip(*projected, strict=False))
            self.rows[key] = rows
        return rows


def distinct_all(name: str, holds: Callable[[Any], bool]) -> Prover:
    """A one-member condition holds on every row: test each distinct value once."""

    def prove(cols: Columns) -> bool:
        try:
            distinct = set(cols[name])
        except TypeError:  # unhashable values (arrays, objects): not proven here
            return False
        return all(map(holds, distinct))

    return prove


def present_all(name: str) -> Prover:
    return lambda cols: not cols.has_missing(name)


def check_all(name: str, check: str) -> Prover:
    batch = ALL_CHECKS[check]
    return lambda cols: not cols.has_missing(name) and batch(cols[name])


def pairs_all(first: str, second: str, holds: Callable[[Any, Any], bool]) -> Prover:
    """A two-member condition (``not-before``) that holds whenever ``first`` is
    missing: tested on the rows that have ``first``."""

    def prove(cols: Columns) -> bool:
        rows = compress(zip(cols[first], cols[second], strict=False), cols.present(first))
        return all(starmap(holds, rows))

    return prove


def date_times_not_before(first: str, second: str) -> Prover:
    """``first`` not before ``second`` wherever both are present, both proven
    date-times: parsed and compared in C loops."""

    def prove(cols: Columns) -> bool:
        later, earlier = cols.instants(first), cols.instants(second)
        if later is None or earlier is None:  # rare forms: compare the text
            both = list(map(and_, cols.present(first), cols.present(second)))
            return all_not_before(
                list(compress(cols[first], both)), list(compress(cols[second], both))
            )
        # Each parsed list holds the rows where its member is present: keep the rows
        # that have both.
        if cols.has_missing(second):
            later = list(compress(later, compress(cols.present(second), cols.present(first))))
            if cols.has_missing(first):
                earlier = list(
                    compress(earlier, compress(cols.present(first), cols.present(second)))
                )
        elif cols.has_missing(first):
            earlier = list(compress(earlier, cols.present(first)))
        return all(map(ge, later, earlier))

    return prove


class ColumnRule(msgspec.Struct, frozen=True):
    # The members the row predicate reads, in name order (so rules reading the same
    # members share their rows), each with "read as a bool: is it present".
    key: tuple[tuple[str, bool], ...]
    provers: tuple[Prover, ...]  # all hold => the rule holds on every row; () => never proven
    broken: Callable[..., bool]  # one (projected) row -> the rule is broken there

    def holds(self, cols: Columns) -> bool:
        if self.provers and all(prove(cols) for prove in self.provers):
            return True
        return not any(starmap(self.broken, cols.distinct_rows(self.key)))


class FormatColumn(msgspec.Struct, frozen=True):
    """A member whose format the decoder left to us (one regex run per column beats
    one call per value from inside the decoder)."""

    name: str
    check: Callable[[list[Any]], bool]  # a column
    check_one: Callable[[Any], bool]  # one value

    def holds(self, cols: Columns) -> bool:
        if self.check is all_date_times and cols.instants(self.name) is not None:
            return True
        return self.check(cols.present_values(self.name))


# Below this many objects, columns cost more than they save (a one-item file is common).
_FEW = 8


def _check_each(
    objs: Sequence[Any],
    attr_names: Mapping[str, str],
    formats: Sequence[FormatColumn],
    rules: Sequence[ColumnRule],
) -> bool:
    """:func:`check_columns` object by object: the same predicates, one row each."""

    def read(obj: Any, name: str) -> Any:
        attr = attr_names.get(name)
        return getattr(obj, attr) if attr else MISSING

    for obj in objs:
        for fmt in formats:
            value = read(obj, fmt.name)
            if value is not MISSING and not fmt.check_one(value):
                return False
        for rule in rules:
            row = [
                read(obj, name) is not MISSING if presence else read(obj, name)
                for name, presence in rule.key
            ]
            if rule.broken(*row):
                return False
    return True


def check_columns(
    objs: Sequence[Any],
    loop: Callable[[Sequence[Any]], bool],
    attr_names: Mapping[str, str],
    required: Collection[str],
    formats: Sequence[FormatColumn],
    rules: Sequence[ColumnRule],
) -> bool:
    """True when every object has valid formats and keeps every rule (``loop`` checks
    the rules of cheap conditions object by object)."""
    if not objs:
        return True
    if not loop(objs):
        return False
    if len(objs) <= _FEW:
        return _check_each(objs, attr_names, formats, rules)
    cols = Columns(objs, attr_names, required)
    return all(f.holds(cols) for f in formats) and all(r.holds(cols) for r in rules)


def formats_hold(
    objs: Sequence[Any],
    attr_names: Mapping[str, str],
    required: Collection[str],
    formats: Sequence[FormatColumn],
) -> bool:
    """True when every object's deferred formats are valid, whatever the rules say
    (with a successful decode: the objects keep the schema)."""
    if not objs or not formats:
        return True
    if len(objs) <= _FEW:
        return _check_each(objs, attr_names, formats, ())
    cols = Columns(objs, attr_names, required)
    return all(f.holds(cols) for f in formats)
