"""The server rules of CONTRACT.md section 3, as plain check functions in one registry.

Schemathesis style: ``check(ctx, received, case)`` returns None when it does not
apply, True when it held, and raises :class:`CheckFailure` (or a group of them)
when it did not. Each check is registered with :func:`check`, which holds its rule
ids (with description, default severity and the operations they are reported for)
and the requests it applies to; :data:`RULES`, :func:`rules_applied` and
:func:`rules_for_operation` are derived from that one registry. Adding a check is
one decorated function here; a unit test gives it a canned :class:`Case` and
:class:`~.client.Received` (tests/contract/test_checks.py).

How a server it has never seen is judged (CONTRACT.md section 3.1): only the spec's
own requests (``Case.scope == "spec"``) are judged against the spec; a request
outside it is judged by its status class only; values the RFCs allow but stacks
differ on (``Case.interop``, BRM ids with an encoded ``/`` or ``%``) and the input
rules (``ItemExpect.soft``) are warnings at most, a 5xx is always an error.

The request/response rules that one exchange decides are not re-implemented:
:func:`response_rules` runs the validator's ``validate_response(..., request=...)``
and reports its findings by rule id.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..domain import (
    ACCEPTED,
    ACCUMULATED_BALANCE,
    ECHOED_IDENTIFIERS,
    REJECTED,
    result_type,
)
from ..engine.api import validate_response
from ..violations import Violation
from .client import Received, Sent
from .config import SINGLE_OPERATIONS, operation_of

# What a request's operation is: a batch, the BRM read, or a single item (one
# account, one balance: judged as a batch of one by the item rules).
BATCH, BRM, SINGLE = "batch", "brm", "single"
BOTH = frozenset({BATCH, BRM, SINGLE})  # every kind
_BATCH_ONLY, _BRM_ONLY = frozenset({BATCH}), frozenset({BRM})
_ITEMS = frozenset({BATCH, SINGLE})  # the item rules: a batch's items, or the one item
_BATCH_W: dict[str, Any] = {"kinds": _BATCH_ONLY, "writes": True}
_ITEMS_W: dict[str, Any] = {"kinds": _ITEMS, "writes": True}

# ------------------------------------------------------------------ the registry


@dataclass(frozen=True)
class Rule:
    """One server rule id the suite reports (CONTRACT.md section 3)."""

    id: str
    description: str
    severity: str = "error"  # of its failures, unless a check softens one to a warning
    kinds: frozenset[str] = BOTH  # reported for batch operations, the BRM read, or both
    writes: bool = False  # only checked when the suite may write (not in --read-only)
    # Some of its failures are warnings by CONTRACT.md 3.1 (an interop value rejected,
    # an input.* item accepted, a firewall's answer): a conforming server may earn them.
    may_warn: bool = False


Check = Callable[["Context", Received, "Case"], bool | None]


@dataclass(frozen=True)
class Registered:
    """A check and what the registry knows about it."""

    name: str
    fn: Check
    rules: tuple[Rule, ...]
    applies: Callable[[Case], bool]


REGISTRY: list[Registered] = []
RULE_INFO: dict[str, Rule] = {}
# rule id -> description (reports and the pytest plugin's test ids read this).
RULES: dict[str, str] = {}


def _every(case: Case) -> bool:
    return True


def check(*rules: Rule, applies: Callable[[Case], bool] = _every) -> Callable[[Check], Check]:
    """Register a check: the rules it reports and the requests it applies to.

    A rule shared by several checks is one :class:`Rule` object passed to each; the
    same id declared twice differently is a programming error."""

    def register(fn: Check) -> Check:
        for rule in rules:
            known = RULE_INFO.setdefault(rule.id, rule)
            if known != rule:
                raise ValueError(f"rule {rule.id} declared twice, differently")
            RULES.setdefault(rule.id, rule.description)
        REGISTRY.append(Registered(fn.__name__, fn, rules, applies))
        return fn

    return register


# Rules several checks report.
NO_5XX = Rule("server.no-5xx", "no request gets a 5xx (nor a timeout or a dropped connection)")
STATUS_DOCUMENTED = Rule(
    "response.status-documented",
    "the status code is documented for the operation (outside the spec: not 2xx; "
    "another method on an AMLYZE path: a 4xx)",
)
INVALID_ACCEPTED = Rule(
    "batch.invalid-item-accepted",
    "an item breaking an error rule (or the known data) is never accepted; "
    "an input.* item accepted is a warning",
    **_ITEMS_W,
    may_warn=True,
)
VALID_REJECTED = Rule(
    "batch.valid-item-rejected",
    "a valid item with known data is accepted; an interop value rejected is a warning",
    **_ITEMS_W,
    may_warn=True,
)
# Said of a batch's results, and of a single operation's answer (the body is the result).
RESULT_TYPE_VALUES = Rule(
    "batch.result-type-values", "resultType is one of the accepted values", **_ITEMS_W
)
REJECTION_HAS_ERROR = Rule(
    "batch.rejection-has-error",
    "a rejection has errorCode and errorDescription; an acceptance has no errorCode",
    **_ITEMS_W,
)
REJECTION_CODE = Rule(
    "batch.rejection-code",
    "a rejection carries the rule's vendor code",
    severity="warning",
    **_ITEMS_W,
)
REUSE = Rule(
    "batch.communication-number-reuse",
    "a reused communicationNumber is rejected with O005",
    **_ITEMS_W,
)
NOT_FOUND = Rule(
    "brm.not-found",
    "an unknown id under a supported version gets 404 with a TMF Error",
    kinds=_BRM_ONLY,
    may_warn=True,
)


class CheckFailure(AssertionError):
    """One broken server rule. ``severity`` defaults to the rule's own."""

    def __init__(self, rule: str, message: str, severity: str | None = None) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.message = message
        info = RULE_INFO.get(rule)
        self.severity = severity or (info.severity if info else "error")
        if info is not None and info.severity == "warning":
            self.severity = "warning"  # a warning rule never fails as an error


