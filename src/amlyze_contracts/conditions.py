"""The rule language's field conditions, one table entry each.

A condition (``require: {bic: {not-empty: true}}``) is used in six places: the rule
file loader checks its argument; the code generator writes its test of one object,
and of one row of a batch's columns; the fast path decides whether that test is
cheap enough for the per-item loop, or how to prove it for a whole column; the slow
path turns a costly one-value test into one set of failing values per column; the
contract suite draws values that satisfy or violate it. All six are here, side by
side, so adding a condition is one :class:`Op` entry plus its tests.

Generated expressions read the member's variable ``x.v`` (and, for a condition on
two members, the other member's ``x.other``); a missing member is the sentinel named
``x.miss``. Value conditions (all but ``present``) are false when the member is
missing. The strategies (``satisfy``/``violate``) import Hypothesis only when called:
the validator never does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from .formats import ALL_CHECKS, CHECKS, FAILING, not_before, not_before_valid

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

TYPE_NAMES = ("string", "boolean", "number", "integer", "object", "array", "null")
_TYPE_EXPR = {
    "string": "{v}.__class__ is str",
    "boolean": "{v}.__class__ is bool",
    "number": "({v}.__class__ is int or {v}.__class__ is float)",
    "integer": "{v}.__class__ is int",
    "object": "isinstance({v}, dict)",
    "array": "isinstance({v}, list)",
    "null": "{v} is None",
}


class Condition(msgspec.Struct, frozen=True):
    """One parsed condition of a rule: ``field`` satisfies ``op`` with ``arg``."""

    field: str
    op: str
    arg: Any


class Expr(msgspec.Struct, frozen=True):
    """What a condition's generated expression may use."""

    v: str  # the member's variable
    arg: Any
    other: str | None  # the variable of the member ``arg`` names (two-member conditions)
    miss: str  # the name of the "missing" sentinel in the generated namespace
    proven: bool  # the fast path's decoder already proved this condition's format(s)
    const: Callable[[Any], str]  # puts a value in the generated namespace, gives its name
    sets: Mapping[str, frozenset[str]]  # named value sets (in-set)


# How the fast path proves a ``require`` condition for a whole batch column
# (engine.fast_columns): "present" (no value missing), "check" (the check's column
# form), "date-times" (instants compared in C), "pairs" (a generated test per row
# with the first member), "distinct" (a generated test per distinct value).
ColumnForm = Literal["present", "check", "date-times", "pairs", "distinct"]
# A member generator the strategies receive: the contract suite's item model
# (``value(member)``: a valid value; ``_set(name, member)``: a named set's members).
Draws = Any
Strategy = Callable[[Draws, Condition, dict[str, Any]], Any]  # -> a SearchStrategy


class Op(msgspec.Struct, frozen=True):
    name: str
    # The argument's check at load time: an error text, or None when it is usable.
    check_arg: Callable[[Any, Mapping[str, Any]], str | None]
    expr: Callable[[Expr], str]  # source of the test of one object (or one row)
    # "always": runs in the fast path's per-item loop; "if-proven": when the decoder
    # proved the format (the test is then presence); "never": proven column-wise.
    cheap: Literal["always", "if-proven", "never"]
    column: Callable[[Condition, bool], ColumnForm]  # (condition, proven) -> its column form
    satisfy: Strategy
    violate: Strategy
    # The slow path's one-value test as a set of failing values per column: the
    # test, its column form ("none fails") and its finder of failing values.
    failing: Callable[[Any], tuple[Callable[[str], Any], Any, Any]] | None = None
    proven: Callable[[Condition, Mapping[str, str]], bool] = lambda _c, _a: False
    presence: bool = False  # tests only whether the member is there (rows read as bools)
    other_member: bool = False  # ``arg`` names another member the condition reads


def pattern_test(pattern: str) -> Callable[[str], Any]:
    """The test of ``matches: <pattern>`` (a match object or None)."""
    compiled = re.compile(pattern)
    return compiled.match if pattern.startswith("^") else compiled.search


def _equals_expr(v: str, value: Any, const: Callable[[Any], str]) -> str:
    if value is None or isinstance(value, bool):
        return f"{v} is {value!r}"
    if isinstance(value, str):
        return f"{v} == {value!r}"
    return f"({v}.__class__ is {type(value).__name__} and {v} == {const(value)})"


def _membership(x: Expr, values: Any) -> str:
    v = x.v
    if all(isinstance(value, str) for value in values):
        return f"({v}.__class__ is str and {v} in {x.const(frozenset(values))})"
    # Mixed types: compare each allowed value the way `equals` does (True is not 1).
    return "(" + " or ".join(f"({_equals_expr(v, value, x.const)})" for value in values) + ")"


# ------------------------------------------------------------------ argument checks


def _bool(op: str) -> Callable[[Any, Mapping[str, Any]], str | None]:
    return lambda arg, _sets: None if isinstance(arg, bool) else f"{op!r} takes true or false"


