"""ContractMiddleware around a hand-written Starlette implementation of batchAccounts
(correct, or dropping a result) and around the reference server, in process (httpx's
ASGITransport, Starlette's TestClient) and once over real HTTP (uvicorn)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from amlyze_contracts import SpecError
from amlyze_contracts.asgi import LOGGER_NAME, REJECTED, ContractMiddleware
from amlyze_contracts.proxy.server import NOT_VALIDATED_HEADER, VIOLATIONS_HEADER, error_body
from amlyze_contracts.server import app as reference_app
from tests.clients.helpers import ACCOUNTS, AUTH, BRM, BRM_ID, accounts, body

PER_ITEM = "batch.result-per-item"


class Service:
    """A team's own implementation of batchAccounts, with its bugs as switches."""

    def __init__(self, *, drop_last: bool = False, echo_token: bool = False) -> None:
        self.calls = 0
        self.drop_last = drop_last
        self.echo_token = echo_token
        self.started = False

    async def batch_accounts(self, request: Request) -> Response:
        self.calls += 1
        items = (await request.json())["accounts"]
        results = [
            {
                "resultType": "REQUEST_ACCEPTED",
                "communicationNumber": item["communicationNumber"],
                "accountExtId": item["accountExtId"],
                "businessUnit": item["businessUnit"],
                "timeElapsedMs": 1,
            }
            for item in items
        ]
        if self.echo_token:  # a debugging aid gone wrong: the credential in a body
            results[0]["communicationNumber"] = request.headers["authorization"].split()[-1]
        if self.drop_last:
            results.pop()
        return JSONResponse({"results": results, "timeElapsedMs": 2})

    async def other(self, request: Request) -> Response:
        async def pieces() -> AsyncIterator[bytes]:
            for i in range(3):
                yield f"piece {i}\n".encode()

        return StreamingResponse(pieces(), media_type="text/plain")

    def app(self) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            self.started = True
            yield

        return Starlette(
            routes=[
                Route(ACCOUNTS, self.batch_accounts, methods=["POST"]),
                Route("/other", self.other),
            ],
            lifespan=lifespan,
        )


def _post(
    asgi: Any, content: bytes, headers: dict[str, str] = AUTH, path: str = ACCOUNTS
) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            if path.startswith(BRM):
                return await client.get(path, headers=headers)
            return await client.post(path, content=content, headers=headers)

    return asyncio.run(go())


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]


def _broken() -> bytes:
    items = accounts(2)
    del items[1]["currencyCode"]
    return body(items)