class CheckFailures(AssertionError):
    """Several failures from one check (e.g. every finding of validate_response)."""

    def __init__(self, failures: Sequence[CheckFailure]) -> None:
        super().__init__("; ".join(str(f) for f in failures))
        self.failures = list(failures)


@dataclass(frozen=True)
class ItemExpect:
    """Why an item must be rejected: the rule it breaks and the vendor code.

    ``soft``: the item breaks only the client's hygiene (an ``input.*`` rule, or
    ``null`` for an optional member): a server may read it leniently (last member
    wins, null as absent), so its acceptance is a warning (CONTRACT.md 3.1)."""

    rule: str
    code: str | None = None
    soft: bool = False


def hygiene_only(violations: Iterable[Violation], item: Any, required: Iterable[str]) -> bool:
    """True when an item's errors are only the client's hygiene: ``input.*`` rules,
    or ``null`` for an optional member (read as absent by Jackson and most binders)."""
    needed = set(required)
    for v in violations:
        if v.rule.startswith("input."):
            continue
        member = v.pointer.rsplit("/", 1)[-1]
        is_null = isinstance(item, dict) and member in item and item[member] is None
        if v.rule == "schema.type" and is_null and member not in needed:
            continue
        return False
    return True


def item_expectations(
    operation_id: str,
    errors: Iterable[Violation],
    items: Sequence[Any],
    revision: str | None = None,
) -> dict[int, ItemExpect]:
    """Which items of a generated batch must be rejected, from the validator's errors
    (empty when an error lies outside every item: the whole body is invalid, and any
    answer but acceptance is judged by the other checks). For a single operation,
    ``items`` is the one body: item 0."""
    op = operation_of(operation_id, revision)
    batch = op.batch_item
    if batch is None:
        found = list(errors)
        schema = op.request_schema or {}
        if operation_id not in SINGLE_OPERATIONS or not found or len(items) != 1:
            return {}
        soft = hygiene_only(found, items[0], schema.get("required") or ())
        return {0: ItemExpect(found[0].rule, soft=soft)}
    key, schema = batch
    prefix = f"/{key}/"
    per_item: dict[int, list[Violation]] = {}
    for v in errors:
        head = v.pointer[len(prefix) :].split("/", 1)[0] if v.pointer.startswith(prefix) else ""
        if not head.isdigit() or int(head) >= len(items):
            return {}
        per_item.setdefault(int(head), []).append(v)
    required = schema.get("required") or ()
    return {
        i: ItemExpect(found[0].rule, soft=hygiene_only(found, items[i], required))
        for i, found in per_item.items()
    }


