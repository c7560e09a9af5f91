"""The generic fuzzing phase: Schemathesis on the *bundled* specs (errata applied).

This is the only module that imports Schemathesis, so an API change touches one
place. Schemathesis generates the cases (positive and negative modes); they are
sent with the suite's own bounded client, then judged twice: by Schemathesis's
response checks that agree with the contract, and by every check of the suite
(the exchange rules through ``validate_response``, the one rule set deciding which
generated items must be rejected).

Schemathesis checks used, and the rule each reports as:
``not_a_server_error`` -> server.no-5xx, ``status_code_conformance`` ->
response.status-documented, ``content_type_conformance`` -> response.content-type,
``response_schema_conformance`` -> response.schema.

Turned off, because the contract or the errata contradict them:
``negative_data_rejection`` (a batch whose items break the schema gets 200 with
per-item REQUEST_REJECTED results, CONTRACT section 3: a 200 is right, not a 4xx);
``positive_data_acceptance`` (schema-valid items still meet the server's known data:
an unknown customer or classifier code is a per-item rejection, an unknown BRM id a
404); ``unsupported_method`` and ``missing_required_header`` (the contract only
fixes 405 for BRM, which the suite probes itself); ``ignored_auth`` (the suite's own
errors.auth-required probes cover it, also in read-only mode); the stateful checks
(``use_after_free``, ``ensure_resource_availability``: no links in these specs).
Schemathesis on the *published* spec would also flag every REQUEST_ACCEPTED result
(its resultType enum is [ERROR, OK], errata E1); the bundled spec fixes that.
"""

from __future__ import annotations

import copy
import functools
import json
import urllib.parse
from collections.abc import Callable
from typing import Any, Protocol

import orjson

from ..engine.api import validate_request
from .checks import SINGLE, Case, CheckFailure, ItemExpect, item_expectations, judged_against_spec
from .client import Received, Sent
from .config import BRM_OPERATION, Options, operation_of
from .scenarios import Endpoints, item_key

# A judge beyond the suite's own checks: (rule ids it applied, failures).
Judge = Callable[[Case, Received], tuple[list[str], list[CheckFailure]]]


class Suite(Protocol):
    """What this phase needs from a run (the runner, without importing it)."""

    @property
    def options(self) -> Options: ...

    @property
    def endpoints(self) -> Endpoints: ...

    def out_of_time(self) -> bool: ...

    def exchange(self, case: Case, extra: Judge | None = None) -> list[CheckFailure]:
        """Send, judge by every check and ``extra``, re-send failures on a fresh
        connection, record; the failures that reproduced."""
        ...

    def explore(
        self, strategy: Any, send: Callable[[Any], list[CheckFailure]], max_examples: int
    ) -> None: ...


CHECK_RULES = {
    "not_a_server_error": "server.no-5xx",
    "status_code_conformance": "response.status-documented",
    "content_type_conformance": "response.content-type",
    "response_schema_conformance": "response.schema",
}
DISABLED_CHECKS = (
    "negative_data_rejection",
    "positive_data_acceptance",
    "unsupported_method",
    "missing_required_header",
    "ignored_auth",
    "use_after_free",
    "ensure_resource_availability",
)


@functools.lru_cache(maxsize=16)
def _api_operation(operation_id: str, revision: str | None) -> Any:
    """The operation as Schemathesis sees it, from the revision's document."""
    import schemathesis

    op = operation_of(operation_id, revision)
    # An explicit Config: never pick up a schemathesis.toml from the working directory.
    schema = schemathesis.openapi.from_dict(
        copy.deepcopy(dict(op.spec.document)), config=schemathesis.Config()
    )
    return schema[op.path][op.method]


def _checks() -> list[Any]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]


def _sent(kwargs: dict[str, Any]) -> Sent:
    url = str(kwargs["url"])
    params = kwargs.get("params") or {}
    if params:
        query = urllib.parse.urlencode(
            {str(k): str(v) for k, v in params.items()}, quote_via=urllib.parse.quote
        )
        url += ("&" if "?" in url else "?") + query
    headers = {
        str(k): str(v)
        for k, v in (kwargs.get("headers") or {}).items()
        if k.lower() not in ("connection", "accept-encoding")
    }
    body: bytes | None = None
    if "json" in kwargs:
        body = json.dumps(kwargs["json"]).encode()
        headers.setdefault("Content-Type", "application/json")
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        body = data if isinstance(data, bytes) else str(data).encode("utf-8", "surrogatepass")
    return Sent(str(kwargs["method"]), url, headers, body)


def _st_response(sent: Sent, received: Received) -> Any:
    import requests
    from schemathesis import Response

    request = requests.Request(
        method=sent.method, url=sent.url, headers=dict(sent.headers), data=sent.body or None
    ).prepare()
    return Response(
        status_code=received.status,
        headers={k.lower(): [v] for k, v in received.headers.items()},
        content=received.body,
        request=request,
        elapsed=received.elapsed,
        verify=True,
    )