def _list(op: str) -> Callable[[Any, Mapping[str, Any]], str | None]:
    return lambda arg, _sets: None if isinstance(arg, list) else f"{op!r} takes a list"


def _any(arg: Any, sets: Mapping[str, Any]) -> str | None:
    return None


def _set_name(arg: Any, sets: Mapping[str, Any]) -> str | None:
    # A classifier set exists only once a snapshot is given (rules_for_schema).
    if arg in sets or str(arg).startswith("classifier:"):
        return None
    return f"unknown set {arg!r}"


def _regex(arg: Any, sets: Mapping[str, Any]) -> str | None:
    try:
        re.compile(arg)
    except (re.error, TypeError) as exc:
        return f"bad regular expression {arg!r}: {exc}"
    return None


def _type_name(arg: Any, sets: Mapping[str, Any]) -> str | None:
    return None if arg in TYPE_NAMES else f"type must be one of {', '.join(TYPE_NAMES)}"


def _check_name(arg: Any, sets: Mapping[str, Any]) -> str | None:
    return None if arg in CHECKS else f"unknown check {arg!r} (known: {', '.join(CHECKS)})"


def _member_name(arg: Any, sets: Mapping[str, Any]) -> str | None:
    return None if isinstance(arg, str) else "not-before takes another field's name"


# ------------------------------------------------------------------ expressions


def _present(x: Expr) -> str:
    return f"{x.v} is not {x.miss}" if x.arg else f"{x.v} is {x.miss}"


def _not_empty(x: Expr) -> str:
    v = x.v
    expr = f"({v} is not {x.miss} and {v} is not None and {v} != '' and {v} != [])"
    return expr if x.arg else f"not {expr}"


def _check(x: Expr) -> str:
    if x.proven:  # the decoder checked the format: only presence is left
        return f"{x.v} is not {x.miss}"
    return f"({x.v} is not {x.miss} and {x.const(CHECKS[x.arg])}({x.v}))"


def _not_before(x: Expr) -> str:
    # Both proven date-times: the comparison skips the format check.
    test = x.const(not_before_valid if x.proven else not_before)
    return f"({x.v} is {x.miss} or {x.other} is {x.miss} or {test}({x.v}, {x.other}))"


# ------------------------------------------------------------------ strategies


def _st() -> Any:
    from hypothesis import strategies

    return strategies


def _gen() -> Any:
    # The contract suite's value strategies (dates, text, IBANs); loaded with Hypothesis.
    from .contract import generate

    return generate


def _current_or_value(d: Draws, c: Condition, item: dict[str, Any]) -> Any:
    st, current = _st(), item.get(c.field, _gen().REMOVE)
    if not c.arg:
        return st.just(_gen().REMOVE)
    return st.just(current) if current is not _gen().REMOVE else d.value(c.field)


def _value(d: Draws, c: Condition, item: dict[str, Any]) -> Any:
    return d.value(c.field)


def _not_this(d: Draws, c: Condition, item: dict[str, Any]) -> Any:
    return d.value(c.field).filter(lambda v: v != c.arg)


def _type_value(d: Draws, c: Condition, item: dict[str, Any]) -> Any:
    if d.props.get(c.field, {}).get("type") == c.arg:
        return d.value(c.field)
    return _gen()._of_type(c.arg)


def _check_value(d: Draws, c: Condition, item: dict[str, Any]) -> Any:
    g = _gen()
    return g.date_times() if c.arg == "date-time" else _st().sampled_from(g.VALID_IBANS)


def _check_breaker(d: Draws, c: Condition, item: dict[str, Any]) -> Any:
    g, st = _gen(), _st()
    if c.arg == "date-time":
        return st.sampled_from(g.BAD_DATE_TIMES)
    return st.sampled_from(g.VALID_IBANS).map(g._break_iban)


def _later(d: Draws, c: Condition, item: dict[str, Any]) -> Any:
    g = _gen()
    other = g._instant(item.get(c.arg))
    return g.date_times(after=other) if other else g.date_times()


