"""The catalogue of injectable bugs.

Each bug is one small, realistic deviation, made by replacing or wrapping exactly
one of the server's ``Parts``; the correct implementations never see a bug flag.
Used to prove that the contract suite catches what it claims to catch.

A bug names the operations it is about (``Bug.operations``; empty: not one in
particular) and knows the vendor revisions under which it changes what the server
answers (``Bug.revisions``), so a mutation test runs each bug where it means something.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
import orjson

from ..domain import (
    CREATE_ACCOUNT,
    ECHOED_IDENTIFIERS,
    REGISTER_ACCOUNT_BALANCE,
    VALIDATE_BATCH_ACCOUNTS,
)
from ..violations import Violation
from . import parts as p
from .routes import Route, route
from .state import FOREIGN_ACCOUNT, REUSED, Claim, Rejection, StateStore

if TYPE_CHECKING:
    from ..revisions import Revision

Condition = Callable[["Revision"], bool]


@dataclass(frozen=True, slots=True)
class Bug:
    name: str
    description: str
    inject: Callable[[p.Parts], p.Parts]
    operations: tuple[str, ...] = ()  # the operationIds it is about; () = none in particular
    condition: Condition | None = None  # what else a revision needs for the bug to show

    @property
    def revisions(self) -> tuple[str, ...]:
        """The revisions (dates) under which the bug changes the server's answers: those
        whose documents define its operations and that meet its condition."""
        from .. import revisions

        return tuple(
            name
            for name, rev in revisions.table().revisions.items()
            if all(op in rev.documents for op in self.operations)
            and (self.condition is None or self.condition(rev))
        )


BUGS: dict[str, Bug] = {}


def _bug(
    name: str,
    description: str,
    operations: tuple[str, ...] = (),
    condition: Condition | None = None,
) -> Callable[[Callable[[p.Parts], p.Parts]], None]:
    def register(inject: Callable[[p.Parts], p.Parts]) -> None:
        BUGS[name] = Bug(name, description, inject, operations, condition)

    return register


def apply_bugs(parts: p.Parts, names: Iterable[str]) -> p.Parts:
    for name in names:
        parts = BUGS[name].inject(parts)
    return parts


def unknown_bugs(names: Iterable[str]) -> list[str]:
    return [name for name in names if name not in BUGS]


def pointless_bugs(names: Iterable[str], revision: str) -> list[str]:
    """The (known) bugs that change nothing under ``revision`` (a resolved date)."""
    return [name for name in names if name in BUGS and revision not in BUGS[name].revisions]


def bugs_for(revision: str) -> list[str]:
    """The names of the bugs that show under ``revision`` (a date or ``latest``)."""
    from .routes import revision_name

    name = revision_name(revision)
    return [bug for bug in sorted(BUGS) if name in BUGS[bug].revisions]


def _replace(parts: p.Parts, **changes: Any) -> p.Parts:
    return dataclasses.replace(parts, **changes)


# --- the rule set -----------------------------------------------------------------


def _drop_rules(
    parts: p.Parts, rules: Collection[str], operations: Collection[str] | None = None
) -> p.Parts:
    """The rules are not applied (to ``operations`` only, when given)."""
    inner = parts.validate

    def validate(route: Route, raw: bytes) -> Sequence[Violation]:
        found = inner(route, raw)
        if operations is not None and route.operation_id not in operations:
            return found
        return [v for v in found if v.rule not in rules]

    return _replace(parts, validate=validate)


@_bug("no-bic-rule", "accepts an external account (isOtherFinInstAccount true) without a bic")
def _(parts: p.Parts) -> p.Parts:
    return _drop_rules(parts, {"accounts.bic-required-for-external"})


@_bug("no-closing-date-rule", "accepts a CLOSED account without closingDate")
def _(parts: p.Parts) -> p.Parts:
    return _drop_rules(parts, {"accounts.closing-date-required"})


@_bug(
    "no-classifier-check",
    "classifiers not loaded: accepts any accountType/businessUnit/balanceType",
)
def _(parts: p.Parts) -> p.Parts:
    return _drop_rules(parts, {"common.classifier"})


@_bug(
    "warnings-reject", "treats warnings as errors: rejects valid items that merely carry a warning"
)
def _(parts: p.Parts) -> p.Parts:
    inner = parts.reject_items

    def reject_items(
        violations: Sequence[Violation], item_key: str | None, count: int
    ) -> dict[int, Rejection]:
        as_errors = [msgspec.structs.replace(v, severity="error") for v in violations]
        return inner(as_errors, item_key, count)

    return _replace(parts, reject_items=reject_items)


@_bug("rejection-without-code", "rejected results carry no errorCode")
def _(parts: p.Parts) -> p.Parts:
    inner = parts.build_result

    def build_result(item: Any, rejection: Rejection | None, elapsed_ms: int) -> dict[str, Any]:
        result = inner(item, rejection, elapsed_ms)
        result.pop("errorCode", None)
        return result

    return _replace(parts, build_result=build_result)


@_bug("generic-error-code", "every rejection carries code 001, whatever the rule's vendor code")
def _(parts: p.Parts) -> p.Parts:
    inner = parts.build_result

    def build_result(item: Any, rejection: Rejection | None, elapsed_ms: int) -> dict[str, Any]:
        generic = Rejection("001", rejection.description) if rejection is not None else None
        return inner(item, generic, elapsed_ms)

    return _replace(parts, build_result=build_result)


# --- known data and state ---------------------------------------------------------


@_bug("no-customer-check", "accepts accounts of an unknown businessEntityExtId (no 404 rejection)")
def _(parts: p.Parts) -> p.Parts:
    return _replace(parts, check_known_data=lambda operation_id, item: None)


# (inner store, operation, claims, record) -> decisions
ClaimFn = Callable[[StateStore, str, Sequence[Claim], bool], list[Rejection | None]]


@dataclass(frozen=True, slots=True)
class _StoreWrapper:
    """A store whose ``claim`` is replaced; ``close`` passes through."""

    inner: StateStore
    claim_fn: ClaimFn

    def claim(
        self, operation_id: str, claims: Sequence[Claim], *, record: bool = True
    ) -> list[Rejection | None]:
        return self.claim_fn(self.inner, operation_id, claims, record)

    def close(self) -> None:
        self.inner.close()


def _wrap_store(parts: p.Parts, claim: ClaimFn) -> p.Parts:
    return _replace(parts, store=_StoreWrapper(parts.store, claim))


def _ignoring(rejection: Rejection) -> ClaimFn:
    def claim(
        inner: StateStore, operation_id: str, claims: Sequence[Claim], record: bool
    ) -> list[Rejection | None]:
        decided = inner.claim(operation_id, claims, record=record)
        return [None if r == rejection else r for r in decided]

    return claim


@_bug("no-o005", "never rejects a reused communicationNumber (no O005)")
def _(parts: p.Parts) -> p.Parts:
    return _wrap_store(parts, _ignoring(REUSED))


@_bug("no-ownership-check", "lets another customer take over an account (no 003)")
def _(parts: p.Parts) -> p.Parts:
    return _wrap_store(parts, _ignoring(FOREIGN_ACCOUNT))


@_bug(
    "no-in-batch-o005",
    "detects communicationNumber reuse across requests only, not within one batch",
)
def _(parts: p.Parts) -> p.Parts:
    def claim(
        inner: StateStore, operation_id: str, claims: Sequence[Claim], record: bool
    ) -> list[Rejection | None]:
        seen: set[str | None] = set()
        repeats: set[int] = set()
        for i, c in enumerate(claims):
            if c.eligible and c.communication_number in seen:
                repeats.add(i)
            seen.add(c.communication_number)
        firsts = [
            dataclasses.replace(c, eligible=False) if i in repeats else c
            for i, c in enumerate(claims)
        ]
        return inner.claim(operation_id, firsts, record=record)

    return _wrap_store(parts, claim)


@_bug(
    "records-rejected",
    "records communicationNumbers of rejected items too, so a corrected resend gets O005",
)
def _(parts: p.Parts) -> p.Parts:
    def claim(
        inner: StateStore, operation_id: str, claims: Sequence[Claim], record: bool
    ) -> list[Rejection | None]:
        everything = [
            dataclasses.replace(c, eligible=c.communication_number is not None) for c in claims
        ]
        return inner.claim(operation_id, everything, record=record)

    return _wrap_store(parts, claim)


@_bug(
    "crash-at-max-length",
    "500 for a communicationNumber of exactly 255 characters (column sized 254)",
)
def _(parts: p.Parts) -> p.Parts:
    def claim(
        inner: StateStore, operation_id: str, claims: Sequence[Claim], record: bool
    ) -> list[Rejection | None]:
        for c in claims:
            if c.communication_number is not None and len(c.communication_number) >= 255:
                raise ValueError("value too long for type character varying(254)")
        return inner.claim(operation_id, claims, record=record)

    return _wrap_store(parts, claim)


# --- results ----------------------------------------------------------------------


def _wrap_result(
    parts: p.Parts, change: Callable[[dict[str, Any], Any, Rejection | None], None]
) -> p.Parts:
    inner = parts.build_result

    def build_result(item: Any, rejection: Rejection | None, elapsed_ms: int) -> dict[str, Any]:
        result = inner(item, rejection, elapsed_ms)
        change(result, item, rejection)
        return result

    return _replace(parts, build_result=build_result)


@_bug(
    "crash-on-non-ascii", "500 when an echoed identifier holds non-ASCII text (latin-1 only driver)"
)
def _(parts: p.Parts) -> p.Parts:
    def change(result: dict[str, Any], item: Any, rejection: Rejection | None) -> None:
        for key in ECHOED_IDENTIFIERS:
            if isinstance(result.get(key), str):
                result[key].encode("ascii")  # raises UnicodeEncodeError

    return _wrap_result(parts, change)


@_bug(
    "bad-result-type",
    "resultType is ACCEPTED/REJECTED instead of REQUEST_ACCEPTED/REQUEST_REJECTED",
)
def _(parts: p.Parts) -> p.Parts:
    def change(result: dict[str, Any], item: Any, rejection: Rejection | None) -> None:
        result["resultType"] = result["resultType"].removeprefix("REQUEST_")

    return _wrap_result(parts, change)


@_bug(
    "null-correlation",
    "echoes a missing communicationNumber/accountExtId as null instead of omitting it",
)
def _(parts: p.Parts) -> p.Parts:
    def change(result: dict[str, Any], item: Any, rejection: Rejection | None) -> None:
        result.setdefault("communicationNumber", None)
        result.setdefault("accountExtId", None)

    return _wrap_result(parts, change)


@_bug("business-unit-dropped", "results never echo the item's businessUnit")
def _(parts: p.Parts) -> p.Parts:
    def change(result: dict[str, Any], item: Any, rejection: Rejection | None) -> None:
        result.pop("businessUnit", None)

    return _wrap_result(parts, change)


def _wrap_batch(parts: p.Parts, change: Callable[[dict[str, Any]], None]) -> p.Parts:
    inner = parts.assemble_batch

    def assemble_batch(results: list[dict[str, Any]], total_ms: int) -> dict[str, Any]:
        body = inner(results, total_ms)
        change(body)
        return body

    return _replace(parts, assemble_batch=assemble_batch)


@_bug("results-reversed", "results come back in reverse item order")
def _(parts: p.Parts) -> p.Parts:
    return _wrap_batch(parts, lambda body: body["results"].reverse())


@_bug("drop-last-result", "the last item gets no result")
def _(parts: p.Parts) -> p.Parts:
    return _wrap_batch(parts, lambda body: body["results"].pop() if body["results"] else None)


@_bug(
    "total-time-below-items", "the batch timeElapsedMs excludes item time, so it is below an item's"
)
def _(parts: p.Parts) -> p.Parts:
    def change(body: dict[str, Any]) -> None:
        for result in body["results"]:
            result["timeElapsedMs"] = max(1, result["timeElapsedMs"])
        body["timeElapsedMs"] = 0

    return _wrap_batch(parts, change)


# --- request handling -------------------------------------------------------------


@_bug("malformed-json-500", "a body that is not JSON gets 500 instead of 400")
def _(parts: p.Parts) -> p.Parts:
    inner = parts.parse_batch

    def parse_batch(raw: bytes, item_key: str) -> list[Any] | None:
        orjson.loads(raw)  # the parse error escapes
        return inner(raw, item_key)

    return _replace(parts, parse_batch=parse_batch)


@_bug("missing-array-200", "a body without the item array gets 200 with no results instead of 400")
def _(parts: p.Parts) -> p.Parts:
    inner = parts.parse_batch

    def parse_batch(raw: bytes, item_key: str) -> list[Any] | None:
        items = inner(raw, item_key)
        return [] if items is None and raw.lstrip().startswith(b"{") else items

    return _replace(parts, parse_batch=parse_batch)


@_bug("auth-not-enforced", "the batch and BRM operations answer without credentials")
def _(parts: p.Parts) -> p.Parts:
    return _replace(parts, authorize=lambda header, token: True)


@_bug("any-token-accepted", "any bearer token is accepted; only the scheme is checked")
def _(parts: p.Parts) -> p.Parts:
    return _replace(
        parts,
        authorize=lambda header, token: header is not None and header[:7].lower() == b"bearer ",
    )


@_bug("wrong-content-type", "JSON responses are served as text/plain")
def _(parts: p.Parts) -> p.Parts:
    inner = parts.render

    def render(body: Any) -> tuple[bytes, bytes]:
        return inner(body)[0], b"text/plain; charset=utf-8"

    return _replace(parts, render=render)


# --- BRM --------------------------------------------------------------------------


@_bug(
    "brm-plus-as-space",
    "BRM id decoded like a query string: '+' becomes a space, known ids get 404",
)
def _(parts: p.Parts) -> p.Parts:
    return _replace(parts, decode_brm_id=urllib.parse.unquote_plus)


@_bug("brm-fields-ignored", "BRM 'fields' is ignored: every attribute is returned")
def _(parts: p.Parts) -> p.Parts:
    inner = parts.present_balance

    def present(
        balance: dict[str, Any], href: str, type_name: str, fields: Collection[str]
    ) -> dict[str, Any]:
        return inner(balance, href, type_name, ())

    return _replace(parts, present_balance=present)


@_bug("brm-type-ignored", "BRM '@type' is ignored: always answers AccumulatedBalance, never 400")
def _(parts: p.Parts) -> p.Parts:
    return _replace(parts, brm_type=lambda requested: "AccumulatedBalance")


@_bug("brm-unknown-id-500", "an unknown BRM id gets 500 instead of 404")
def _(parts: p.Parts) -> p.Parts:
    inner = parts.lookup_balance

    def lookup(balance_id: str, base_url: str) -> dict[str, Any] | None:
        found = inner(balance_id, base_url)
        if found is None:
            raise LookupError(balance_id)
        return found

    return _replace(parts, lookup_balance=lookup)


@_bug("brm-empty-bucket", "BRM answers with an empty bucket array (minItems 1)")
def _(parts: p.Parts) -> p.Parts:
    inner = parts.lookup_balance

    def lookup(balance_id: str, base_url: str) -> dict[str, Any] | None:
        found = inner(balance_id, base_url)
        return {**found, "bucket": []} if found is not None else None

    return _replace(parts, lookup_balance=lookup)


@_bug("brm-href-wrong-collection", "BRM href points at /accumulatedBalances/ (plural)")
def _(parts: p.Parts) -> p.Parts:
    return _replace(
        parts, brm_href=lambda base_url, raw_id: f"{base_url}/accumulatedBalances/{raw_id}"
    )


@_bug("brm-version-ignored", "BRM answers for any API version, not only v1")
def _(parts: p.Parts) -> p.Parts:
    return _replace(parts, brm_version_supported=lambda version: True)


# --- the account flow's other operations (vendor revisions) -----------------------


@_bug(
    "validate-batch-saves",
    "validate-batch-accounts saves what it validates: its communicationNumbers are then used",
    (VALIDATE_BATCH_ACCOUNTS,),
)
def _(parts: p.Parts) -> p.Parts:
    # The validating endpoint calls the service method that saves.
    def claim(
        inner: StateStore, operation_id: str, claims: Sequence[Claim], record: bool
    ) -> list[Rejection | None]:
        return inner.claim(operation_id, claims, record=True)

    return _wrap_store(parts, claim)


@_bug(
    "validate-batch-misses-duplicates",
    "validate-batch-accounts checks items one by one: a number used twice in the batch passes",
    (VALIDATE_BATCH_ACCOUNTS,),
)
def _(parts: p.Parts) -> p.Parts:
    # Without recording, nothing tells the second item that the first one took the number.
    def claim(
        inner: StateStore, operation_id: str, claims: Sequence[Claim], record: bool
    ) -> list[Rejection | None]:
        if record:
            return inner.claim(operation_id, claims)
        return [inner.claim(operation_id, [c], record=False)[0] for c in claims]

    return _wrap_store(parts, claim)


@_bug(
    "single-account-skips-rule",
    "createAccount accepts an external account without a bic (the batch rejects it, 005)",
    (CREATE_ACCOUNT,),
)
def _(parts: p.Parts) -> p.Parts:
    # The single endpoint's DTO has field annotations only, not the batch's cross-field check.
    return _drop_rules(parts, {"accounts.bic-required-for-external"}, {CREATE_ACCOUNT})


@_bug(
    "single-account-error-body",
    "createAccount's 400 for a rejected account carries no errorCode",
    (CREATE_ACCOUNT,),
)
def _(parts: p.Parts) -> p.Parts:
    inner = parts.single_answer

    def single_answer(route: Route, rejection: Rejection | None) -> tuple[int, dict[str, Any]]:
        status, body = inner(route, rejection)
        if route.operation_id == CREATE_ACCOUNT:
            body.pop("errorCode", None)
        return status, body

    return _replace(parts, single_answer=single_answer)


@_bug(
    "single-account-no-o005",
    "createAccount neither checks nor records communicationNumbers: a reused one is accepted",
    (CREATE_ACCOUNT,),
)
def _(parts: p.Parts) -> p.Parts:
    inner = parts.claim_of

    def claim_of(route: Route, item: Any, eligible: bool) -> Claim:
        found = inner(route, item, eligible)
        if route.operation_id != CREATE_ACCOUNT:
            return found
        return dataclasses.replace(found, communication_number=None)

    return _replace(parts, claim_of=claim_of)


def _single_balance_changed(revision: Revision) -> bool:
    """The single balance's document differs from the default revision's."""
    from .. import revisions

    table = revisions.table()
    seed = table.revisions[table.default].documents.get(REGISTER_ACCOUNT_BALANCE)
    return revision.documents.get(REGISTER_ACCOUNT_BALANCE) != seed


@_bug(
    "single-balance-ignores-revision",
    "the single balance is checked against the 2024-11-04 document whatever the revision "
    "(updateAt required, balanceAt unknown)",
    (REGISTER_ACCOUNT_BALANCE,),
    _single_balance_changed,
)
def _(parts: p.Parts) -> p.Parts:
    inner = parts.validate
    seed = route(REGISTER_ACCOUNT_BALANCE)  # the default revision's

    def validate(served: Route, raw: bytes) -> Sequence[Violation]:
        return inner(seed if served.operation_id == REGISTER_ACCOUNT_BALANCE else served, raw)

    return _replace(parts, validate=validate)


def catalogue(revision: str | None = None) -> Mapping[str, str]:
    """name -> one-line description, sorted by name (only the bugs that show under
    ``revision``, when given)."""
    names = bugs_for(revision) if revision is not None else sorted(BUGS)
    return {name: BUGS[name].description for name in names}
