"""Serving the app with uvicorn: in a background thread (tests, library) or in the
foreground (the CLI), always on a socket we bind ourselves so port 0 works."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Generator, Iterable
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from . import fixtures
from .asgi import DEFAULT_BODY_TIMEOUT, DEFAULT_MAX_BODY, ServerApp, app

STARTUP_TIMEOUT = 10.0


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted
    # sockets whose proto says TCP, and without it every response waits ~40 ms for a
    # delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _config(asgi: ServerApp, **overrides: Any) -> uvicorn.Config:
    # No access log: nothing about requests, least of all credentials, is written.
    return uvicorn.Config(
        asgi,
        interface="asgi3",
        lifespan="on",
        access_log=False,
        proxy_headers=False,  # a test server: the peer is the client
        server_header=False,
        date_header=False,
        log_level="warning",
        timeout_graceful_shutdown=5,
        **overrides,
    )


class _Server(uvicorn.Server):
    """uvicorn re-raises a caught SIGINT/SIGTERM after its graceful shutdown, which
    would make a clean stop look like a crash (exit -15 / KeyboardInterrupt).
    Handle them once: shut down gracefully, a second one forces it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True


@contextlib.contextmanager
def running(
    *,
    token: str = fixtures.DEFAULT_TOKEN,
    bugs: Iterable[str] = (),
    state: str | Path | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    host: str = "127.0.0.1",
    profile: str = "default",
    revision: str | None = None,
) -> Generator[str, None, None]:
    """Run the reference server on a free loopback port in a background thread;
    yields its base URL (``http://127.0.0.1:PORT``) and stops it on exit.
    ``revision``: the vendor revision it implements (a date or ``latest``; see ``app``)."""
    asgi = app(
        token=token,
        bugs=bugs,
        state=state,
        max_body=max_body,
        body_timeout=body_timeout,
        profile=profile,
        revision=revision,
    )
    sock = bind(host, 0)
    server = _Server(_config(asgi))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="amlyze-reference-server", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("reference server did not start")
            time.sleep(0.005)
        yield base_url(sock)
    finally:
        server.should_exit = True
        thread.join(STARTUP_TIMEOUT)
        sock.close()
        asgi.close()  # idempotent with the lifespan shutdown


def serve(
    *,
    host: str,
    port: int,
    token: str,
    bugs: Iterable[str] = (),
    state: str | Path | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    announce: Any = None,
    profile: str = "default",
    revision: str | None = None,
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM; ``announce(url)`` once listening."""
    asgi = app(
        token=token,
        bugs=bugs,
        state=state,
        max_body=max_body,
        profile=profile,
        revision=revision,
    )
    sock = bind(host, port)
    try:
        if announce is not None:
            announce(base_url(sock))
        _Server(_config(asgi)).run(sockets=[sock])
    finally:
        sock.close()
        asgi.close()
