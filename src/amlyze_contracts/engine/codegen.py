"""Code generation: the declarative rules of one object schema as Python source.

From one rule list come three functions, so a rule exists once:

* ``check_loop(structs)`` (fast path): False at the first broken rule among the
  rules of cheap conditions, reading msgspec Structs by attribute;
* ``diagnose(dict)`` (slow path): the indexes of every broken rule of one object;
* ``diagnose_rules(cols)`` (slow path, a batch): per rule, the items that break it,
  over the batch's columns (:class:`engine.slow_columns.ItemColumns`).

The costly rules' row predicates ``_broken<i>`` and the tests their column provers
need (``_holds<i>_<j>``) become :class:`engine.fast_columns.ColumnRule` objects.
Each condition's expression comes from its entry in :mod:`amlyze_contracts.conditions`.

Every name the generated source refers to is defined in this module: the one
"missing" sentinel (:data:`MISSING`), the empty set (:data:`NOTHING`) and the
constants ``_c<n>`` the generator registers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from ..catalogue import Rule
from ..conditions import OPS, Condition, Expr, failing_key, is_cheap
from ..formats import ALL_CHECKS, CHECKS

if TYPE_CHECKING:
    from . import fast_columns

# A member absent from an object. msgspec's UNSET is what a generated Struct holds
# for an absent member, so the fast path reads it as is; the slow path reads dicts
# with ``dict.get(name, MISSING)``. (JSON null is None: present.)
MISSING: Any = msgspec.UNSET
NOTHING: frozenset[str] = frozenset()
# Names of the generated namespace.
_MISSING, _NOTHING = "_MISSING", "_NOTHING"
CHECK_LOOP, DIAGNOSE, DIAGNOSE_RULES = "check_loop", "diagnose", "diagnose_rules"


def _broken_name(index: int) -> str:
    return f"_broken{index}"


def _holds_name(index: int, j: int) -> str:
    return f"_holds{index}_{j}"


class _Gen(msgspec.Struct):
    """Accumulates generated source and the constants it refers to."""

    ns: dict[str, Any]
    sets: Mapping[str, frozenset[str]]
    counter: int = 0

    def const(self, value: Any) -> str:
        self.counter += 1
        name = f"_c{self.counter}"
        self.ns[name] = value
        return name

    def condition(
        self, cond: Condition, var: Mapping[str, str], asserted: Mapping[str, str]
    ) -> str:
        """Python source for one condition. ``asserted`` maps members to the format the
        fast path's decoder already proved."""
        op = OPS[cond.op]
        other = var[cond.arg] if op.other_member else None
        proven = op.proven(cond, asserted)
        return op.expr(
            Expr(var[cond.field], cond.arg, other, _MISSING, proven, self.const, self.sets)
        )


class ObjectChecker(msgspec.Struct, frozen=True):
    """The compiled declarative rules for one schema."""

    rules: tuple[Rule, ...]
    # Fast path: a list of Structs -> every deferred format valid and every rule kept.
    check_many: Callable[[Sequence[Any]], bool]
    # Fast path: a list of Structs -> every deferred format valid (the rules aside).
    formats_hold: Callable[[Sequence[Any]], bool]
    diagnose: Callable[[Mapping[str, Any]], list[int]]  # slow path: indexes of broken rules
    # Slow path, a batch: its columns (slow_columns.ItemColumns) -> per rule, the
    # indexes of the items that break it.
    diagnose_rules: Callable[[Any], list[list[int]]]
    source: str

    def diagnose_many(self, cols: Any) -> list[tuple[int, int]]:
        """(item, rule index) pairs of :attr:`diagnose_rules`."""
        return [(i, n) for n, hits in enumerate(self.diagnose_rules(cols)) for i in hits]


