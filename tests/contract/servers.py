"""Small servers on 127.0.0.1 for the suite's own tests: any ASGI app served by
uvicorn in a thread, the reference server wrapped by a middleware (mounted under a
prefix, failing now and then, recording what it receives, revoking the token), and
tiny apps that answer everything alike; and the CLI and pytest in a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import uvicorn

from amlyze_contracts.server.asgi import app as reference_app

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGI = Callable[[Scope, Receive, Send], Awaitable[None]]
TOKEN = "s3cret-t0ken-value"


@contextlib.contextmanager
def serve(asgi: ASGI) -> Iterator[str]:
    """Serve ``asgi`` on a free loopback port; yields ``http://127.0.0.1:PORT``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    config = uvicorn.Config(asgi, lifespan="auto", access_log=False, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.005)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


async def respond(
    send: Send, status: int, body: Any, content_type: str = "application/json"
) -> None:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def answering(status: int, body: Any, *, classifiers: bool = False) -> ASGI:
    """Answers every request alike (``classifiers``: serves GET /classifier/* too)."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await read_body(receive)
        if classifiers and scope["path"].startswith("/classifier/"):
            await respond(send, 200, [{"code": "EUR"}])
            return
        await respond(send, status, body)

    return asgi


Hook = Callable[[Scope, bytes], Awaitable[tuple[int, Any] | None]]


class Wrapped:
    """The reference server behind a hook: the hook sees each request (scope, body)
    and answers it itself (status, body) or returns None to pass it on."""

    def __init__(self, hook: Hook, *, prefix: str = "", bugs: tuple[str, ...] = ()) -> None:
        self.inner = reference_app(token=TOKEN, bugs=bugs)
        self.hook = hook
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        body = await read_body(receive)
        path: str = scope["path"]
        if self.prefix:
            if not path.startswith(self.prefix + "/"):
                await respond(send, 404, b"<html>Not Found</html>", "text/html")
                return
            path = path[len(self.prefix) :]
            scope = {**scope, "path": path, "raw_path": path.encode()}
        answer = await self.hook(scope, body)
        if answer is not None:
            await respond(send, *answer)
            return
        sent = False

        async def replay() -> MutableMapping[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.inner(scope, replay, send)


async def passing(scope: Scope, body: bytes) -> None:
    return None


def _env(token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AMLYZE_CONTRACTS_TOKEN"}
    env["CI"] = "true"
    if token is not None:
        env["AMLYZE_CONTRACTS_TOKEN"] = token
    return env


def cli(*args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess[str]:
    """``amlyze-contracts test ARGS`` in a subprocess (CI mode; the token from the env)."""
    return subprocess.run(
        [sys.executable, "-m", "amlyze_contracts", "test", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(token),
    )


def run_pytest(
    cwd: Path, *args: str, token: str | None = TOKEN
) -> subprocess.CompletedProcess[str]:
    """``pytest -q ARGS`` in a subprocess in ``cwd`` (the plugin loads by entry point)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=_env(token),
    )
