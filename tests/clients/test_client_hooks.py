"""The client hooks against the reference server on 127.0.0.1, through each of httpx
(sync and async event hooks), a requests transport adapter and a requests hook."""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import requests

from amlyze_contracts import MissingExtra, SpecError
from amlyze_contracts.clients import (
    LOGGER_NAME,
    ContractViolation,
    ContractWarning,
    httpx_async_hooks,
    httpx_hooks,
    requests_adapter,
    requests_hooks,
)
from amlyze_contracts.server import running
from amlyze_contracts.server.fixtures import valid_account
from tests.clients.helpers import ACCOUNTS, AUTH, BRM, BRM_ID, KINDS, accounts, body, send

pytestmark = pytest.mark.network

CORRELATION = "batch.result-correlation"


def _records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER_NAME]


@pytest.fixture(scope="module")
def brm_bug() -> Iterator[str]:
    with running(bugs=["brm-href-wrong-collection"]) as url:
        yield url


@pytest.mark.parametrize("kind", KINDS)
def test_valid_exchanges_pass_silently(
    kind: str, correct: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ContractWarning)
        for mode in ("raise", "warn", "log"):
            posted = send(kind, correct, "POST", ACCOUNTS, body(accounts()), mode=mode)
            read = send(kind, correct, "GET", BRM + BRM_ID, mode=mode)
            assert posted.status_code == 200 and read.status_code == 200
            assert [r["resultType"] for r in posted.json()["results"]] == ["REQUEST_ACCEPTED"] * 3
    assert _records(caplog) == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_response_bug_raises_with_the_report(kind: str, reversed_results: str) -> None:
    with pytest.raises(ContractViolation) as caught:
        send(kind, reversed_results, "POST", ACCOUNTS, body(accounts()))
    exc = caught.value
    [report] = exc.reports
    assert report.kind == "response" and report.operation_id == "batchAccounts"
    assert report.rules() == {CORRELATION} and len(report.errors) == 4
    assert {v.pointer for v in exc.violations} == {
        f"/results/{i}/{m}" for i in (0, 2) for m in ("communicationNumber", "accountExtId")
    }
    assert exc.response.status_code == 200  # the caller can still look at the answer
    first, *lines = str(exc).splitlines()
    assert first == (
        f"POST {reversed_results}{ACCOUNTS}: 4 contract errors in the response of batchAccounts"
    )
    assert len(lines) == 4 and lines[0].startswith(f"  response error {CORRELATION} /results/0/")


@pytest.mark.parametrize("kind", KINDS)
def test_a_brm_response_bug_raises(kind: str, brm_bug: str) -> None:
    with pytest.raises(ContractViolation) as caught:
        send(kind, brm_bug, "GET", BRM + BRM_ID)
    [report] = caught.value.reports
    assert (report.operation_id, report.rules()) == (
        "retrieveAccumulatedBalance",
        {"brm.href-consistent"},
    )


@pytest.mark.parametrize("kind", KINDS)
def test_an_invalid_request_is_stopped_before_it_is_sent(kind: str, correct: str) -> None:
    items = accounts(3)
    broken = [{k: v for k, v in items[0].items() if k != "currencyCode"}, *items[1:]]
    with pytest.raises(ContractViolation) as caught:
        send(kind, correct, "POST", ACCOUNTS, body(broken))
    [report] = caught.value.reports[:1]
    assert report.kind == "request"
    assert [(v.rule, v.pointer) for v in report.errors] == [
        ("schema.required", "/accounts/0/currencyCode")
    ]
    # The server records every accepted communicationNumber: a resend of the two valid
    # items is refused (O005) only if the broken batch reached it.
    again = requests.post(correct + ACCOUNTS, data=body(items[1:]), headers=AUTH, timeout=10)
    types = [r["resultType"] for r in again.json()["results"]]
    if kind == "requests-hooks":  # a response hook runs after the exchange: it was sent
        assert types == ["REQUEST_REJECTED"] * 2
        assert caught.value.response.status_code == 200
        assert [r.kind for r in caught.value.reports] == ["request"]  # the answer is valid
    else:
        assert types == ["REQUEST_ACCEPTED"] * 2
        assert caught.value.response is None