class _ColumnRecipe(msgspec.Struct, frozen=True):
    """A rule's whole-column form before its generated functions exist."""

    key: tuple[tuple[str, bool], ...]  # see fast_columns.ColumnRule
    # (column form, member, the condition's argument, generated function name)
    provers: tuple[tuple[str, str, str, str], ...]


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
    from . import fast_columns  # it reads MISSING from here: imported once this module is

    gen = _Gen(ns={_MISSING: MISSING, _NOTHING: NOTHING}, sets=sets)
    asserted = dict(formats or {})
    attrs = dict(attr_names or {})
    lines = _object_function(DIAGNOSE, rules, gen, {}, None)
    lines += _many_function(rules, gen)
    # Rules of cheap conditions run in one loop over the items (a tenth of a
    # microsecond per item); the others are proven column-wise (fast_columns).
    flags = [all(is_cheap(c, asserted) for c in rule.conditions) for rule in rules]
    cheap = [rule for rule, flag in zip(rules, flags, strict=True) if flag]
    lines += _object_function(CHECK_LOOP, cheap, gen, asserted, attrs)
    costly = [
        (i, rule) for i, (rule, flag) in enumerate(zip(rules, flags, strict=True)) if not flag
    ]
    recipes = [_column_recipe(rule, index, gen, asserted, lines) for index, rule in costly]
    source = "\n".join(_bind_names(lines)) + "\n"
    code = compile(source, "<amlyze_contracts rules>", "exec")
    exec(code, gen.ns)  # our own generated source, from validated rule data
    resolved = [
        _column_rule(recipe, index, gen.ns)
        for (index, _), recipe in zip(costly, recipes, strict=False)
    ]
    format_columns = [
        fast_columns.FormatColumn(name, ALL_CHECKS[asserted[name]], CHECKS[asserted[name]])
        for name in deferred_formats
    ]
    return ObjectChecker(
        tuple(rules),
        functools.partial(
            fast_columns.check_columns,
            loop=gen.ns[CHECK_LOOP],
            attr_names=attrs,
            required=frozenset(required),
            formats=format_columns,
            rules=resolved,
        ),
        functools.partial(
            fast_columns.formats_hold,
            attr_names=attrs,
            required=frozenset(required),
            formats=format_columns,
        ),
        gen.ns[DIAGNOSE],
        gen.ns[DIAGNOSE_RULES],
        source,
    )


_GENERATED_NAME = re.compile(rf"\b(?:{_MISSING}|{_NOTHING}|_c[0-9]+)\b")


def _bind_names(lines: list[str]) -> list[str]:
    """Each generated function with the namespace names it reads (the sentinels, the
    constants) bound as keyword-only defaults: local reads in its loops, not global
    lookups."""
    out: list[str] = []
    start = 0
    starts = [i for i, line in enumerate(lines) if line.startswith("def ")]
    for end in [*starts[1:], len(lines)]:
        head, body = lines[start], lines[start + 1 : end]
        names = sorted(set(_GENERATED_NAME.findall("\n".join(body))))
        if head.startswith("def ") and names:
            bound = ", ".join(f"{name}={name}" for name in names)
            head = head.replace("):", f", *, {bound}):", 1)
        out += [head, *body]
        start = end
    return out


def _members(rules: Iterable[Rule]) -> dict[str, str]:
    """The members some rule reads, each with its variable, in first-use order."""
    names: list[str] = []
    for rule in rules:
        names.extend(f for f in rule.fields if f not in names)
    return {member: f"v{i}" for i, member in enumerate(names)}


def _object_function(
    name: str,
    rules: list[Rule],
    gen: _Gen,
    asserted: Mapping[str, str],
    attrs: Mapping[str, str] | None,
) -> list[str]:
    """Source of ``diagnose(dict) -> [broken rule indexes]`` (``attrs`` None) or of
    ``check_loop(structs) -> every rule kept`` (reads ``attrs``, stops at the first)."""
    var = _members(rules)
    if attrs is not None and not rules:  # every rule is costly: nothing to loop over
        return [f"def {name}(items):", "    return True", ""]
    if attrs is None:
        lines = [f"def {name}(it):", "    _g = it.get", "    out = []"]
        lines += [f"    {v} = _g({m!r}, {_MISSING})" for m, v in var.items()]
        indent = "    "
    else:
        # Members the Struct lacks are missing from every item.
        lines = [f"def {name}(items):"]
        lines += [f"    {v} = {_MISSING}" for m, v in var.items() if m not in attrs]
        lines.append("    for it in items:")
        lines += [f"        {v} = it.{attrs[m]}" for m, v in var.items() if m in attrs]
        indent = "        "
    for index, rule in enumerate(rules):
        broken = _broken_expr(rule, lambda c: gen.condition(c, var, asserted))
        lines.append(f"{indent}if {broken}:  # {rule.id}")
        lines.append(
            f"{indent}    {'out.append(' + str(index) + ')' if attrs is None else 'return False'}"
        )
    lines += ["    return out" if attrs is None else "    return True", ""]
    return lines