# Case.scope values: which requests are judged against the spec (CONTRACT.md 3.1).
SPEC = "spec"  # the operation's own method and path: every rule applies
OUTSIDE = "outside"  # a path or version the spec does not define: not 2xx, not 5xx
OTHER_METHOD = "other-method"  # another method on an AMLYZE operation's path: a 4xx
OPTIONS_HEAD = "options-head"  # OPTIONS or HEAD on a spec path: anything but a 5xx


@dataclass
class Case:
    """One request the suite sends, with what the contract expects of its answer."""

    operation_id: str
    label: str
    sent: Sent
    phase: str = "probe"
    # For validate_response: the batch body sent (parsed), or the BRM parameters.
    request: Any = None
    scope: str = SPEC
    # RFC-legal values that mainstream stacks differ on: a rejection is a warning.
    interop: bool = False
    # auth | malformed | brm-known | brm-unknown | brm-bad-type | brm-method | None
    probe: str | None = None
    valid_items: frozenset[int] = frozenset()
    invalid_items: Mapping[int, ItemExpect] = field(default_factory=dict)
    reused_items: frozenset[int] = frozenset()
    # Items whose communicationNumber was sent before only to validate-batch-accounts,
    # which saves nothing: they must be accepted (batch.valid-item-rejected otherwise).
    free_items: frozenset[int] = frozenset()
    item_key: str | None = None  # the batch's item array (None: a single item's body)

    @property
    def documented(self) -> bool:
        """The method and path are the operation's own (its documented answers apply)."""
        return self.scope == SPEC

    @property
    def kind(self) -> str:
        if self.operation_id == ACCUMULATED_BALANCE:
            return BRM
        return SINGLE if self.operation_id in SINGLE_OPERATIONS else BATCH

    def items(self) -> list[Any]:
        request = self.request
        if isinstance(request, bytes):
            import orjson

            try:
                request = orjson.loads(request)
            except orjson.JSONDecodeError:
                return []
        if self.kind == SINGLE:
            return [request] if isinstance(request, dict) else []
        if isinstance(request, dict) and self.item_key:
            items = request.get(self.item_key)
            return items if isinstance(items, list) else []
        return []


@dataclass(frozen=True)
class Context:
    """What checks may need beyond the exchange: the body limit, and the vendor
    revision whose documents judge the answers (None: the default revision)."""

    max_response_bytes: int = 8 * 1024 * 1024
    revision: str | None = None


# ------------------------------------------------------------------ request classes

# Encodings in a path segment that servlet containers, firewalls and gateways treat
# differently (Tomcat answers an encoded slash with 400, Spring Security's
# StrictHttpFirewall rejects an encoded percent, slash, backslash, period and ';').
_FIREWALL_SENSITIVE = re.compile(r"%2[fFeE5]|%5[cC]|;")


def brm_id_segment(url: str) -> str | None:
    """The raw (still encoded) id segment of a BRM read URL, if it is one."""
    path = urllib.parse.urlsplit(url).path
    _, sep, segment = path.rpartition("/accumulatedBalance/")
    return segment if sep else None


