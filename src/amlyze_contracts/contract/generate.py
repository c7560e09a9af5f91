"""Hypothesis strategies for batch items, driven by the bundled specs and the rule
catalogue.

* ``valid_items``: an item valid under every rule and the server's known data. Field
  values come from the item schema (types, enums, maxLength, formats, classifiers),
  the known fixtures, and the catalogue's patterns; then every declarative error rule
  the draw happens to break is *repaired* from the rule's own conditions.
* ``broken_items(target)``: a valid item with exactly one rule broken. A declarative
  rule is broken by making its ``when`` conditions hold and one ``require`` fail;
  schema rules by removing a required member, a wrong type, a value outside the
  enum, one character too many, a malformed date-time; classifier rules by a code the
  classifier lacks.

The one rule set decides: every generated item is validated with
``validate_request`` and kept only when the reported errors are exactly the target.
Identifiers are placeholders (:class:`Fresh`) made unique at send time, so
Hypothesis can replay and shrink an example without colliding with the server's
state (a replay with the same communicationNumber would be an O005).
"""

from __future__ import annotations

import functools
import itertools
import secrets
import string
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from .. import conditions
from ..catalogue import Rule, RuleSet, load_rules
from ..conditions import Condition
from ..engine.api import validate_request
from ..formats import is_iban
from ..specs import SCHEMA_NAME
from ..violations import Report
from .config import operation_of

REMOVE: Any = type("Remove", (), {"__repr__": lambda self: "<remove>"})()
# Members whose values must be unique per run (echoed, or remembered by the server).
FRESH_FIELDS = frozenset({"communicationNumber", "accountExtId"})
# Members that name the server's known data (CONTRACT.md section 4).
CUSTOMER_FIELD = "businessEntityExtId"
# "UPDATE" replaces an existing account's data; for a fresh account only CREATE is
# unambiguous, so positive items never send UPDATE (the stateful sequence does).
FIXED_VALUES: Mapping[str, tuple[Any, ...]] = {"action": ("CREATE",)}
VALID_IBANS = ("LT121000011101001000", "DE89370400440532013000", "LI6508800274335945523")
BAD_DATE_TIMES = (
    "2023-13-01T00:00:00Z",
    "2023-09-05",
    "05.09.2023 08:07",
    "2023-09-05T25:00:00Z",
    "2023-02-29T00:00:00Z",
    "2023-09-05 08:07:34",
    "yesterday",
)


@dataclass(frozen=True)
class Fresh:
    """A per-send unique identifier: ``<unique part><tail>``, padded or cut to
    ``length`` when given (boundary lengths)."""

    tail: str = ""
    length: int | None = None

    def realize(self, unique: str) -> str:
        value = unique + self.tail
        if self.length is not None:
            value = value[: self.length].ljust(self.length, "x")
        return value


class Uniques:
    """Per-run unique identifier parts: a short random run id plus a counter."""

    def __init__(self, run_id: str | None = None) -> None:
        self.run_id = run_id or "".join(
            secrets.choice(string.ascii_lowercase + string.digits) for _ in range(6)
        )
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self.run_id}-{next(self._counter):05d}-"


def realize(template: Any, uniques: Uniques) -> Any:
    """Replace every :class:`Fresh` in a (nested) template with a unique value."""
    if isinstance(template, Fresh):
        return template.realize(uniques.next())
    if isinstance(template, dict):
        return {k: realize(v, uniques) for k, v in template.items()}
    if isinstance(template, list):
        return [realize(v, uniques) for v in template]
    return template


_PROBE_UNIQUES = Uniques("probe0")


def _concrete(template: Any) -> Any:
    return realize(template, _PROBE_UNIQUES)


# ------------------------------------------------------------------ values

# Letters of several scripts, digits, punctuation, spaces: mixed case and non-ASCII,
# within the BMP (text beyond it is an interop case: scenarios.INTEROP_TEXT).
TEXT_ALPHABET = st.characters(
    codec="utf-8",
    categories=("Lu", "Ll", "Lo", "Nd", "Pd", "Po", "Zs", "Sm"),
    max_codepoint=0xFFFF,
)
ASCII_TAIL = st.text(string.ascii_letters + string.digits + "-_.", max_size=12)


