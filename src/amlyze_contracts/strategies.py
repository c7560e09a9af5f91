"""Hypothesis strategies for request bodies, made by the contract suite's generator.

* :func:`items` / :func:`bodies`: values valid under every error rule (some carry a
  warning, as the suite's positive batches do);
* :func:`breaking`: bodies whose errors are exactly one rule, built the way the
  suite builds its targeted cases (the rule's own ``when``/``require`` data, the
  schema's keywords) and confirmed by the validator before they are drawn;
* :func:`breakable`: the rule ids :func:`breaking` accepts.

Everything comes from :mod:`amlyze_contracts.contract.generate` (``ItemModel``) and
the one rule set; nothing here knows a rule. ``revision`` is a date of
``revisions.yaml`` or ``latest``; without it, the default revision (whose documents
are the bundled specs). Single operations (``createAccount``,
``registerAccountBalance``) have one item as their body.

Known data: classifier rules are broken and kept relative to a classifier snapshot
(``classifiers``, default the reference server's), customers are drawn from
``customers`` (default the reference server's). Identifiers that must be unique
(``communicationNumber``, ``accountExtId``) are unique per draw:
``<run_id>-<counter>-...``, the counter per strategy, so a seed gives the same values
in a fresh process; pass another ``run_id`` per run against a server that keeps its
state.

Importing this module imports neither Hypothesis nor the generator: building a
strategy does (the ``contract`` extra; without it, :class:`~.extras.MissingExtra`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import extras

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

    from .contract.generate import ItemModel, Target

__all__ = ["DEFAULT_MAX_ITEMS", "bodies", "breakable", "breaking", "items"]

DEFAULT_MAX_ITEMS = 5
DEFAULT_RUN_ID = "amlyze"
# Siblings beside a broken item in a batch body (valid, so the errors stay one rule's).
_MAX_SIBLINGS = 2

Classifiers = Mapping[str, Iterable[str]]


def items(
    operation_id: str,
    revision: str | None = None,
    *,
    classifiers: Classifiers | None = None,
    customers: Iterable[str] | None = None,
    run_id: str = DEFAULT_RUN_ID,
) -> SearchStrategy[dict[str, Any]]:
    """One item of a batch operation (or a single operation's whole body), valid under
    every error rule."""
    model = _model(operation_id, revision, classifiers, customers)  # the extra first
    from .contract.generate import positive_items

    return positive_items(model).map(_realizer(run_id))


def bodies(
    operation_id: str,
    min_items: int = 1,
    max_items: int = DEFAULT_MAX_ITEMS,
    revision: str | None = None,
    *,
    classifiers: Classifiers | None = None,
    customers: Iterable[str] | None = None,
    run_id: str = DEFAULT_RUN_ID,
) -> SearchStrategy[dict[str, Any]]:
    """Request bodies valid under every error rule: ``{"accounts": [...]}`` with
    ``min_items`` to ``max_items`` items, or a single operation's one item."""
    if not 0 <= min_items <= max_items:
        raise ValueError(f"need 0 <= min_items <= max_items, got {min_items} and {max_items}")
    model = _model(operation_id, revision, classifiers, customers)
    from .contract.generate import positive_batches

    key = model.item_key
    if key is None:
        if not min_items <= 1 <= max_items:
            raise ValueError(
                f"{operation_id}'s body is one item: min_items/max_items must allow 1, "
                f"got {min_items} and {max_items}"
            )
        return items(
            operation_id, revision, classifiers=classifiers, customers=customers, run_id=run_id
        )
    realize = _realizer(run_id)
    batches = positive_batches(model, max_items=max_items, min_items=min_items)
    return batches.map(lambda batch: {key: realize(batch.items)})


def breaking(
    rule_id: str,
    operation_id: str | None = None,
    revision: str | None = None,
    *,
    classifiers: Classifiers | None = None,
    customers: Iterable[str] | None = None,
    run_id: str = DEFAULT_RUN_ID,
) -> SearchStrategy[dict[str, Any]]:
    """Request bodies whose errors are exactly ``{rule_id}``: one item breaks it, beside
    up to two valid ones (a batch), or the body is that item (a single operation).

    Without ``operation_id``: the first operation of the revision (revisions.yaml
    order: batchAccounts for the account rules) whose bodies can break the rule.
    An unknown rule, or one no body of the operation can break alone, is a
    ``ValueError`` naming the rules that can be broken."""
    if operation_id is None:
        operation_id = _first_operation(rule_id, revision)
    model = _model(operation_id, revision, classifiers, customers)  # the extra first
    from hypothesis import strategies as st

    targets = [t for t in _targets(model) if t.rule == rule_id]
    if not targets:
        raise ValueError(
            f"{_unknown(rule_id)}; {operation_id} bodies can break: {', '.join(_breakable(model))}"
        )
    broken = st.one_of([model.broken_items(t).map(lambda pair: pair[0]) for t in targets])
    realize = _realizer(run_id)
    key = model.item_key
    if key is None:
        return broken.map(realize)

    @st.composite
    def body(draw: st.DrawFn) -> dict[str, Any]:
        siblings = draw(st.lists(model.valid_items(), max_size=_MAX_SIBLINGS))
        siblings.insert(draw(st.integers(0, len(siblings))), draw(broken))
        return {key: realize(siblings)}

    return body()


def breakable(operation_id: str | None = None, revision: str | None = None) -> list[str]:
    """The rule ids :func:`breaking` accepts for the operation (without one: for any
    operation of the revision), in catalogue order."""
    ops = [operation_id] if operation_id is not None else _body_operations(revision)
    found: set[str] = set()
    for op in ops:
        found.update(_breakable(_model(op, revision, None, None)))
    return [r for r in _catalogue_order() if r in found]


# ------------------------------------------------------------------ helpers


def _require_hypothesis() -> None:
    extras.require("contract", "amlyze_contracts.strategies", ("hypothesis",))


def _revision_name(revision: str | None) -> str:
    from . import revisions

    table = revisions.table()
    return table.resolve(revision or table.default).name  # SpecError names the known ones


def _body_operations(revision: str | None) -> list[str]:
    """The revision's operations with a JSON request body, in revisions.yaml order."""
    from . import revisions

    ops = revisions.resolve(_revision_name(revision)).operations()
    return [op_id for op_id, op in ops.items() if op.request_schema is not None]


def _model(
    operation_id: str,
    revision: str | None,
    classifiers: Classifiers | None,
    customers: Iterable[str] | None,
) -> ItemModel:
    _require_hypothesis()
    frozen = (
        None
        if classifiers is None
        else tuple(sorted((name, frozenset(codes)) for name, codes in classifiers.items()))
    )
    people = None if customers is None else tuple(customers)
    return _cached_model(operation_id, _revision_name(revision), frozen, people)


@functools.lru_cache(maxsize=64)
def _cached_model(
    operation_id: str,
    revision: str,
    classifiers: tuple[tuple[str, frozenset[str]], ...] | None,
    customers: tuple[str, ...] | None,
) -> ItemModel:
    from . import revisions
    from .contract.generate import ItemModel, knowledge
    from .server import fixtures

    rev = revisions.resolve(revision)
    if rev.operation(operation_id).request_schema is None:
        with_body = ", ".join(_body_operations(revision))
        raise ValueError(f"{operation_id} has no request body (operations with one: {with_body})")
    snapshot = fixtures.FIXTURE_CLASSIFIERS if classifiers is None else dict(classifiers)
    people = tuple(sorted(fixtures.CUSTOMERS)) if customers is None else customers
    return ItemModel(operation_id, knowledge(snapshot, people, rev.name))


def _targets(model: ItemModel) -> list[Target]:
    """The suite's targets a body can break alone under the model's classifier
    snapshot (a classifier rule needs its classifier in it; known data is no rule)."""
    from .contract.generate import KNOWN_CUSTOMER

    snapshot = model.knowledge.classifiers
    by_id = model.knowledge.ruleset.by_id

    def usable(target: Target) -> bool:
        if target.rule == "common.classifier":
            return bool(model.classifier_codes(target.member or ""))
        classifier = by_id[target.rule].classifier if target.rule in by_id else None
        return target.rule != KNOWN_CUSTOMER and (classifier is None or classifier in snapshot)

    return [t for t in model.targets() if usable(t)]


def _breakable(model: ItemModel) -> list[str]:
    found = {t.rule for t in _targets(model)}
    return [r for r in _catalogue_order() if r in found]


def _catalogue_order() -> list[str]:
    from .catalogue import load_rules

    return list(load_rules().by_id)


def _unknown(rule_id: str) -> str:
    if rule_id in _catalogue_order():
        return f"no body can break {rule_id} alone"
    return f"unknown rule {rule_id!r}"


def _first_operation(rule_id: str, revision: str | None) -> str:
    for op in _body_operations(revision):
        if rule_id in _breakable(_model(op, revision, None, None)):
            return op
    raise ValueError(
        f"{_unknown(rule_id)}; rules a body can break: {', '.join(breakable(None, revision))}"
    )


def _realizer(run_id: str) -> Any:
    """A function giving each draw's placeholders fresh unique values (per strategy)."""
    from .contract.generate import Uniques, realize

    # Short: boundary-length identifiers are cut to their maxLength after this prefix.
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,16}", run_id):
        raise ValueError(f"run_id must be 1 to 16 of A-Z a-z 0-9 _ -, got {run_id!r}")
    uniques = Uniques(run_id)
    return lambda template: realize(template, uniques)