def firewall_sensitive(url: str) -> bool:
    """A BRM read whose id's encoding firewalls and containers may refuse themselves."""
    segment = brm_id_segment(url)
    return segment is not None and _FIREWALL_SENSITIVE.search(segment) is not None


def interop_request(case: Case) -> bool:
    """A request with values the RFCs allow but stacks differ on: flagged by the
    scenario, or a BRM id whose encoding firewalls reject (whoever generated it)."""
    if case.interop:
        return True
    return case.kind == BRM and firewall_sensitive(case.sent.url)


def _spec(case: Case) -> bool:
    return case.scope == SPEC


def judged_against_spec(case: Case) -> bool:
    """Whether the answer must match the spec (status documented, content type,
    schema): the spec's own requests, except BRM ids a firewall may answer itself."""
    return case.scope == SPEC and not (case.kind == BRM and interop_request(case))


def _probe(*names: str) -> Callable[[Case], bool]:
    def applies(case: Case) -> bool:
        return case.scope == SPEC and case.probe in names

    return applies


# ------------------------------------------------------------------ helpers


def _json(received: Received) -> Any:
    return received.json() if received.body else None


def _results(received: Received) -> list[Any] | None:
    body = _json(received)
    if received.status != 200 or not isinstance(body, dict):
        return None
    results = body.get("results")
    return results if isinstance(results, list) else None


def _item_result(case: Case, received: Received, index: int) -> dict[str, Any] | None:
    """What the server said of item ``index``: its batch result (on 200), or, for a
    single operation, the body itself when it carries a ``resultType`` (a 200, or the
    400 rejection form)."""
    if case.kind == SINGLE:
        body = _json(received)
        if index == 0 and received.status in (200, 400) and isinstance(body, dict):
            return body if "resultType" in body else None
        return None
    results = _results(received)
    return None if results is None else _result_for(case, results, index)


def _item_judged(case: Case, received: Received) -> bool:
    """An answer that says something per item: a batch's 200, a single operation's 200."""
    if case.kind == SINGLE:
        return received.status == 200 and isinstance(_json(received), dict)
    return _results(received) is not None


def _result_for(case: Case, results: list[Any], index: int) -> dict[str, Any] | None:
    """Item ``index``'s result: positional when it echoes the item's identifiers,
    else the one result that does (order bugs are batch.result-correlation's)."""
    items = case.items()
    item = items[index] if index < len(items) else None
    keys = ECHOED_IDENTIFIERS[:2]  # businessUnit is echoed only when the item had one

    def matches(result: Any) -> bool:
        if not isinstance(result, dict) or not isinstance(item, dict):
            return False
        return all(result.get(k) == item.get(k) for k in keys if isinstance(item.get(k), str))

    if not isinstance(item, dict) or not any(isinstance(item.get(k), str) for k in keys):
        # Nothing to correlate by (an unparsable body, an item without identifiers).
        return (
            dict(results[index])
            if index < len(results) and isinstance(results[index], dict)
            else None
        )
    if index < len(results) and matches(results[index]):
        found: dict[str, Any] = results[index]
        return found
    candidates = [r for r in results if matches(r)]
    if len(candidates) == 1:
        return dict(candidates[0])
    return None


def _describe(result: Mapping[str, Any]) -> str:
    code = result.get("errorCode")
    return f"resultType {result.get('resultType')!r}" + (f", errorCode {code!r}" if code else "")


def _tmf_error(received: Received, rule: str, wanted: int, severity: str | None = None) -> bool:
    if received.status != wanted:
        raise CheckFailure(rule, f"expected {wanted}, got {received.status}", severity)
    body = _json(received)
    if not (
        isinstance(body, dict)
        and isinstance(body.get("code"), str)
        and isinstance(body.get("reason"), str)
    ):
        raise CheckFailure(
            rule, f"{wanted} without a TMF Error body (code and reason strings)", severity
        )
    return True


def _answered(received: Received) -> bool:
    """An answer other checks do not already speak for (no transport error, no 5xx)."""
    return not received.error and received.status < 500