@pytest.mark.parametrize("kind", KINDS)
def test_warn_mode_warns_and_returns_the_response(kind: str, reversed_results: str) -> None:
    with pytest.warns(ContractWarning) as caught:
        response = send(kind, reversed_results, "POST", ACCOUNTS, body(accounts()), mode="warn")
    assert response.status_code == 200
    [warning] = [w for w in caught if issubclass(w.category, ContractWarning)]
    text = str(warning.message).splitlines()
    assert text[0] == f"POST {reversed_results}{ACCOUNTS} batchAccounts"
    assert len(text) == 5 and all(f"response error {CORRELATION}" in t for t in text[1:])


@pytest.mark.parametrize("kind", KINDS)
def test_log_mode_logs_one_record_per_violation(
    kind: str, reversed_results: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    response = send(kind, reversed_results, "POST", ACCOUNTS, body(accounts()), mode="log")
    assert response.status_code == 200
    records = _records(caplog)
    assert [r.levelno for r in records] == [logging.ERROR] * 4
    assert (
        records[0]
        .getMessage()
        .startswith(
            f"POST {reversed_results}{ACCOUNTS} batchAccounts response error {CORRELATION} /results/0/"
        )
    )


@pytest.mark.parametrize("kind", KINDS)
def test_only_errors_raise_warnings_are_logged(
    kind: str, reversed_results: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    regraded = {CORRELATION: "warning"}
    response = send(kind, reversed_results, "POST", ACCOUNTS, body(accounts()), severities=regraded)
    assert response.status_code == 200
    records = _records(caplog)
    assert [r.levelno for r in records] == [logging.WARNING] * 4
    assert f"response warning {CORRELATION}" in records[0].getMessage()


@pytest.mark.parametrize("kind", KINDS)
def test_the_bearer_token_never_reaches_a_message(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The token doubles as a communicationNumber, so the correlation messages quote it.
    token = f"tok-{uuid.uuid4().hex}"
    items = [valid_account(token, "acc-a"), valid_account(f"x-{token[4:]}", "acc-b")]
    headers = {**AUTH, "Authorization": f"Bearer {token}"}
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    with running(token=token, bugs=["results-reversed"]) as url:
        with pytest.raises(ContractViolation) as caught:
            send(kind, url, "POST", ACCOUNTS, body(items), headers=headers)
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            send(kind, url, "POST", ACCOUNTS, body(items), headers=headers, mode="warn")
    texts = [str(caught.value), *(str(w.message) for w in warned)]
    texts += [v.message for v in caught.value.violations]
    assert "'***'" in texts[0] and len(texts) > 2
    assert not any(token in text for text in texts)
    assert not any(token in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("kind", KINDS)
def test_exchanges_not_under_the_base_url_are_left_alone(kind: str, reversed_results: str) -> None:
    for elsewhere in (reversed_results + "/elsewhere", "http://localhost:1"):
        response = send(
            kind, reversed_results, "POST", ACCOUNTS, body(accounts()), hooks_base=elsewhere
        )
        assert response.status_code == 200
    # A path of no bundled operation under the base URL: not judged either.
    answer = send(kind, reversed_results, "GET", "/amlyze-ws-rest/no-such-operation")
    assert answer.status_code == 404


def test_the_brm_base_url_is_where_brm_reads_are_judged(brm_bug: str) -> None:
    # An AMLYZE base URL elsewhere (the BRM API on its own host): BRM reads are judged
    # under brm_base_url only.
    for brm_base, judged in (("http://127.0.0.1:9/brm", False), (brm_bug + "/brm", True)):
        hooks = httpx_hooks("http://127.0.0.1:9", brm_base_url=brm_base)
        with httpx.Client(event_hooks=hooks) as client:
            try:
                client.get(brm_bug + BRM + BRM_ID, headers=AUTH)
            except ContractViolation as exc:
                assert judged and [r.rules() for r in exc.reports] == [{"brm.href-consistent"}]
            else:
                assert not judged


@pytest.mark.parametrize("kind", KINDS)
def test_a_revision_is_validated_against_its_documents(kind: str, correct: str) -> None:
    response = send(kind, correct, "POST", ACCOUNTS, body(accounts()), revision="latest")
    assert response.status_code == 200


@pytest.mark.parametrize("make", [httpx_hooks, httpx_async_hooks, requests_adapter, requests_hooks])
def test_bad_options_fail_when_the_hook_is_made(make: Any) -> None:
    with pytest.raises(SpecError, match="unknown revision '1999-01-01'"):
        make("http://127.0.0.1:9", revision="1999-01-01")
    with pytest.raises(ValueError, match="mode must be one of raise, warn, log, not 'loud'"):
        make("http://127.0.0.1:9", "loud")


def test_a_streamed_request_is_judged_without_the_request_rules(
    reversed_results: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    data = body(accounts())
    with httpx.Client(event_hooks=httpx_hooks(reversed_results), timeout=10) as client:
        response = client.post(reversed_results + ACCOUNTS, content=iter([data]), headers=AUTH)
    assert response.status_code == 200  # the correlation rules need the request
    [note] = [r.getMessage() for r in _records(caplog)]
    assert note == f"POST {reversed_results}{ACCOUNTS} not validated: request body is a stream"


@pytest.mark.parametrize("kind", KINDS)
def test_bodies_over_the_bound_are_not_validated(
    kind: str, reversed_results: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    data = body(accounts())
    response = send(kind, reversed_results, "POST", ACCOUNTS, data, max_validate_bytes=100)
    assert response.status_code == 200 and len(response.json()["results"]) == 3
    notes = [r.getMessage() for r in _records(caplog)]
    assert notes[0] == (
        f"POST {reversed_results}{ACCOUNTS} not validated: request body of {len(data)} bytes "
        "over max_validate_bytes (100)"
    )
    assert notes[1].startswith(
        f"POST {reversed_results}{ACCOUNTS} not validated: response body of "
    )
    assert len(notes) == 2


@pytest.mark.parametrize(
    ("make", "module"),
    [
        (httpx_hooks, "httpx"),
        (httpx_async_hooks, "httpx"),
        (requests_adapter, "requests"),
        (requests_hooks, "requests"),
    ],
)
def test_a_missing_library_is_one_line(
    make: Any, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a)
    )
    with pytest.raises(MissingExtra) as caught:
        make("http://127.0.0.1:9")
    assert str(caught.value) == (
        f"amlyze_contracts.clients.{make.__name__} needs the 'clients' extra "
        f"({module} is not installed): pip install 'amlyze-contracts[clients]'"
    )


def test_importing_the_hooks_imports_no_http_library() -> None:
    code = """
import sys
import amlyze_contracts, amlyze_contracts.clients, amlyze_contracts.asgi
from amlyze_contracts import validate_request
heavy = ("httpx", "requests", "starlette", "uvicorn", "hypothesis", "schemathesis")
print(sorted(m for m in heavy if m in sys.modules))
amlyze_contracts.clients.httpx_hooks("http://127.0.0.1:9")  # httpx: when a hook runs
amlyze_contracts.asgi.ContractMiddleware(lambda scope, receive, send: None)
print(sorted(m for m in heavy if m in sys.modules))
amlyze_contracts.clients.requests_adapter("http://127.0.0.1:9")  # subclasses requests'
print(sorted(m for m in heavy if m in sys.modules))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.splitlines()
    assert out == ["[]", "[]", "['requests']"]


def test_a_response_is_read_once_and_kept_for_the_caller(reversed_results: str) -> None:
    # stream=True: the adapter reads the body to judge it; the caller still gets it all.
    data = body(accounts())
    with requests.Session() as session:
        session.mount(reversed_results, requests_adapter(reversed_results, "log"))
        response = session.post(
            reversed_results + ACCOUNTS, data=data, headers=AUTH, stream=True, timeout=10
        )
        chunks = b"".join(response.iter_content(16))
    assert len(orjson.loads(chunks)["results"]) == 3


def test_adapter_options_reach_the_http_adapter() -> None:
    adapter = requests_adapter("http://127.0.0.1:9", adapter_options={"max_retries": 3})
    assert adapter.max_retries.total == 3


def test_async_hooks_validate_a_large_batch_off_the_event_loop(reversed_results: str) -> None:
    data = body(accounts(1000))
    assert len(data) > 256 * 1024  # over the proxy's INLINE_VALIDATE: a worker thread
    with pytest.raises(ContractViolation) as caught:
        send("httpx-async", reversed_results, "POST", ACCOUNTS, data)
    [report] = caught.value.reports
    assert report.rules() == {CORRELATION} and len(report.errors) == 2000
