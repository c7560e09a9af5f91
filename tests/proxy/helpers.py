"""Helpers for the proxy tests: a hostile upstream on 127.0.0.1 (raw sockets, so it
can misbehave byte by byte), valid bodies, and the proxy in a thread or a process."""

from __future__ import annotations

import contextlib
import gzip
import os
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson

from amlyze_contracts.server.fixtures import DEFAULT_TOKEN, valid_account

ACCOUNTS = "/amlyze-ws-rest/batch-accounts"
AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}


def batch(count: int = 3) -> bytes:
    run = uuid.uuid4().hex[:10]
    return orjson.dumps(
        {"accounts": [valid_account(f"px-{run}-{i}", f"acc-{run}-{i}") for i in range(count)]}
    )


class Hostile(socketserver.ThreadingTCPServer):
    """Answers by path: /slow (sleeps before answering), /drip (a byte a tenth of a
    second, forever), /endless (chunks forever), /bomb (a gzip bomb), /echo (the
    request's Authorization and Cookie in a JSON body, and a Set-Cookie), /sink
    (reads the body, answers its length). Records each request head."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.heads: list[str] = []
        self.stop = threading.Event()
        self.tls = tls

    def get_request(self) -> tuple[socket.socket, object]:
        sock, address = super().get_request()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True)
        return sock, address

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a refused TLS handshake is part of a test, not noise

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.server_address[1]}"


BOMB = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)  # ~64 KB -> 64 MB


class _Handler(socketserver.BaseRequestHandler):
    server: Hostile

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(30)
        reader = sock.makefile("rb")
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = reader.readline()
            if not line:
                return
            head += line
        text = head.decode("latin-1")
        self.server.heads.append(text)
        headers = {
            k.strip().lower(): v.strip()
            for k, _, v in (line.partition(":") for line in text.split("\r\n")[1:] if line)
        }
        size = 0
        if "content-length" in headers:
            left = int(headers["content-length"])
            while left:
                got = reader.read(min(left, 1 << 16))
                if not got:
                    return
                size += len(got)
                left -= len(got)
        elif headers.get("transfer-encoding") == "chunked":
            while True:
                n = int(reader.readline().split(b";")[0], 16)
                if n == 0:
                    reader.readline()
                    break
                size += len(reader.read(n))
                reader.readline()
        path = text.split(" ", 2)[1]
        ok = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        try:
            if path.startswith("/slow"):
                time.sleep(3)
                sock.sendall(ok + b"Content-Length: 2\r\n\r\n{}")
            elif path.startswith("/drip"):
                sock.sendall(ok + b"Content-Length: 1000000\r\n\r\n")
                while not self.server.stop.is_set():
                    sock.sendall(b" ")
                    time.sleep(0.1)
            elif path.startswith("/endless"):
                sock.sendall(ok + b"Transfer-Encoding: chunked\r\n\r\n")
                piece = b"%x\r\n%s\r\n" % (1 << 16, b" " * (1 << 16))
                while not self.server.stop.is_set():
                    sock.sendall(piece)
            elif path.startswith("/bomb"):
                sock.sendall(
                    ok + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(BOMB) + BOMB
                )
            elif path.startswith("/echo"):
                body = orjson.dumps(
                    {"authorization": headers.get("authorization"), "cookie": headers.get("cookie")}
                )
                sock.sendall(
                    ok
                    + b"Set-Cookie: session=s3cr3t-session; Path=/\r\n"
                    + b"Content-Length: %d\r\n\r\n" % len(body)
                    + body
                )
            elif path.startswith("/sink"):
                body = b'{"received": %d}' % size
                sock.sendall(ok + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        except OSError:
            return


@contextlib.contextmanager
def hostile(tls: ssl.SSLContext | None = None) -> Iterator[Hostile]:
    server = Hostile(tls)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def proxy_process(
    *args: str, cwd: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``amlyze-contracts proxy --port 0 ARGS`` as a process; yields its URL and the
    process (the caller stops it and reads its output)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "amlyze_contracts", "proxy", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("proxying on "):
            proc.kill()
            raise RuntimeError(f"proxy did not start: {line!r} {proc.communicate()[1]!r}")
        yield line.split()[2], proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