# ------------------------------------------------------------------ checks


@check(NO_5XX)
def not_a_server_error(ctx: Context, received: Received, case: Case) -> bool | None:
    """server.no-5xx, for every request (in the spec or not); a timeout or dropped
    connection is reported here too (a gateway in front would turn it into a 502/504)."""
    if received.error:
        raise CheckFailure(NO_5XX.id, received.error)
    if received.status >= 500:
        raise CheckFailure(NO_5XX.id, f"status {received.status}")
    return True


@check(
    STATUS_DOCUMENTED,
    Rule("response.content-type", "a JSON body is served as application/json"),
    Rule("response.schema", "the body matches the documented schema for that status"),
    Rule("batch.result-per-item", "on 200, exactly one result per submitted item", **_BATCH_W),
    Rule("batch.result-correlation", "result i echoes item i's identifiers", **_BATCH_W),
    RESULT_TYPE_VALUES,
    REJECTION_HAS_ERROR,
    Rule("batch.time-elapsed", "timeElapsedMs values are sane", **_BATCH_W),
    Rule("brm.id-echo", "the id is echoed exactly", kinds=_BRM_ONLY),
    Rule("brm.href-consistent", "href ends with /accumulatedBalance/{id}", kinds=_BRM_ONLY),
    Rule("brm.type-echo", "@type echoes the requested @type", kinds=_BRM_ONLY),
    Rule("brm.fields-honored", "fields limits the attributes", kinds=_BRM_ONLY),
    applies=judged_against_spec,
)
def response_rules(ctx: Context, received: Received, case: Case) -> bool | None:
    """The exchange rules decided by ``validate_response``: status documented,
    content type, schema, and the batch.result-* / brm.* echo rules. Not for a BRM
    id that firewalls may answer themselves (any format there)."""
    if received.error:
        return None
    if received.truncated:
        raise CheckFailure(
            "response.schema", f"the body exceeds {ctx.max_response_bytes} bytes; not read further"
        )
    report = validate_response(
        case.operation_id,
        received.status,
        received.body,
        headers=received.headers,
        request=case.request,
        revision=ctx.revision or _default_revision(),
    )
    failures = [_from_violation(v) for v in report.violations]
    if not received.body and 200 <= received.status < 300:
        failures.append(CheckFailure("response.schema", "an empty body; a JSON body is documented"))
    if failures:
        raise CheckFailures(failures)
    return True


def _default_revision() -> str:
    from ..revisions import table

    return table().default


def _from_violation(v: Violation) -> CheckFailure:
    if v.rule.startswith(("schema.", "input.")):
        where = f" at {v.pointer}" if v.pointer else ""
        return CheckFailure("response.schema", f"{v.rule}{where}: {v.message}", v.severity)
    where = f" ({v.pointer})" if v.pointer else ""
    return CheckFailure(v.rule, f"{v.message}{where}", v.severity)


@check(STATUS_DOCUMENTED, applies=lambda case: case.scope in (OUTSIDE, OTHER_METHOD))
def outside_the_spec(ctx: Context, received: Received, case: Case) -> bool | None:
    """A request the spec does not define is judged by its status class only: a
    gateway or framework may answer it in any format (CONTRACT.md 3.1). Outside the
    spec's paths or versions: anything but 2xx (and 5xx, server.no-5xx's); another
    method on an AMLYZE operation's path: a 4xx."""
    if not _answered(received):
        return None
    status, sent = received.status, case.sent
    if case.scope == OTHER_METHOD:
        if 400 <= status < 500:
            return True
        raise CheckFailure(
            STATUS_DOCUMENTED.id,
            f"{sent.method} is not an operation of this path; expected a 4xx, got {status}",
        )
    if 200 <= status < 300:
        raise CheckFailure(
            STATUS_DOCUMENTED.id,
            f"{urllib.parse.urlsplit(sent.url).path} is outside the spec, yet got {status} "
            "(any answer but 2xx and 5xx would do: 404, 405, 400)",
        )
    return True


