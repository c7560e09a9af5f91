"""``--revision auto``: which vendor revision a server implements, from its answers.

Two kinds of probe, both harmless, through the run's own client (its timeout, body
limit and the run's time budget):

1. every method and path the revisions give an AMLYZE operation, once: an empty batch
   or an empty item (invalid: nothing is written). 404 or 405 there: the server has
   no such operation with that method (``registerBatchAccountBalances`` is ``PUT``
   until 2024-11-05, ``POST`` from 2024-11-28; the single operations' paths).
2. where the revisions still left differ in an operation's item (``updateAt`` until
   2024-11-04, ``balanceAt`` after), one valid item per form, with fresh per-run
   identifiers (nothing a later check meets again): accepted or not.

A revision fits when every one of its operations answered and its item form was not
the rejected one. Several fit: the latest is tested (the line says which others fit,
and whether they name the same documents); none: the run stops (exit 2) naming what
did not answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import revisions
from .client import Received
from .config import (
    BATCH_OPERATIONS,
    SINGLE_OPERATIONS,
    TOKEN_ENV,
    Misconfigured,
    operation_of,
    revision_operations,
)
from .scenarios import Endpoints, accepted, base_item, batch_case

if TYPE_CHECKING:
    from .runner import Runner

PREFIX = "revision auto"
ABSENT = (404, 405)  # no such operation, or not with this method


@dataclass(frozen=True)
class Detected:
    revision: str
    line: str  # what was found, for the report's first line


def _amlyze(revision: str) -> list[str]:
    return [
        op
        for op in revision_operations(revision)
        if op in BATCH_OPERATIONS or op in SINGLE_OPERATIONS
    ]


def detect(runner: Runner) -> Detected:
    """The revision the server at the run's base URL implements (:class:`Misconfigured`
    when none fits)."""
    table = revisions.table()
    names = table.names()
    answers = _probe_paths(runner, names)
    fits = [name for name in names if all(_present(answers, name, op) for op in _amlyze(name))]
    if not fits:
        raise Misconfigured(f"{PREFIX}: no revision fits the server's answers: {_absent(answers)}")
    items: list[str] = []
    fits = _probe_items(runner, fits, items)
    chosen = fits[-1]  # the revisions' table is in date order: the latest that fits
    evidence = [*_methods(answers, chosen), *items, _found(chosen)]
    line = f"{PREFIX}: detected {chosen} ({'; '.join(e for e in evidence if e)})"
    others = fits[:-1]
    if others:
        same = [
            n for n in others if table.revisions[n].documents == table.revisions[chosen].documents
        ]
        line += "; " + ", ".join(others) + " fit" + ("s" if len(others) == 1 else "") + " too"
        line += ": the same documents" if same == others else ": the latest that fits is tested"
    return Detected(chosen, line)


# ------------------------------------------------------------------ methods and paths


def _probe_paths(runner: Runner, names: list[str]) -> dict[tuple[str, str], Received]:
    """(method, path) -> the answer to a harmless request, once per distinct pair."""
    answers: dict[tuple[str, str], Received] = {}
    for name in names:
        endpoints = _endpoints(runner, name)
        options = runner.options.with_(revision=name)
        for op_id in _amlyze(name):
            op = operation_of(op_id, name)
            if (op.method, op.path) in answers or runner.out_of_time():
                continue
            sent = batch_case(options, endpoints, op_id, "revision probe", []).sent
            got = runner._send(sent)
            if got.unreachable:
                from .runner import Unreachable

                raise Unreachable(f"{sent.method} {sent.url}: {got.error}")
            answers[(op.method, op.path)] = got
    statuses = [got.status for got in answers.values() if not got.error]
    if statuses and all(status in (401, 403) for status in statuses):
        method, path = next(iter(answers))
        raise Misconfigured(
            f"credentials rejected: {method} {runner.endpoints.base_url}{path} got "
            f"{statuses[0]} with the given token (as did every other probe of --revision "
            f"auto); check --token or {TOKEN_ENV}"
        )
    return answers


def _present(answers: dict[tuple[str, str], Received], revision: str, op_id: str) -> bool:
    op = operation_of(op_id, revision)
    got = answers.get((op.method, op.path))
    # No answer (cut by the budget, a transport error): no evidence either way.
    return got is None or bool(got.error) or got.status not in ABSENT


def _absent(answers: dict[tuple[str, str], Received]) -> str:
    gone = [
        f"{m} {p} answered {got.status}" for (m, p), got in answers.items() if got.status in ABSENT
    ]
    return "; ".join(gone) + " (without --revision the suite tests the seeds' three operations)"


def _methods(answers: dict[tuple[str, str], Received], chosen: str) -> list[str]:
    """For an operation whose method differs between revisions: which one answered."""
    out = []
    for op_id, op in revision_operations(chosen).items():
        others = {
            o.method
            for name in revisions.names()
            if (o := revision_operations(name).get(op_id)) is not None and o.method != op.method
        }
        if not others or (op_id not in BATCH_OPERATIONS and op_id not in SINGLE_OPERATIONS):
            continue
        refused = ", ".join(
            f"{m}: {got.status}"
            for m in sorted(others)
            if (got := answers.get((m, op.path))) is not None and not got.error
        )
        out.append(f"{op_id} answers {op.method}" + (f" ({refused})" if refused else ""))
    return out


def _found(chosen: str) -> str:
    from ..domain import OPERATIONS

    new = [op for op in _amlyze(chosen) if op not in OPERATIONS]
    return ", ".join(new) + " found" if new else ""


# ------------------------------------------------------------------ item forms


def _probe_items(runner: Runner, fits: list[str], evidence: list[str]) -> list[str]:
    """Narrow ``fits`` by the item forms that still differ between them (e.g.
    ``updateAt`` / ``balanceAt``): one valid item per form; forms rejected drop their
    revisions, unless every form was rejected (no evidence: the server rejects the
    item for another reason, which the run itself will report)."""
    for op_id in _amlyze(fits[-1]):
        if len(fits) < 2 or runner.out_of_time():
            break
        forms: dict[tuple[str, ...], list[str]] = {}
        items: dict[tuple[str, ...], dict[str, Any]] = {}
        for name in fits:
            if op_id not in revision_operations(name):
                continue
            item = base_item(runner.options.with_(revision=name), op_id, runner.uniques)
            shape = tuple(sorted(item))
            forms.setdefault(shape, []).append(name)
            items.setdefault(shape, item)
        if len(forms) < 2:
            continue
        verdicts: dict[tuple[str, ...], bool] = {}
        for shape, names in forms.items():
            name = names[0]
            case = batch_case(
                runner.options.with_(revision=name),
                _endpoints(runner, name),
                op_id,
                "revision probe",
                [items[shape]],
            )
            got = runner._send(case.sent)
            verdicts[shape] = accepted(got, 0, single=op_id in SINGLE_OPERATIONS)
        if not any(verdicts.values()):
            continue
        kept = {name for shape, ok in verdicts.items() if ok for name in forms[shape]}
        fits = [name for name in fits if name in kept or op_id not in revision_operations(name)]
        evidence.append(_items_evidence(op_id, forms, verdicts))
    return fits


def _items_evidence(
    op_id: str, forms: dict[tuple[str, ...], list[str]], verdicts: dict[tuple[str, ...], bool]
) -> str:
    """E.g. "registerBatchAccountBalances: an item with balanceAt accepted, with updateAt
    rejected" (the members one form has and the others do not)."""
    every = set.intersection(*(set(shape) for shape in forms))
    parts = []
    for shape, ok in verdicts.items():
        own = ", ".join(sorted(set(shape) - every)) or "no extra member"
        parts.append(f"with {own} {'accepted' if ok else 'rejected'}")
    return f"{op_id}: an item " + ", ".join(parts)


def _endpoints(runner: Runner, revision: str) -> Endpoints:
    e = runner.endpoints
    return Endpoints(e.base_url, e.brm_base_url, revision)
