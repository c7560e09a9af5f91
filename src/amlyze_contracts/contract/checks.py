"""The server rules of CONTRACT.md section 3, as plain check functions.

Schemathesis style: ``check(ctx, response, case)`` returns None when it does not
apply, True when it held, and raises :class:`CheckFailure` (or a group of them)
when it did not. The request/response rules that one exchange decides are not
re-implemented: :func:`response_rules` runs the validator's
``validate_response(..., request=...)`` and reports its findings by rule id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..domain import ACCEPTED, REJECTED
from ..engine.api import validate_response
from .client import Received, Sent

# Every server rule this suite reports; extensions beyond CONTRACT.md section 3 last.
RULES: dict[str, str] = {
    "response.status-documented": "the status code is documented for the operation",
    "response.content-type": "a JSON body is served as application/json",
    "response.schema": "the body matches the documented schema for that status",
    "server.no-5xx": "no request gets a 5xx (nor a timeout or a dropped connection)",
    "errors.malformed-json": "a non-JSON body, or one without the item array, gets 400",
    "errors.auth-required": "missing or wrong credentials get 401 (403 allowed)",
    "batch.result-per-item": "on 200, exactly one result per submitted item",
    "batch.result-correlation": "result i echoes item i's identifiers",
    "batch.result-type-values": "resultType is one of the accepted values",
    "batch.rejection-has-error": "a rejection has errorCode and errorDescription",
    "batch.invalid-item-accepted": "an item breaking an error rule (or the known data) is never accepted",
    "batch.rejection-code": "a rejection carries the rule's vendor code",
    "batch.valid-item-rejected": "a valid item with known data is accepted",
    "batch.communication-number-reuse": "a reused communicationNumber is rejected with O005",
    "batch.time-elapsed": "timeElapsedMs values are sane",
    "brm.known-id-found": "a known BRM id gets 200",
    "brm.id-echo": "the id is echoed exactly",
    "brm.href-consistent": "href ends with /accumulatedBalance/{id}",
    "brm.type-echo": "@type echoes the requested @type",
    "brm.fields-honored": "fields limits the attributes",
    "brm.not-found": "an unknown id (or API version) gets 404 with a TMF Error",
    "brm.bad-type": "an unsupported @type gets 400 with a TMF Error",
    "brm.method-not-allowed": "other methods get 405 with a TMF Error",
}
WARNING_RULES = frozenset({"batch.rejection-code"})


class CheckFailure(AssertionError):
    """One broken server rule."""

    def __init__(self, rule: str, message: str, severity: str = "error") -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.message = message
        self.severity = "warning" if rule in WARNING_RULES else severity


class CheckFailures(AssertionError):
    """Several failures from one check (e.g. every finding of validate_response)."""

    def __init__(self, failures: Sequence[CheckFailure]) -> None:
        super().__init__("; ".join(str(f) for f in failures))
        self.failures = list(failures)


@dataclass(frozen=True)
class ItemExpect:
    """Why an item must be rejected: the rule it breaks and the vendor code."""

    rule: str
    code: str | None = None


@dataclass
class Case:
    """One request the suite sends, with what the contract expects of its answer."""

    operation_id: str
    label: str
    sent: Sent
    phase: str = "probe"
    # For validate_response: the batch body sent (parsed), or the BRM parameters.
    request: Any = None
    # The method and path are the operation's own (so its documented responses apply).
    documented: bool = True
    # auth | malformed | brm-known | brm-unknown | brm-bad-type | brm-method |
    # wrong-method | ... | None (an ordinary batch or read)
    probe: str | None = None
    valid_items: frozenset[int] = frozenset()
    invalid_items: Mapping[int, ItemExpect] = field(default_factory=dict)
    reused_items: frozenset[int] = frozenset()
    item_key: str | None = None

    def items(self) -> list[Any]:
        request = self.request
        if isinstance(request, bytes):
            import orjson

            try:
                request = orjson.loads(request)
            except orjson.JSONDecodeError:
                return []
        if isinstance(request, dict) and self.item_key:
            items = request.get(self.item_key)
            return items if isinstance(items, list) else []
        return []


@dataclass(frozen=True)
class Context:
    """What checks may need beyond the exchange."""

    max_response_bytes: int = 8 * 1024 * 1024


Check = Callable[[Context, Received, Case], bool | None]
CHECKS: list[Check] = []


def check(fn: Check) -> Check:
    CHECKS.append(fn)
    return fn


# ------------------------------------------------------------------ helpers


def _json(received: Received) -> Any:
    return received.json() if received.body else None


def _results(received: Received) -> list[Any] | None:
    body = _json(received)
    if received.status != 200 or not isinstance(body, dict):
        return None
    results = body.get("results")
    return results if isinstance(results, list) else None


def _result_for(case: Case, results: list[Any], index: int) -> dict[str, Any] | None:
    """Item ``index``'s result: positional when it echoes the item's identifiers,
    else the one result that does (order bugs are batch.result-correlation's)."""
    items = case.items()
    item = items[index] if index < len(items) else None
    keys = ("communicationNumber", "accountExtId")

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


def _tmf_error(received: Received, rule: str, wanted: int) -> bool:
    if received.status != wanted:
        raise CheckFailure(rule, f"expected {wanted}, got {received.status}")
    body = _json(received)
    if not (
        isinstance(body, dict)
        and isinstance(body.get("code"), str)
        and isinstance(body.get("reason"), str)
    ):
        raise CheckFailure(rule, f"{wanted} without a TMF Error body (code and reason strings)")
    return True


# ------------------------------------------------------------------ checks


@check
def not_a_server_error(ctx: Context, received: Received, case: Case) -> bool | None:
    """server.no-5xx; a timeout or dropped connection is reported here too (a
    gateway in front of the server would turn it into a 502/504)."""
    if received.error:
        raise CheckFailure("server.no-5xx", received.error)
    if received.status >= 500:
        raise CheckFailure("server.no-5xx", f"status {received.status}")
    return True


def _schema_rule(rule: str) -> bool:
    return rule.startswith(("schema.", "input."))


@check
def response_rules(ctx: Context, received: Received, case: Case) -> bool | None:
    """response.status-documented, response.content-type, response.schema and the
    exchange rules (batch.result-*, batch.rejection-has-error, batch.time-elapsed,
    brm.id-echo, brm.href-consistent, brm.type-echo, brm.fields-honored)."""
    if not case.documented or received.error:
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
    )
    failures: list[CheckFailure] = []
    for v in report.violations:
        if _schema_rule(v.rule):
            where = f" at {v.pointer}" if v.pointer else ""
            failures.append(
                CheckFailure("response.schema", f"{v.rule}{where}: {v.message}", v.severity)
            )
        else:
            where = f" ({v.pointer})" if v.pointer else ""
            failures.append(CheckFailure(v.rule, f"{v.message}{where}", v.severity))
    if not received.body and 200 <= received.status < 300:
        failures.append(CheckFailure("response.schema", "an empty body; a JSON body is documented"))
    if failures:
        raise CheckFailures(failures)
    return True