@check(
    Rule("errors.auth-required", "missing or wrong credentials get 401 (403 allowed)"),
    applies=_probe("auth"),
)
def auth_required(ctx: Context, received: Received, case: Case) -> bool | None:
    if received.status not in (401, 403):
        raise CheckFailure("errors.auth-required", f"expected 401 (or 403), got {received.status}")
    return True


@check(
    Rule(
        "errors.malformed-json",
        "a non-JSON body, or one without the item array, gets 400",
        kinds=_ITEMS,
    ),
    applies=_probe("malformed"),
)
def malformed_json(ctx: Context, received: Received, case: Case) -> bool | None:
    if received.status != 400:
        raise CheckFailure("errors.malformed-json", f"expected 400, got {received.status}")
    if not isinstance(_json(received), dict):
        raise CheckFailure("errors.malformed-json", "400 without the AMLYZE error body")
    return True


@check(INVALID_ACCEPTED, applies=lambda case: _spec(case) and bool(case.invalid_items))
def invalid_item_accepted(ctx: Context, received: Received, case: Case) -> bool | None:
    """An invalid item is rejected (per item, or 400 for the whole request). An item
    that breaks only an input rule may be read leniently: its acceptance warns."""
    if received.status == 400:
        return True  # the whole request refused: allowed
    if not _item_judged(case, received):
        return None  # other checks speak for non-200 answers
    failures = []
    for index, expect in sorted(case.invalid_items.items()):
        result = _item_result(case, received, index)
        if result is not None and result_type(result) in ACCEPTED:
            why = f"item {index} breaks {expect.rule}" + (
                f" (vendor code {expect.code})" if expect.code else ""
            )
            if expect.soft:
                why += (
                    " (the client's hygiene, not the server's contract: a lenient parser, "
                    "e.g. Jackson's last member wins or null as absent, may read it)"
                )
            failures.append(
                CheckFailure(
                    INVALID_ACCEPTED.id,
                    f"{why} but was accepted ({_describe(result)})",
                    "warning" if expect.soft else None,
                )
            )
    if failures:
        raise CheckFailures(failures)
    return True


@check(
    REJECTION_CODE,
    applies=lambda case: _spec(case) and any(e.code for e in case.invalid_items.values()),
)
def rejection_code(ctx: Context, received: Received, case: Case) -> bool | None:
    """A rejected item's errorCode ends with the vendor code (a batch's per-item
    result, or a single operation's 400 rejection body)."""
    if case.kind == SINGLE:
        if _item_result(case, received, 0) is None:
            return None
    elif _results(received) is None:
        return None
    failures = []
    for index, expect in sorted(case.invalid_items.items()):
        if not expect.code:
            continue
        result = _item_result(case, received, index)
        if result is None or result_type(result) not in REJECTED:
            continue
        code = result.get("errorCode")
        if not isinstance(code, str) or not code.endswith(expect.code):
            failures.append(
                CheckFailure(
                    "batch.rejection-code",
                    f"item {index} breaks {expect.rule}; errorCode {code!r} does not end with {expect.code!r}",
                )
            )
    if failures:
        raise CheckFailures(failures)
    return True


_FREE_NOTE = (
    "its communicationNumber was sent before only to validate-batch-accounts, which saves nothing"
)