@pytest.mark.parametrize("mode", ["reject", "report"])
def test_a_correct_service_passes_untouched(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    service = Service()
    asgi = ContractMiddleware(service.app(), mode)
    response = _post(asgi, body(accounts(3)))
    assert response.status_code == 200 and len(response.json()["results"]) == 3
    assert response.headers[VIOLATIONS_HEADER] == "0"
    assert _messages(caplog) == []


@pytest.mark.parametrize("mode", ["reject", "report"])
def test_a_dropped_result_is_reported(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    asgi = ContractMiddleware(Service(drop_last=True).app(), mode)
    response = _post(asgi, body(accounts(3)))
    assert response.status_code == 200 and len(response.json()["results"]) == 2  # as answered
    assert response.headers[VIOLATIONS_HEADER] == "1"
    assert _messages(caplog) == [
        f"POST {ACCOUNTS} batchAccounts response error {PER_ITEM} /results: "
        "2 results for 3 submitted items; exactly one per item is required"
    ]


def test_reject_answers_an_invalid_request_with_the_proxy_error_body() -> None:
    service = Service()
    response = _post(ContractMiddleware(service.app(), "reject"), _broken())
    assert service.calls == 0  # never reached the service
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.headers[VIOLATIONS_HEADER] == "1"
    answer = response.json()
    proxy = orjson.loads(error_body(ACCOUNTS, 400, REJECTED, violations=answer["violations"]))
    assert {k: v for k, v in answer.items() if k != "timestamp"} == {
        k: v for k, v in proxy.items() if k != "timestamp"
    }
    assert (answer["status"], answer["path"], answer["message"]) == (400, ACCOUNTS, REJECTED)
    assert [(v["rule"], v["pointer"], v["code"]) for v in answer["violations"]] == [
        ("schema.required", "/accounts/1/currencyCode", "001")
    ]


def test_report_lets_an_invalid_request_through(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    service = Service()
    response = _post(ContractMiddleware(service.app(), "report"), _broken())
    assert service.calls == 1 and response.status_code == 200
    assert response.headers[VIOLATIONS_HEADER] == "1"
    [line] = _messages(caplog)
    assert line.startswith(f"POST {ACCOUNTS} batchAccounts request error schema.required ")


def test_warnings_do_not_reject(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    service = Service()
    asgi = ContractMiddleware(service.app(), severities={"schema.required": "warning"})
    response = _post(asgi, _broken())
    assert service.calls == 1 and response.status_code == 200
    assert [r.levelno for r in caplog.records if r.name == LOGGER_NAME] == [logging.WARNING]


def test_other_routes_stream_untouched() -> None:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=ContractMiddleware(Service().app()))
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            return await client.get("/other")

    response = asyncio.run(go())
    assert response.text == "piece 0\npiece 1\npiece 2\n"
    assert VIOLATIONS_HEADER not in response.headers


def test_the_lifespan_reaches_the_app() -> None:
    service = Service()
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: Any) -> None:
        sent.append(message["type"])

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    asyncio.run(ContractMiddleware(service.app())(scope, receive, send))
    assert service.started
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_bodies_over_the_bound_pass_whole_and_unvalidated(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    service = Service(drop_last=True)
    asgi = ContractMiddleware(service.app(), max_validate_bytes=100)
    response = _post(asgi, body(accounts(3)))
    assert service.calls == 1 and len(response.json()["results"]) == 2  # whole both ways
    assert response.headers[VIOLATIONS_HEADER] == "0"
    assert response.headers[NOT_VALIDATED_HEADER] == (
        "request body over max_validate_bytes (100); response body over max_validate_bytes (100)"
    )
    assert len(_messages(caplog)) == 2


def test_a_compressed_response_is_judged_decoded() -> None:
    inner = GZipMiddleware(Service(drop_last=True).app(), minimum_size=10)
    response = _post(ContractMiddleware(inner), body(accounts(30)))
    assert response.headers["content-encoding"] == "gzip"
    assert len(response.json()["results"]) == 29
    assert response.headers[VIOLATIONS_HEADER] == "1"


def test_the_header_can_be_left_out() -> None:
    response = _post(
        ContractMiddleware(Service(drop_last=True).app(), header=False), body(accounts(2))
    )
    assert response.status_code == 200 and VIOLATIONS_HEADER not in response.headers


def test_an_echoed_token_is_scrubbed_from_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    token = "s3cret-token-of-the-test"
    headers = {**AUTH, "Authorization": f"Bearer {token}"}
    response = _post(ContractMiddleware(Service(echo_token=True).app()), body(accounts(2)), headers)
    assert token in response.text  # the service's own bug, passed on as answered
    messages = _messages(caplog)
    assert messages and any("'***'" in m for m in messages)
    assert not any(token in m for m in messages)


def test_options_fail_when_the_middleware_is_built() -> None:
    with pytest.raises(SpecError, match="unknown revision '1999-01-01'"):
        ContractMiddleware(Service().app(), revision="1999-01-01")
    with pytest.raises(ValueError, match="mode must be one of reject, report, not 'raise'"):
        ContractMiddleware(Service().app(), "raise")
    response = _post(ContractMiddleware(Service().app(), revision="latest"), body(accounts(2)))
    assert response.headers[VIOLATIONS_HEADER] == "0"


@pytest.mark.parametrize(
    ("bugs", "path", "header", "rules"),
    [
        ((), ACCOUNTS, "0", set()),
        (("results-reversed",), ACCOUNTS, "4", {"batch.result-correlation"}),
        ((), BRM + BRM_ID, "0", set()),
        (("brm-href-wrong-collection",), BRM + BRM_ID, "1", {"brm.href-consistent"}),
    ],
)
def test_around_the_reference_server(
    bugs: tuple[str, ...], path: str, header: str, rules: set[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    server = reference_app(bugs=bugs)
    try:
        response = _post(ContractMiddleware(server, "report"), body(accounts(3)), path=path)
    finally:
        server.close()
    assert response.status_code == 200
    assert response.headers[VIOLATIONS_HEADER] == header
    assert {m.split()[5] for m in _messages(caplog)} == rules


@contextlib.contextmanager
def _served(asgi: Any) -> Iterator[str]:
    from amlyze_contracts.server.runner import _config, _Server, base_url, bind

    sock = bind()
    server = _Server(_config(asgi))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield base_url(sock)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.mark.network
def test_over_real_http_around_the_reference_server() -> None:
    server = reference_app()
    with (
        _served(ContractMiddleware(server, "reject")) as url,
        httpx.Client(base_url=url, headers=AUTH, timeout=10) as client,
    ):
        rejected = client.post(ACCOUNTS, content=_broken())
        accepted = client.post(ACCOUNTS, content=body(accounts(2)))
        read = client.get(BRM + BRM_ID)
    assert rejected.status_code == 400 and rejected.json()["message"] == REJECTED
    assert accepted.status_code == 200 and accepted.headers[VIOLATIONS_HEADER] == "0"
    assert read.status_code == 200 and read.headers[VIOLATIONS_HEADER] == "0"


def test_a_large_batch_is_validated_whole() -> None:
    data = body(accounts(1000))
    assert len(data) > 256 * 1024  # over the proxy's INLINE_VALIDATE: a worker thread
    response = _post(ContractMiddleware(Service(drop_last=True).app()), data)
    assert len(response.json()["results"]) == 999
    assert response.headers[VIOLATIONS_HEADER] == "1"