@check
def auth_required(ctx: Context, received: Received, case: Case) -> bool | None:
    if case.probe != "auth":
        return None
    if received.status not in (401, 403):
        raise CheckFailure("errors.auth-required", f"expected 401 (or 403), got {received.status}")
    return True


@check
def malformed_json(ctx: Context, received: Received, case: Case) -> bool | None:
    if case.probe != "malformed":
        return None
    if received.status != 400:
        raise CheckFailure("errors.malformed-json", f"expected 400, got {received.status}")
    if not isinstance(_json(received), dict):
        raise CheckFailure("errors.malformed-json", "400 without the AMLYZE error body")
    return True


@check
def invalid_item_accepted(ctx: Context, received: Received, case: Case) -> bool | None:
    if not case.invalid_items:
        return None
    if received.status == 400:
        return True  # the whole request refused: allowed
    results = _results(received)
    if results is None:
        return None  # other checks speak for non-200 answers
    failures = []
    for index, expect in sorted(case.invalid_items.items()):
        result = _result_for(case, results, index)
        if result is not None and result.get("resultType") in ACCEPTED:
            failures.append(
                CheckFailure(
                    "batch.invalid-item-accepted",
                    f"item {index} breaks {expect.rule}"
                    + (f" (vendor code {expect.code})" if expect.code else "")
                    + f" but was accepted ({_describe(result)})",
                )
            )
    if failures:
        raise CheckFailures(failures)
    return True