@functools.lru_cache(maxsize=256)  # one strategy object per size range (validated once)
def text(min_size: int = 1, max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(TEXT_ALPHABET, min_size=min_size, max_size=max_size).filter(
        lambda s: s.strip() != ""
    )


@st.composite
def date_times(draw: st.DrawFn, after: datetime | None = None) -> str:
    """RFC 3339 date-times that every mainstream parser reads (CONTRACT.md 3.1):
    upper-case T and Z, offsets within +-14:00, 0 or 3 fraction digits, no leap
    second. RFC-legal values beyond these are scenarios.INTEROP_DATE_TIMES."""
    low = after or datetime(1990, 1, 1, tzinfo=UTC)
    moment = draw(
        st.datetimes(
            min_value=low.replace(tzinfo=None) + timedelta(seconds=1),
            max_value=datetime(2099, 12, 31),
        )
    ).replace(tzinfo=UTC)
    offset_min = draw(st.sampled_from((0, 0, 60, 120, -300, 330)))
    local = moment.astimezone(timezone(timedelta(minutes=offset_min)))
    digits = draw(st.sampled_from((0, 3)))
    base = local.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        base += f".{local.microsecond:06d}"[: digits + 1]
    if offset_min == 0 and draw(st.booleans()):
        return base + "Z"
    sign = "+" if offset_min >= 0 else "-"
    return f"{base}{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"


def _instant(value: Any) -> datetime | None:
    from ..formats import parse_instant

    return parse_instant(value)


@dataclass(frozen=True)
class Knowledge:
    """What generation may use: the rule set, classifiers, known customers, and the
    vendor revision whose documents define the items (None: the default revision)."""

    ruleset: RuleSet
    classifiers: Mapping[str, frozenset[str]]
    customers: tuple[str, ...]
    revision: str | None = None


class ItemModel:
    """One operation's item schema, with the rules that apply to it: a batch's item,
    or the body of a single operation (one account, one balance); then ``item_key``
    is None and a "batch" of items is sent one item at a time."""

    def __init__(self, operation_id: str, knowledge: Knowledge) -> None:
        op = operation_of(operation_id, knowledge.revision)
        self.document = op.spec  # the revision's document (validated against directly: fast)
        self.operation_id = operation_id
        self.item_key: str | None = None
        if op.batch_item is not None:
            self.item_key, self.schema = op.batch_item
        else:
            schema = op.request_schema
            assert schema is not None, f"{operation_id} has no request body"
            self.schema = schema
        self.name: str = self.schema.get(SCHEMA_NAME, "")
        self.props: Mapping[str, Any] = self.schema.get("properties") or {}
        self.required: tuple[str, ...] = tuple(self.schema.get("required") or ())
        self.knowledge = knowledge
        rs = knowledge.ruleset
        self.rules: list[Rule] = [
            r
            for r in rs.declarative()
            if r.applies_to == self.name
            or (r.applies_to == "*" and set(r.fields) <= set(self.props))
        ]
        # member -> classifier name (x-dynamic-enum)
        self.dynamic: dict[str, str] = {}
        for name, sub in self.props.items():
            dyn = sub.get("x-dynamic-enum") if isinstance(sub, Mapping) else None
            if isinstance(dyn, Mapping) and isinstance(dyn.get("path"), str):
                self.dynamic[name] = dyn["path"].rstrip("/").rsplit("/", 1)[-1]
        # Patterns a warning rule requires: draw from them so items stay warning-free.
        self.patterns: dict[str, str] = {}
        # Strategies made once per model: Hypothesis validates a strategy object the
        # first time it draws from it, so a fresh object per draw costs that each time.
        self._values: dict[str, st.SearchStrategy[Any]] = {}
        self._valid_items: st.SearchStrategy[dict[str, Any]] | None = None
        for rule in self.rules:
            for cond in rule.require:
                if cond.op == "matches":
                    self.patterns.setdefault(cond.field, cond.arg)

    # -------------------------------------------------------------- validation

    def validate(self, items: list[Any]) -> Report:
        """A batch of ``items`` (a single operation: its one item)."""
        return validate_request(
            self.operation_id,
            {self.item_key: items} if self.item_key else items[0],
            classifiers=dict(self.knowledge.classifiers),
            spec=self.document,
            positions=False,
        )

    def errors_of(self, template: Any) -> tuple[set[str], Report]:
        report = self.validate([_concrete(template)])
        return {v.rule for v in report.errors}, report

    # -------------------------------------------------------------- field values

    def classifier_codes(self, member: str) -> tuple[str, ...]:
        return tuple(sorted(self.knowledge.classifiers.get(self.dynamic[member], ())))

    def value(self, member: str) -> st.SearchStrategy[Any]:
        """A valid value for one member (schema, fixtures, catalogue patterns)."""
        found = self._values.get(member)
        if found is None:
            found = self._values[member] = self._value(member)
        return found

    def _value(self, member: str) -> st.SearchStrategy[Any]:
        sub = self.props.get(member) or {}
        if member in FRESH_FIELDS:
            limit = sub.get("maxLength")
            return st.builds(
                Fresh,
                st.one_of(ASCII_TAIL, text(0, 12)),
                st.one_of(st.none(), st.just(limit)) if limit else st.none(),
            )
        if member == CUSTOMER_FIELD:
            return st.sampled_from(self.knowledge.customers)
        if member in FIXED_VALUES:
            return st.sampled_from(FIXED_VALUES[member])
        if member in self.dynamic and self.classifier_codes(member):
            return st.sampled_from(self.classifier_codes(member))
        if "enum" in sub:
            return st.sampled_from(list(sub["enum"]))
        if member in self.patterns:
            return st.from_regex(self.patterns[member], fullmatch=True)
        kind = sub.get("type")
        if sub.get("format") == "date-time":
            return date_times()
        if kind == "boolean":
            return st.booleans()
        if kind == "number":
            return st.one_of(
                st.integers(-(10**12), 10**12),
                st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False),
                st.sampled_from((0, -0.01, 11111111111.0)),
            )
        if kind == "integer":
            return st.integers(0, 10**6)
        if member == "accountNumber":
            return st.one_of(st.sampled_from(VALID_IBANS), text(1, 34))
        limit = sub.get("maxLength")
        if limit:
            # Boundary lengths: exactly the limit, or short text.
            return st.one_of(text(1, min(limit, 30)), text(limit, limit))
        return text(1, 40)

    # -------------------------------------------------------------- conditions

    def satisfy(self, cond: Condition, item: dict[str, Any]) -> st.SearchStrategy[Any]:
        return conditions.satisfy(self, cond, item)  # the condition's own entry

    def violate(self, cond: Condition, item: dict[str, Any]) -> st.SearchStrategy[Any]:
        return conditions.violate(self, cond, item)

    def _set(self, name: str, member: str) -> frozenset[str]:
        if name.startswith("classifier:"):
            return self.knowledge.classifiers.get(name.split(":", 1)[1], frozenset())
        rule_set = self.knowledge.ruleset.sets.get(name, frozenset())
        # A classifier snapshot narrows the static set (e.g. currencies).
        if member in self.dynamic and self.classifier_codes(member):
            return rule_set & frozenset(self.classifier_codes(member)) or rule_set
        return rule_set

    # -------------------------------------------------------------- items

    def _broken_rules(self, item: dict[str, Any]) -> list[Rule]:
        """Declarative error rules the item breaks (to repair them)."""
        errors, _ = self.errors_of(item)
        return [r for r in self.rules if r.id in errors and r.severity == "error"]

    @st.composite
    def _valid(draw: st.DrawFn, self: ItemModel) -> dict[str, Any]:
        item: dict[str, Any] = {}
        for member in self.props:
            if member in self.required or draw(st.booleans()):
                item[member] = draw(self.value(member))
        # Repair what the random draw broke, using each rule's own conditions.
        for _ in range(4):
            broken = self._broken_rules(item)
            if not broken:
                break
            for rule in broken:
                if rule.require:
                    for cond in rule.require:
                        _put(item, cond.field, draw(self.satisfy(cond, item)))
                elif rule.target_field:
                    item.pop(rule.target_field, None)
        errors, _ = self.errors_of(item)
        assume(not errors)
        return item

    def valid_items(self) -> st.SearchStrategy[dict[str, Any]]:
        if self._valid_items is None:
            self._valid_items = self._valid()
        return self._valid_items

    def targets(self) -> list[Target]:
        """Every error-severity request rule an item of this operation can break alone."""
        out: list[Target] = []
        for member in self.required:
            out.append(Target("schema.required", member))
        for member, sub in self.props.items():
            if not isinstance(sub, Mapping):
                continue
            # A wrong type also leaves an enum, so those members get the enum target only.
            if sub.get("type") and "enum" not in sub:
                out.append(Target("schema.type", member))
            if "enum" in sub:
                out.append(Target("schema.enum", member))
            # Too long for a classifier-backed member is also "not in the classifier".
            if sub.get("maxLength") and member not in self.dynamic:
                out.append(Target("schema.maxLength", member))
            if sub.get("format") == "date-time":
                out.append(Target("schema.format", member))
        claimed = {r.classifier for r in self.rules if r.classifier}
        for member, classifier in self.dynamic.items():
            if classifier in claimed:
                continue  # its own rule (e.g. common.currency-code) is listed below
            out.append(Target("common.classifier", member))
        for rule in self.rules:
            effective = "error" if rule.classifier else rule.severity
            if effective == "error":
                out.append(Target(rule.id))
        if CUSTOMER_FIELD in self.props:
            out.append(Target(KNOWN_CUSTOMER, CUSTOMER_FIELD, "404"))
        return out

    def warning_targets(self) -> list[Target]:
        """Warning rules: breaking one leaves the item valid (it must be accepted)."""
        return [
            Target(r.id) for r in self.rules if r.severity == "warning" and not r.classifier
        ] + [Target("common.unknown-field", "accountNickname")]

    @st.composite
    def _broken(draw: st.DrawFn, self: ItemModel, target: Target) -> tuple[dict[str, Any], Report]:
        item = dict(draw(self.valid_items()))
        member = target.member
        if target.rule == "schema.required":
            item.pop(member or "", None)
        elif target.rule == "schema.type":
            kind = (self.props.get(member or "") or {}).get("type")
            _put(item, member or "", draw(_of_type(_other_type(kind))))
        elif target.rule == "schema.enum":
            allowed = (self.props.get(member or "") or {}).get("enum") or []
            item[member or ""] = draw(
                st.one_of(st.sampled_from([v.lower() for v in allowed]), text(1, 10)).filter(
                    lambda v: v not in allowed
                )
            )
        elif target.rule == "schema.maxLength":
            limit = int((self.props.get(member or "") or {})["maxLength"])
            extra = draw(st.integers(1, 3))
            item[member or ""] = (
                Fresh(draw(ASCII_TAIL), limit + extra)
                if member in FRESH_FIELDS
                else draw(text(limit + extra, limit + extra))
            )
        elif target.rule == "schema.format":
            item[member or ""] = draw(st.sampled_from(BAD_DATE_TIMES))
        elif target.rule == "common.classifier":
            codes = set(self.classifier_codes(member or ""))
            item[member or ""] = draw(
                st.one_of(
                    st.sampled_from(sorted(c.lower() for c in codes) or ["x"]),
                    st.from_regex(r"\A[A-Z_]{3,12}\Z"),
                ).filter(lambda v: v not in codes)
            )
        elif target.rule == KNOWN_CUSTOMER:
            item[member or ""] = Fresh("UNKNOWN-CUSTOMER")
        elif target.rule == "common.unknown-field":
            item[draw(st.sampled_from(("accountNickname", "comment", "extra_Ž")))] = draw(
                text(1, 10)
            )
        else:
            rule = self.knowledge.ruleset.by_id[target.rule]
            for cond in rule.when:
                _put(item, cond.field, draw(self.satisfy(cond, item)))
            if rule.require:
                cond = draw(st.sampled_from(rule.require))
                _put(item, cond.field, draw(self.violate(cond, item)))
        errors, report = self.errors_of(item)
        if target.severity == "warning":
            assume(not errors and target.rule in report.rules())
        elif target.rule == KNOWN_CUSTOMER:
            assume(not errors)
        else:
            assume(errors == {target.rule})
        return item, report

    def broken_items(self, target: Target) -> st.SearchStrategy[tuple[dict[str, Any], Report]]:
        return self._broken(target)