def _earlier(d: Draws, c: Condition, item: dict[str, Any]) -> Any:
    other = _gen()._instant(item.get(c.arg))
    if other is None:
        return _st().nothing()
    return (
        _st()
        .integers(1, 3650)
        .map(lambda days: (other - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    )


def _no_match(d: Draws, c: Condition, item: dict[str, Any]) -> Any:
    pattern = re.compile(c.arg)
    return _gen().text(1, 14).filter(lambda v: pattern.fullmatch(v) is None)


def _outside_set(d: Draws, c: Condition, item: dict[str, Any]) -> Any:
    allowed = d._set(c.arg, c.field)
    return _st().from_regex(r"\A[A-Z]{3}\Z").filter(lambda v: v not in allowed)


def _distinct(c: Condition, proven: bool) -> ColumnForm:
    return "distinct"


# ------------------------------------------------------------------ the table

OPS: dict[str, Op] = {
    op.name: op
    for op in (
        Op(
            "present",
            _bool("present"),
            _present,
            "always",
            lambda c, _p: "present" if c.arg else "distinct",
            satisfy=_current_or_value,
            violate=lambda d, c, _i: _st().just(_gen().REMOVE) if c.arg else d.value(c.field),
            presence=True,
        ),
        Op(
            "not-empty",
            _bool("not-empty"),
            _not_empty,
            "always",
            _distinct,
            satisfy=_value,
            violate=lambda d, c, _i: (
                _st().sampled_from((_gen().REMOVE, "")) if c.arg else d.value(c.field)
            ),
        ),
        Op(
            "equals",
            _any,
            # No test for "missing" needed: the sentinel equals nothing.
            lambda x: f"({_equals_expr(x.v, x.arg, x.const)})",
            "always",
            _distinct,
            satisfy=lambda _d, c, _i: _st().just(c.arg),
            violate=_not_this,
        ),
        Op(
            "not-equals",
            _any,
            lambda x: f"({x.v} is not {x.miss} and not ({_equals_expr(x.v, x.arg, x.const)}))",
            "always",
            _distinct,
            satisfy=_not_this,
            violate=lambda _d, c, _i: _st().just(c.arg),
        ),
        Op(
            "in",
            _list("in"),
            lambda x: _membership(x, x.arg),
            "always",
            _distinct,
            satisfy=lambda _d, c, _i: _st().sampled_from(list(c.arg)),
            violate=lambda _d, c, _i: _gen().text(1, 12).filter(lambda v: v not in c.arg),
        ),
        Op(
            "not-in",
            _list("not-in"),
            lambda x: f"({x.v} is not {x.miss} and not {_membership(x, x.arg)})",
            "always",
            _distinct,
            satisfy=lambda d, c, _i: d.value(c.field).filter(lambda v: v not in c.arg),
            violate=lambda _d, c, _i: _st().sampled_from(list(c.arg)),
        ),
        Op(
            "in-set",
            _set_name,
            lambda x: _membership(x, x.sets[x.arg]),
            "always",
            _distinct,
            satisfy=lambda d, c, _i: _st().sampled_from(sorted(d._set(c.arg, c.field))),
            violate=_outside_set,
        ),
        Op(
            "matches",
            _regex,
            lambda x: (
                f"({x.v}.__class__ is str and {x.const(pattern_test(x.arg))}({x.v}) is not None)"
            ),
            "never",
            _distinct,
            satisfy=lambda _d, c, _i: _st().from_regex(c.arg, fullmatch=True),
            violate=_no_match,
            failing=lambda arg: (pattern_test(arg), None, None),
        ),
        Op(
            "type",
            _type_name,
            # No test for "missing" needed: the sentinel is of no JSON type.
            lambda x: f"({_TYPE_EXPR[x.arg].format(v=x.v)})",
            "always",
            _distinct,
            satisfy=_type_value,
            violate=lambda _d, c, _i: _gen()._of_type("string" if c.arg != "string" else "integer"),
        ),
        Op(
            "check",
            _check_name,
            _check,
            "if-proven",
            lambda c, proven: (
                "present" if proven else "check" if c.arg in ALL_CHECKS else "distinct"
            ),
            satisfy=_check_value,
            violate=_check_breaker,
            failing=lambda arg: (CHECKS[arg], ALL_CHECKS.get(arg), FAILING.get(arg)),
            proven=lambda c, asserted: asserted.get(c.field) == c.arg,
        ),
        Op(
            "not-before",
            _member_name,
            _not_before,
            "never",
            lambda _c, proven: "date-times" if proven else "pairs",
            satisfy=_later,
            violate=_earlier,
            proven=lambda c, asserted: asserted.get(c.field) == asserted.get(c.arg) == "date-time",
            other_member=True,
        ),
    )
}
CONDITION_OPS = tuple(OPS)


def is_cheap(cond: Condition, asserted: Mapping[str, str]) -> bool:
    """Whether the fast path tests ``cond`` in its per-item loop (else column-wise)."""
    op = OPS[cond.op]
    return op.cheap == "always" or (op.cheap == "if-proven" and op.proven(cond, asserted))


def failing_key(cond: Condition) -> tuple[str, str, str] | None:
    """The failing-value set a condition becomes over a batch's columns (None: it
    stays an expression); conditions with the same key share one set."""
    return (cond.op, cond.field, str(cond.arg)) if OPS[cond.op].failing is not None else None


def satisfy(draws: Draws, cond: Condition, item: dict[str, Any]) -> SearchStrategy[Any]:
    """Values of ``cond.field`` that make ``cond`` hold for ``item``."""
    strategy: SearchStrategy[Any] = OPS[cond.op].satisfy(draws, cond, item)
    return strategy


def violate(draws: Draws, cond: Condition, item: dict[str, Any]) -> SearchStrategy[Any]:
    """Values of ``cond.field`` that make ``cond`` fail for ``item``."""
    strategy: SearchStrategy[Any] = OPS[cond.op].violate(draws, cond, item)
    return strategy