def _many_function(rules: list[Rule], gen: _Gen) -> list[str]:
    """Source of ``diagnose_rules(cols) -> [[item, ...] per rule]`` over a batch's columns.

    One loop over the rows; a one-member test that costs a call per value (a
    condition with a ``failing`` form: ``check``, ``matches``) becomes a lookup in the
    set of that column's failing values, which the columns compute once
    (:meth:`slow_columns.ItemColumns.failing`)."""
    var = _members(rules)
    if not var:  # no rule reads a member (none at all, in practice)
        return [f"def {DIAGNOSE_RULES}(cols):", f"    return {[[] for _ in rules]!r}", ""]
    failing: dict[tuple[str, str, str], str] = {}
    header: list[str] = []

    def condition(cond: Condition) -> str:
        key = failing_key(cond)
        if key is None:
            return gen.condition(cond, var, {})
        if key not in failing:
            failing[key] = name = f"_f{len(failing)}"
            form = OPS[cond.op].failing
            assert form is not None
            one, column, which = (gen.const(part) for part in form(cond.arg))
            header.append(f"    {name} = cols.failing({cond.field!r}, {one}, {column}, {which})")
        v = var[cond.field]
        return f"({v}.__class__ is str and {v} not in {failing[key]})"

    body = []
    for index, rule in enumerate(rules):
        body.append(f"        if {_broken_expr(rule, condition)}:  # {rule.id}")
        body.append(f"            hit{index}(i)")
    columns = ", ".join(f"cols[{m!r}]" for m in var)
    row = ", ".join(var.values())
    hits = [f"h{index}" for index in range(len(rules))]
    return [
        f"def {DIAGNOSE_RULES}(cols):",
        *_ordered_failing_sets(rules, failing, header),
        *(f"    {h} = []; hit{index} = {h}.append" for index, h in enumerate(hits)),
        f"    for i, ({row},) in enumerate(zip({columns})):",
        *body,
        f"    return [{', '.join(hits)}]",
        "",
    ]


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

    in_require = {k for rule in rules for c in rule.require if (k := failing_key(c)) is not None}
    users: dict[tuple[str, str, str], list[Rule]] = {}
    for rule in rules:
        for cond in rule.when:
            if (k := failing_key(cond)) is not None and k not in in_require:
                users.setdefault(k, []).append(rule)
    lines = dict(zip(failing, header, strict=True))
    guarded: list[str] = []
    for k, found_in in users.items():
        required = [failing_key(c) for rule in found_in for c in rule.require]
        if all(rule.require for rule in found_in) and all(
            r is not None and r[1] == k[1] for r in required
        ):
            guard = " or ".join(dict.fromkeys(failing[r] for r in required if r is not None))
            line = lines.pop(k)
            guarded.append(f"{line} if ({guard}) else {_NOTHING}")
    return [*lines.values(), *guarded]


def _broken_expr(rule: Rule, condition: Callable[[Condition], str]) -> str:
    """Source of "the rule is broken": every ``when`` holds and not every ``require``."""
    when = " and ".join(map(condition, rule.when)) or "True"
    if not rule.require:
        return when
    return f"({when}) and not ({' and '.join(map(condition, rule.require))})"


def _column_recipe(
    rule: Rule, index: int, gen: _Gen, asserted: Mapping[str, str], lines: list[str]
) -> _ColumnRecipe:
    """Generate a rule's row predicate ``_broken<index>`` and the condition functions
    its provers need (appended to ``lines``)."""
    names = tuple(sorted(rule.fields))
    conds = rule.conditions
    # Members tested only for presence are read as bools: their rows repeat.
    presence_only = tuple(
        all(OPS[c.op].presence for c in conds if c.field == name)
        and not any(OPS[c.op].other_member and c.arg == name for c in conds)
        for name in names
    )
    var = {name: f"v{i}" for i, name in enumerate(names)}

    def row_expr(cond: Condition) -> str:
        if presence_only[names.index(cond.field)]:  # the variable is that bool
            return var[cond.field] if cond.arg else f"not {var[cond.field]}"
        return gen.condition(cond, var, asserted)

    lines.append(f"def {_broken_name(index)}({', '.join(var.values())}):  # {rule.id}")
    lines.append(f"    return {_broken_expr(rule, row_expr)}")
    provers: list[tuple[str, str, str, str]] = []
    for j, cond in enumerate(rule.require):
        op = OPS[cond.op]
        form = op.column(cond, op.proven(cond, asserted))
        fn = _holds_name(index, j)
        if form == "pairs":
            lines.append(f"def {fn}(v, o):")
            lines.append(
                f"    return {gen.condition(cond, {cond.field: 'v', cond.arg: 'o'}, asserted)}"
            )
        elif form == "distinct":
            if len(names) == 1:  # a one-member rule's distinct rows are this test already
                continue
            lines.append(f"def {fn}(v):")
            lines.append(f"    return {gen.condition(cond, {cond.field: 'v'}, asserted)}")
        provers.append((form, cond.field, str(cond.arg), fn))
    return _ColumnRecipe(tuple(zip(names, presence_only, strict=False)), tuple(provers))


def _column_rule(
    recipe: _ColumnRecipe, index: int, ns: Mapping[str, Any]
) -> fast_columns.ColumnRule:
    from . import fast_columns

    provers: list[fast_columns.Prover] = []
    for form, member, arg, fn in recipe.provers:
        if form == "present":
            provers.append(fast_columns.present_all(member))
        elif form == "check":
            provers.append(fast_columns.check_all(member, arg))
        elif form == "date-times":
            provers.append(fast_columns.date_times_not_before(member, arg))
        elif form == "pairs":
            provers.append(fast_columns.pairs_all(member, arg, ns[fn]))
        else:
            provers.append(fast_columns.distinct_all(member, ns[fn]))
    return fast_columns.ColumnRule(recipe.key, tuple(provers), ns[_broken_name(index)])