@check
def rejection_code(ctx: Context, received: Received, case: Case) -> bool | None:
    wanted = {i: e for i, e in case.invalid_items.items() if e.code}
    results = _results(received)
    if not wanted or results is None:
        return None
    failures = []
    for index, expect in sorted(wanted.items()):
        result = _result_for(case, results, index)
        if result is None or result.get("resultType") not in REJECTED:
            continue
        code = result.get("errorCode")
        if not isinstance(code, str) or not code.endswith(expect.code or ""):
            failures.append(
                CheckFailure(
                    "batch.rejection-code",
                    f"item {index} breaks {expect.rule}; errorCode {code!r} does not end with {expect.code!r}",
                )
            )
    if failures:
        raise CheckFailures(failures)
    return True


@check
def valid_item_rejected(ctx: Context, received: Received, case: Case) -> bool | None:
    if not case.valid_items:
        return None
    if received.status != 200:
        if case.invalid_items and received.status == 400:
            return True  # refused as a whole because of the invalid sibling
        if received.status in (401, 403) or received.status >= 500 or received.error:
            return None
        raise CheckFailure(
            "batch.valid-item-rejected",
            f"a batch of valid items got {received.status} instead of 200",
        )
    results = _results(received)
    if results is None:
        return None
    failures = []
    for index in sorted(case.valid_items):
        result = _result_for(case, results, index)
        if result is not None and result.get("resultType") not in ACCEPTED:
            failures.append(
                CheckFailure(
                    "batch.valid-item-rejected",
                    f"item {index} is valid and uses known data, yet got {_describe(result)}: "
                    f"{result.get('errorDescription')!r}",
                )
            )
    if failures:
        raise CheckFailures(failures)
    return True


@check
def communication_number_reuse(ctx: Context, received: Received, case: Case) -> bool | None:
    if not case.reused_items:
        return None
    if received.status != 200:
        raise CheckFailure(
            "batch.communication-number-reuse",
            f"a batch with a reused communicationNumber got {received.status}, not a per-item O005",
        )
    results = _results(received)
    if results is None:
        return None
    failures = []
    for index in sorted(case.reused_items):
        result = _result_for(case, results, index)
        if result is None:
            continue
        code = result.get("errorCode")
        if result.get("resultType") not in REJECTED or not str(code or "").endswith("O005"):
            failures.append(
                CheckFailure(
                    "batch.communication-number-reuse",
                    f"item {index} reuses an accepted communicationNumber, yet got {_describe(result)}",
                )
            )
    if failures:
        raise CheckFailures(failures)
    return True


@check
def brm_known_id_found(ctx: Context, received: Received, case: Case) -> bool | None:
    if case.probe != "brm-known":
        return None
    if received.status != 200:
        raise CheckFailure(
            "brm.known-id-found",
            f"known id {case.request.get('id')!r} (@type {case.request.get('@type') or 'default'}) "
            f"got {received.status}",
        )
    return True


@check
def brm_not_found(ctx: Context, received: Received, case: Case) -> bool | None:
    return _tmf_error(received, "brm.not-found", 404) if case.probe == "brm-unknown" else None