@check(VALID_REJECTED, applies=lambda case: _spec(case) and bool(case.valid_items))
def valid_item_rejected(ctx: Context, received: Received, case: Case) -> bool | None:
    """Valid items with known data are accepted. Interop values (RFC-legal, but
    rejected by some mainstream parsers, e.g. a leap second): a rejection warns.
    Items whose identifiers went before only to validate-batch-accounts (``free``) are
    the account flow's state rule: that operation saves nothing."""
    severity = "warning" if case.interop else None
    note = " (an interop value: RFC-legal, but mainstream parsers differ)" if case.interop else ""
    if received.status != 200:
        if case.invalid_items and received.status == 400:
            return True  # refused as a whole because of the invalid sibling
        if received.status in (401, 403) or not _answered(received):
            return None
        free = f"; {_FREE_NOTE}" if case.free_items else ""
        raise CheckFailure(
            VALID_REJECTED.id,
            f"a batch of valid items got {received.status} instead of 200{note}{free}",
            severity,
        )
    if not _item_judged(case, received):
        return None
    failures = []
    for index in sorted(case.valid_items):
        result = _item_result(case, received, index)
        if result is not None and result_type(result) not in ACCEPTED:
            failures.append(
                CheckFailure(
                    VALID_REJECTED.id,
                    f"item {index} is valid and uses known data, yet got {_describe(result)}: "
                    f"{result.get('errorDescription')!r}{note}"
                    + (f"; {_FREE_NOTE}" if index in case.free_items else ""),
                    severity,
                )
            )
    if failures:
        raise CheckFailures(failures)
    return True


@check(REUSE, applies=lambda case: _spec(case) and bool(case.reused_items))
def communication_number_reuse(ctx: Context, received: Received, case: Case) -> bool | None:
    """A batch: a per-item O005 in a 200. A single item: its rejection (a 400, or a
    200 with a rejected resultType) with O005."""
    if case.kind == SINGLE:
        if received.status in (401, 403) or not _answered(received):
            return None
        if _item_result(case, received, 0) is None:
            raise CheckFailure(
                REUSE.id,
                f"a reused communicationNumber got {received.status} without a rejection "
                "(resultType, errorCode O005)",
            )
    elif received.status != 200:
        raise CheckFailure(
            REUSE.id,
            f"a batch with a reused communicationNumber got {received.status}, not a per-item O005",
        )
    elif _results(received) is None:
        return None
    failures = []
    for index in sorted(case.reused_items):
        result = _item_result(case, received, index)
        if result is None:
            continue
        code = result.get("errorCode")
        if result_type(result) not in REJECTED or not str(code or "").endswith("O005"):
            failures.append(
                CheckFailure(
                    "batch.communication-number-reuse",
                    f"item {index} reuses an accepted communicationNumber, yet got {_describe(result)}",
                )
            )
    if failures:
        raise CheckFailures(failures)
    return True


