"""The table of rule conditions: every entry's generated tests agree on every path.

Each condition is compiled the three ways the engine runs it (``diagnose`` over one
dict, ``diagnose_many`` over a batch's columns, the fast path's ``check_many`` over
Structs, both object by object and column-wise) and each must give the verdict this
table states. A condition added to :data:`amlyze_contracts.conditions.OPS` without a
row here fails :func:`test_every_condition_has_cases`.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from amlyze_contracts.catalogue import Rule
from amlyze_contracts.conditions import OPS, Condition
from amlyze_contracts.engine.codegen import MISSING, compile_checker
from amlyze_contracts.engine.slow_columns import ItemColumns

SETS = {"codes": frozenset({"EUR", "USD"})}
ABSENT = MISSING  # the member is left out

# op -> (argument, values that keep `require`, values that break it); "b" holds
# "2024-01-01T00:00:00Z" for the two-member condition.
CASES: dict[str, tuple[Any, tuple[Any, ...], tuple[Any, ...]]] = {
    "present": (True, ("x", None, 0), (ABSENT,)),
    "not-empty": (True, ("x", 0, [1]), (ABSENT, None, "", [])),
    "equals": (True, (True,), (ABSENT, 1, "true", False)),
    "not-equals": ("CLOSED", ("OPEN", 1), (ABSENT, "CLOSED")),
    "in": (["A", 1], ("A", 1), (ABSENT, "B", True, 1.5)),
    "not-in": (["A"], ("B", 2), (ABSENT, "A")),
    "in-set": ("codes", ("EUR",), (ABSENT, "eur", 1)),
    "matches": ("^[A-Z]{2}$", ("AB",), (ABSENT, "ABC", 12)),
    "type": ("integer", (1, 0), (ABSENT, "1", 1.5, True)),
    "check": ("iban", ("DE89370400440532013000",), (ABSENT, "DE89370400440532013001", 5)),
    "not-before": (
        "b",
        ("2024-01-01T00:00:00Z", "2024-01-01T02:00:00+01:00", ABSENT),
        ("2023-12-31T23:59:59Z", "2024-01-01T02:00:00+03:00"),
    ),
}


class Obj(msgspec.Struct):
    a: Any = msgspec.UNSET
    b: Any = msgspec.UNSET


def test_every_condition_has_cases() -> None:
    assert set(CASES) == set(OPS)


def _verdicts(op: str, arg: Any, value: Any) -> set[bool]:
    """Whether the rule ``require: {a: {op: arg}}`` is broken, by every compiled form."""
    rule = Rule("test.cond", "error", "m", applies_to="*", require=(Condition("a", op, arg),))
    checker = compile_checker([rule], SETS, {"a": "a", "b": "b"})
    item: dict[str, Any] = {"b": "2024-01-01T00:00:00Z"}
    if value is not ABSENT:
        item["a"] = value
    one = bool(checker.diagnose(item))
    many = bool(checker.diagnose_many(ItemColumns([item] * 3)))
    struct = Obj(**item)
    loop = not checker.check_many([struct])  # object by object (few objects)
    columns = not checker.check_many([struct] * 20)  # column-wise
    return {one, many, loop, columns}


@pytest.mark.parametrize("op", sorted(CASES))
def test_each_condition_reads_the_same_on_every_path(op: str) -> None:
    arg, holding, breaking = CASES[op]
    for value in holding:
        assert _verdicts(op, arg, value) == {False}, (op, value)
    for value in breaking:
        assert _verdicts(op, arg, value) == {True}, (op, value)


def test_a_condition_entry_declares_every_part() -> None:
    for op in OPS.values():
        assert op.check_arg is not None and op.expr is not None and op.column is not None
        assert op.cheap in ("always", "if-proven", "never")
        assert callable(op.satisfy) and callable(op.violate)