def _our_case(options: Options, operation_id: str, st_case: Any, sent: Sent, mode: str) -> Case:
    label = f"schemathesis: {mode}"
    auth = {k.lower(): v for k, v in sent.headers.items()}.get("authorization") or ""
    scheme, _, credentials = auth.partition(" ")
    ours = scheme.lower() == "bearer" and credentials.strip() == (options.token or "")
    probe = None if ours else "auth"
    if operation_id == BRM_OPERATION:
        # The id as sent (the last path segment, percent-decoded; "+" stays "+").
        path = urllib.parse.urlsplit(sent.url).path
        raw_id = urllib.parse.unquote(path.rsplit("/accumulatedBalance/", 1)[-1])
        query = {str(k): str(v) for k, v in (st_case.query or {}).items()}
        params: dict[str, Any] = {"id": raw_id}
        for name in ("@type", "fields"):
            if name in query:
                params[name] = query[name]
        fx = options.fixtures
        type_ok = params.get("@type", fx.brm_types[0]) in fx.brm_types
        if probe is None and sent.method == "GET" and "/" not in raw_id:
            if not type_ok and raw_id in fx.brm_ids:
                probe = "brm-bad-type"
            elif type_ok and set(query) <= {"@type", "fields"}:
                probe = "brm-known" if raw_id in fx.brm_ids else "brm-unknown"
        return Case(operation_id, label, sent, phase="schemathesis", request=params, probe=probe)
    key = item_key(operation_of(operation_id, options.revision))
    request: Any = sent.body
    invalid: dict[int, ItemExpect] = {}
    try:
        parsed = orjson.loads(sent.body or b"")
    except orjson.JSONDecodeError:
        parsed = None
    single = Case(operation_id, label, sent).kind == SINGLE
    items = [parsed] if single else parsed.get(key) if isinstance(parsed, dict) and key else None
    if isinstance(parsed, dict) and isinstance(items, list):
        request = parsed
        # The one rule set says which generated items are invalid: those must be rejected.
        report = validate_request(
            operation_id,
            sent.body or b"",
            classifiers=dict(options.fixtures.classifiers),
            spec=operation_of(operation_id, options.revision).spec,
            positions=False,
        )
        invalid = item_expectations(operation_id, report.errors, items, options.revision)
    return Case(
        operation_id,
        label,
        sent,
        phase="schemathesis",
        request=request,
        probe=probe,
        invalid_items=invalid if probe is None else {},
        item_key=key,
    )


def _echo_conflict(case: Case) -> bool:
    """An item whose echoed identifier exceeds the result schema's maxLength: the
    result must echo it (batch.result-correlation) yet may not (the schema), so
    Schemathesis's schema check is skipped for that exchange (the suite's own
    response.schema check still runs, without that one finding)."""
    for item in case.items():
        if isinstance(item, dict):
            for name in ("communicationNumber", "businessUnit"):
                value = item.get(name)
                if isinstance(value, str) and len(value) > 255:
                    return True
    return False


def _judge(
    checks: list[Any], st_case: Any, case: Case, received: Received
) -> tuple[list[str], list[CheckFailure]]:
    """Schemathesis's own response checks, each reported under its contract rule."""
    from schemathesis.core.failures import Failure

    if received.error or not judged_against_spec(case):
        return [], []  # the suite's own checks judged it (CONTRACT.md 3.1)
    response = _st_response(case.sent, received)
    rules: list[str] = []
    failures: list[CheckFailure] = []
    for check in checks:
        if check.__name__ == "response_schema_conformance" and _echo_conflict(case):
            continue
        rule = CHECK_RULES[check.__name__]
        rules.append(rule)
        try:
            st_case.validate_response(response, checks=[check])
        except BaseExceptionGroup as group:
            for exc in group.exceptions:
                if isinstance(exc, Failure):
                    message = f"schemathesis {check.__name__}: {exc.title}. {exc.message}"
                    failures.append(CheckFailure(rule, message.strip()))
        except Failure as exc:
            failures.append(CheckFailure(rule, f"schemathesis {check.__name__}: {exc.title}"))
    return rules, failures


def run(suite: Suite) -> None:
    from schemathesis.generation import GenerationMode

    options = suite.options
    checks = _checks()
    per_mode = max(1, options.max_examples // 2)
    for operation_id in options.operations:
        op = operation_of(operation_id, options.revision)
        if options.read_only and op.method != "GET":
            continue
        base = (
            suite.endpoints.brm_base_url
            if operation_id == BRM_OPERATION
            else suite.endpoints.base_url
        )
        api_op = _api_operation(operation_id, options.revision)
        auth = {"Authorization": f"Bearer {options.token}"} if options.token else {}
        for mode_name, mode in (
            ("positive", GenerationMode.POSITIVE),
            ("negative", GenerationMode.NEGATIVE),
        ):
            if suite.out_of_time():
                return

            def send(
                st_case: Any,
                operation_id: str = operation_id,
                base: str = base,
                mode_name: str = mode_name,
                auth: dict[str, str] = auth,
            ) -> list[CheckFailure]:
                sent = _sent(st_case.as_transport_kwargs(base_url=base, headers=auth))
                case = _our_case(suite.options, operation_id, st_case, sent, mode_name)
                return suite.exchange(case, functools.partial(_judge, checks, st_case))

            suite.explore(api_op.as_strategy(generation_mode=mode), send, per_mode)