KNOWN_CUSTOMER = "known-data.customer"


@dataclass(frozen=True)
class Target:
    """One rule to break: a rule id, the member for schema rules, the vendor code
    when it is not the validator's (known data)."""

    rule: str
    member: str | None = None
    code: str | None = None
    severity: str = "error"

    @property
    def label(self) -> str:
        if self.rule == KNOWN_CUSTOMER:
            return "known data: unknown businessEntityExtId"
        return f"{self.rule}" + (f" ({self.member})" if self.member else "")


def expected_code(target: Target, report: Report, item_key: str | None) -> str | None:
    """The vendor code a rejection should carry: the target's, else the validator's."""
    if target.code:
        return target.code
    for v in report.errors:
        if v.rule == target.rule and v.code:
            return v.code
    return None


def _put(item: dict[str, Any], member: str, value: Any) -> None:
    if value is REMOVE:
        item.pop(member, None)
    else:
        item[member] = value


@functools.lru_cache(maxsize=16)
def _of_type(kind: str) -> st.SearchStrategy[Any]:
    return {
        "string": text(1, 8),
        "integer": st.integers(-1000, 1000),
        "number": st.floats(-1000, 1000, allow_nan=False),
        "boolean": st.booleans(),
        "array": st.lists(st.integers(), max_size=2),
        "object": st.just({}),
        "null": st.none(),
    }[kind]