@check
def brm_bad_type(ctx: Context, received: Received, case: Case) -> bool | None:
    return _tmf_error(received, "brm.bad-type", 400) if case.probe == "brm-bad-type" else None


@check
def brm_method_not_allowed(ctx: Context, received: Received, case: Case) -> bool | None:
    if case.probe != "brm-method":
        return None
    return _tmf_error(received, "brm.method-not-allowed", 405)


def run_checks(
    ctx: Context, received: Received, case: Case
) -> tuple[list[str], list[CheckFailure]]:
    """(rule ids that applied, failures). A transport error stops at server.no-5xx."""
    applied: list[str] = []
    failures: list[CheckFailure] = []
    for fn in CHECKS:
        try:
            outcome = fn(ctx, received, case)
        except CheckFailures as group:
            failures.extend(group.failures)
            outcome = True
        except CheckFailure as failure:
            failures.append(failure)
            outcome = True
        if outcome is not None:
            applied.append(fn.__name__)
        if received.error:
            break
    return applied, failures


# Which rule ids a check function speaks for (for "examples sent" per rule).
CHECK_RULES: dict[str, tuple[str, ...]] = {
    "not_a_server_error": ("server.no-5xx",),
    "response_rules": (),  # filled per operation below
    "auth_required": ("errors.auth-required",),
    "malformed_json": ("errors.malformed-json",),
    "invalid_item_accepted": ("batch.invalid-item-accepted",),
    "rejection_code": ("batch.rejection-code",),
    "valid_item_rejected": ("batch.valid-item-rejected",),
    "communication_number_reuse": ("batch.communication-number-reuse",),
    "brm_known_id_found": ("brm.known-id-found",),
    "brm_not_found": ("brm.not-found",),
    "brm_bad_type": ("brm.bad-type",),
    "brm_method_not_allowed": ("brm.method-not-allowed",),
}
EXCHANGE_RULES: dict[str, tuple[str, ...]] = {
    "batch": (
        "response.status-documented",
        "response.content-type",
        "response.schema",
        "batch.result-per-item",
        "batch.result-correlation",
        "batch.result-type-values",
        "batch.rejection-has-error",
        "batch.time-elapsed",
    ),
    "brm": (
        "response.status-documented",
        "response.content-type",
        "response.schema",
        "brm.id-echo",
        "brm.href-consistent",
        "brm.type-echo",
        "brm.fields-honored",
    ),
}


def rules_applied(check_names: Sequence[str], case: Case) -> list[str]:
    out: list[str] = []
    for name in check_names:
        if name == "response_rules":
            out.extend(EXCHANGE_RULES["batch" if case.item_key else "brm"])
        else:
            out.extend(CHECK_RULES.get(name, ()))
    return out


PROBE_RULES: dict[str, tuple[str, ...]] = {
    "batch": (
        "server.no-5xx",
        "errors.auth-required",
        "errors.malformed-json",
        "batch.invalid-item-accepted",
        "batch.rejection-code",
        "batch.valid-item-rejected",
        "batch.communication-number-reuse",
    ),
    "brm": (
        "server.no-5xx",
        "errors.auth-required",
        "brm.known-id-found",
        "brm.not-found",
        "brm.bad-type",
        "brm.method-not-allowed",
    ),
}


def rules_for_operation(operation_id: str, *, read_only: bool = False) -> list[str]:
    """The server rules checked for one operation (the pytest plugin's test ids)."""
    kind = "brm" if operation_id == "retrieveAccumulatedBalance" else "batch"
    rules = list(dict.fromkeys((*EXCHANGE_RULES[kind], *PROBE_RULES[kind])))
    if read_only and kind == "batch":
        keep = {"server.no-5xx", "errors.auth-required", "errors.malformed-json"}
        keep |= {"response.status-documented", "response.content-type", "response.schema"}
        rules = [r for r in rules if r in keep]
    return rules
