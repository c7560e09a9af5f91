"""What the client hooks and the ASGI middleware cost per exchange, in process (issue 16).

Three contenders on the same ``batchAccounts`` exchange (a valid N-item request and
its correct response, so the request, response and correlation rules all run in
full), timed side by side, interleaved round by round:

* ``validate``: ``validate_request`` + ``validate_response(..., request=...)`` called
  directly, the floor any integration pays;
* ``httpx hooks``: an ``httpx.Client`` on a ``MockTransport`` answering the canned
  response, with ``httpx_hooks`` minus the same client without them;
* ``middleware``: a canned ASGI app wrapped in ``ContractMiddleware`` minus the bare
  app, driven by a minimal ASGI caller (no HTTP, no framework).

    python -m bench hooks            # or: python -m bench.client_hooks [--rounds 5]

Reported: the median added time per exchange in ms, and its ratio to ``validate``
(1.0x: the integration adds nothing beyond the validation itself).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from amlyze_contracts import validate_request, validate_response
from amlyze_contracts.asgi import ContractMiddleware
from amlyze_contracts.clients import httpx_hooks
from amlyze_contracts.server.fixtures import valid_account

PATH = "/amlyze-ws-rest/batch-accounts"
BASE = "http://service"


def exchange(items: int) -> tuple[bytes, bytes]:
    run = uuid.uuid4().hex[:8]
    accounts = [valid_account(f"b-{run}-{i}", f"a-{run}-{i}") for i in range(items)]
    results = [
        {
            "resultType": "REQUEST_ACCEPTED",
            "communicationNumber": a["communicationNumber"],
            "accountExtId": a["accountExtId"],
            "businessUnit": a["businessUnit"],
            "timeElapsedMs": 1,
        }
        for a in accounts
    ]
    return orjson.dumps({"accounts": accounts}), orjson.dumps(
        {"results": results, "timeElapsedMs": 2}
    )


def canned_app(answer: bytes) -> Callable[..., Any]:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    return app


def asgi_caller(app: Any, request: bytes) -> Callable[[], None]:
    scope = {
        "type": "http",
        "method": "POST",
        "path": PATH,
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
    }

    async def one() -> None:
        incoming = [{"type": "http.request", "body": request, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return incoming.pop() if incoming else {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            pass

        await app(scope, receive, send)

    loop = asyncio.new_event_loop()
    return lambda: loop.run_until_complete(one())


def httpx_caller(request: bytes, answer: bytes, hooks: bool) -> Callable[[], None]:
    transport = httpx.MockTransport(
        lambda r: httpx.Response(200, content=answer, headers={"content-type": "application/json"})
    )
    event_hooks = httpx_hooks(BASE, "raise") if hooks else None
    client = httpx.Client(transport=transport, event_hooks=event_hooks)
    headers = {"content-type": "application/json"}
    return lambda: client.post(BASE + PATH, content=request, headers=headers).read() and None


def direct_caller(request: bytes, answer: bytes) -> Callable[[], None]:
    def call() -> None:
        assert validate_request("batchAccounts", request, positions=False).valid
        assert validate_response(
            "batchAccounts", 200, answer, headers={"content-type": "application/json"},
            request=request,
        ).valid  # fmt: skip

    return call


def per_call_ms(call: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=40, help="calls per contender and round")
    parser.add_argument("--items", type=int, nargs="+", default=[1, 100, 1000])
    args = parser.parse_args(argv)

    print(
        "| items | validate (ms) | httpx hooks added (ms) | x validate | middleware added (ms) | x validate |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for items in args.items:
        request, answer = exchange(items)
        contenders = {
            "validate": direct_caller(request, answer),
            "httpx bare": httpx_caller(request, answer, hooks=False),
            "httpx hooks": httpx_caller(request, answer, hooks=True),
            "asgi bare": asgi_caller(canned_app(answer), request),
            "asgi middleware": asgi_caller(
                ContractMiddleware(canned_app(answer), "report"), request
            ),
        }
        for call in contenders.values():  # warm up: imports, compiled rules
            for _ in range(3):
                call()
        got: dict[str, list[float]] = {name: [] for name in contenders}
        for round_ in range(args.rounds):
            names = list(contenders) if round_ % 2 == 0 else list(reversed(contenders))
            for name in names:
                got[name].append(per_call_ms(contenders[name], args.repeat))
        med = {name: statistics.median(values) for name, values in got.items()}
        hooks = med["httpx hooks"] - med["httpx bare"]
        middleware = med["asgi middleware"] - med["asgi bare"]
        floor = med["validate"]
        print(
            f"| {items} | {floor:.3f} | {hooks:.3f} | {hooks / floor:.2f}x "
            f"| {middleware:.3f} | {middleware / floor:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