def _other_type(kind: Any) -> str:
    return {
        "string": "integer",
        "number": "string",
        "integer": "string",
        "boolean": "string",
        "array": "object",
        "object": "array",
    }.get(str(kind), "null")


def _break_iban(iban: str) -> str:
    digits = (int(iban[2:4]) + 1) % 97 or 2
    broken = f"{iban[:2]}{digits:02d}{iban[4:]}"
    return broken if not is_iban(broken) else broken[:-1] + ("0" if broken[-1] != "0" else "1")


# ------------------------------------------------------------------ batches


@dataclass
class BatchTemplate:
    """A batch of item templates and what each item is expected to get."""

    items: list[Any]
    valid: frozenset[int]
    invalid: Mapping[int, tuple[str, str | None]]  # index -> (rule label, code)


def positive_items(model: ItemModel) -> st.SearchStrategy[dict[str, Any]]:
    """Items valid under every error rule: plain, or breaking one warning rule."""
    variants: list[st.SearchStrategy[dict[str, Any]]] = [model.valid_items()]
    variants += [
        model.broken_items(Target(t.rule, t.member, severity="warning")).map(lambda p: p[0])
        for t in model.warning_targets()
    ]
    return st.one_of(model.valid_items(), st.one_of(variants))


def positive_batches(
    model: ItemModel, max_items: int = 4, min_items: int = 1
) -> st.SearchStrategy[BatchTemplate]:
    """``min_items`` to ``max_items`` valid items (warnings allowed); one for a single
    operation."""
    if model.item_key is None:
        min_items = max_items = 1
    return st.lists(positive_items(model), min_size=min_items, max_size=max_items).map(
        lambda items: BatchTemplate(items, frozenset(range(len(items))), {})
    )


def negative_batches(model: ItemModel, target: Target) -> st.SearchStrategy[BatchTemplate]:
    """A broken item beside a valid one; for a single operation, the broken item alone."""

    @st.composite
    def build(draw: st.DrawFn) -> BatchTemplate:
        broken, report = draw(model.broken_items(target))
        if model.item_key is None:
            code = expected_code(target, report, None)
            return BatchTemplate([broken], frozenset(), {0: (target.label, code)})
        sibling = draw(model.valid_items())
        first = draw(st.booleans())
        items = [broken, sibling] if first else [sibling, broken]
        bad = 0 if first else 1
        code = expected_code(target, report, model.item_key)
        return BatchTemplate(items, frozenset({1 - bad}), {bad: (target.label, code)})

    return build()


def knowledge(
    classifiers: Mapping[str, frozenset[str]],
    customers: tuple[str, ...],
    revision: str | None = None,
) -> Knowledge:
    return Knowledge(load_rules(), dict(classifiers), customers, revision)


def iter_models(operation_ids: tuple[str, ...], know: Knowledge) -> Iterator[ItemModel]:
    for op in operation_ids:
        if operation_of(op, know.revision).batch_item:
            yield ItemModel(op, know)


Realizer = Callable[[Any], Any]