def _filled(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


@check(
    RESULT_TYPE_VALUES,
    REJECTION_HAS_ERROR,
    applies=lambda case: judged_against_spec(case) and case.kind == SINGLE,
)
def single_result_shape(ctx: Context, received: Received, case: Case) -> bool | None:
    """The answer to one account or balance (E39): what batch.result-type-values and
    batch.rejection-has-error say of a batch result, said of the body. A 400 without
    a resultType is Spring's own body for an unreadable request (response.schema
    judges it)."""
    body = _json(received)
    if received.status not in (200, 400) or not isinstance(body, dict):
        return None
    kind = result_type(body)  # None unless a string: looked up in sets below
    shown = body.get("resultType")  # as sent, for the messages
    if received.status == 400 and "resultType" not in body:
        return True
    if received.status == 400 and kind not in REJECTED:
        raise CheckFailure(
            RESULT_TYPE_VALUES.id,
            f"a 400 rejection with resultType {shown!r} (expected REQUEST_REJECTED or ERROR)",
        )
    if kind in ACCEPTED and body.get("errorCode") not in (None, ""):
        raise CheckFailure(
            REJECTION_HAS_ERROR.id,
            f"an accepted answer ({shown!r}) carries errorCode {body.get('errorCode')!r}",
        )
    if kind in REJECTED and not (
        _filled(body.get("errorCode")) and _filled(body.get("errorDescription"))
    ):
        raise CheckFailure(
            REJECTION_HAS_ERROR.id,
            f"a rejection ({received.status}, {shown!r}) without a non-empty errorCode "
            "and errorDescription",
        )
    if kind not in ACCEPTED | REJECTED:
        raise CheckFailure(
            RESULT_TYPE_VALUES.id,
            f"resultType {shown!r}; accepted values are REQUEST_ACCEPTED, REQUEST_REJECTED, OK, ERROR",
        )
    return True


@check(
    Rule("brm.known-id-found", "a known BRM id gets 200", kinds=_BRM_ONLY),
    applies=_probe("brm-known"),
)
def brm_known_id_found(ctx: Context, received: Received, case: Case) -> bool | None:
    if received.status != 200:
        raise CheckFailure(
            "brm.known-id-found",
            f"known id {case.request.get('id')!r} (@type {case.request.get('@type') or 'default'}) "
            f"got {received.status}",
        )
    return True


@check(NOT_FOUND, applies=_probe("brm-unknown"))
def brm_not_found(ctx: Context, received: Received, case: Case) -> bool | None:
    """An unknown id gets a TMF 404. For an id whose encoding firewalls and servlet
    containers reject themselves (an encoded ``/`` or ``%``), any answer but a 2xx
    is allowed and only warned about; a 2xx claims the unknown id exists."""
    if not interop_request(case):
        return _tmf_error(received, NOT_FOUND.id, 404)
    if not _answered(received):
        return None
    if 200 <= received.status < 300:
        raise CheckFailure(NOT_FOUND.id, f"an unknown id got {received.status}")
    return _tmf_error(received, NOT_FOUND.id, 404, "warning")


@check(
    Rule("brm.bad-type", "an unsupported @type gets 400 with a TMF Error", kinds=_BRM_ONLY),
    applies=_probe("brm-bad-type"),
)
def brm_bad_type(ctx: Context, received: Received, case: Case) -> bool | None:
    return _tmf_error(received, "brm.bad-type", 400)


@check(
    Rule("brm.method-not-allowed", "other methods get 405 with a TMF Error", kinds=_BRM_ONLY),
    applies=_probe("brm-method"),
)
def brm_method_not_allowed(ctx: Context, received: Received, case: Case) -> bool | None:
    return _tmf_error(received, "brm.method-not-allowed", 405)


# ------------------------------------------------------------------ running them


def run_checks(
    ctx: Context, received: Received, case: Case
) -> tuple[list[str], list[CheckFailure]]:
    """(names of the checks that applied, failures). A transport error stops after
    server.no-5xx."""
    applied: list[str] = []
    failures: list[CheckFailure] = []
    for entry in REGISTRY:
        if not entry.applies(case):
            continue
        try:
            outcome = entry.fn(ctx, received, case)
        except CheckFailures as group:
            failures.extend(group.failures)
            outcome = True
        except CheckFailure as failure:
            failures.append(failure)
            outcome = True
        if outcome is not None:
            applied.append(entry.name)
        if received.error:
            break
    return applied, failures


def rules_applied(check_names: Sequence[str], case: Case) -> list[str]:
    """The rule ids the applied checks speak for, for this case's operation."""
    by_name = {entry.name: entry for entry in REGISTRY}
    out: list[str] = []
    for name in check_names:
        entry = by_name.get(name)
        if entry is not None:
            out.extend(r.id for r in entry.rules if case.kind in r.kinds)
    return list(dict.fromkeys(out))


def softened_rules() -> frozenset[str]:
    """Rules a conforming server may get warnings for (CONTRACT.md 3.1)."""
    return frozenset(r.id for r in RULE_INFO.values() if r.may_warn)


def _ordered_rules() -> Iterable[Rule]:
    return (RULE_INFO[rule_id] for rule_id in RULES)


def rules_for_operation(operation_id: str, *, read_only: bool = False) -> list[str]:
    """The server rules checked for one operation (the pytest plugin's test ids)."""
    kind = Case(operation_id, "", Sent("GET", "", {})).kind
    return [r.id for r in _ordered_rules() if kind in r.kinds and not (read_only and r.writes)]
