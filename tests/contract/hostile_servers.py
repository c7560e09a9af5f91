"""Small hostile HTTP servers on 127.0.0.1 for the contract suite's bounds.

Each answers ``GET /classifier/{name}`` like a real deployment (so a run against it
is a real run, not a misconfiguration) and misbehaves on every other path: the
operation endpoints. Plain sockets and threads, one request per connection, so a
behaviour can be exactly as rude as it needs to be. Used by
``tests/contract/test_hostile.py`` and ``bench/hostile_servers.py``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import orjson

from amlyze_contracts.server.fixtures import CLASSIFIERS

DRIP_INTERVAL = 0.3  # seconds between two bytes of a drip-fed answer
BOMB_SIZE = 1 << 30  # a compression bomb inflates to 1 GiB of spaces (~1 MB on the wire)
HUGE_DECLARED = 3_000_000_000  # the declared Content-Length of the "3 GB" body
DEEP = 200_000  # nesting of the deep JSON body
BLOCK = 64 * 1024
BLOCK_MIB = 1 << 20


class _Gone(Exception):
    """The client closed the connection (or the server is shutting down)."""


@functools.cache
def _raw_deflate() -> bytes:
    """A raw deflate stream of BOMB_SIZE spaces, built in a blink: after a full flush
    the compressor starts afresh, so every 1 MiB block compresses to the same bytes."""
    block = b" " * BLOCK_MIB
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    unit = squeeze.compress(block) + squeeze.flush(zlib.Z_FULL_FLUSH)
    return unit * (BOMB_SIZE // BLOCK_MIB) + squeeze.flush()


def _spaces_checksum(fn: Callable[[bytes, int], int], start: int) -> int:
    block, value = b" " * BLOCK_MIB, start
    for _ in range(BOMB_SIZE // BLOCK_MIB):
        value = fn(block, value)
    return value


@functools.cache
def gzip_bomb() -> bytes:
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    crc = _spaces_checksum(zlib.crc32, 0)
    size = BOMB_SIZE % (1 << 32)
    return header + _raw_deflate() + crc.to_bytes(4, "little") + size.to_bytes(4, "little")


@functools.cache
def deflate_bomb() -> bytes:
    """``Content-Encoding: deflate`` is the zlib format (RFC 9110 section 8.4.1.2)."""
    adler = _spaces_checksum(zlib.adler32, 1)
    return b"\x78\xda" + _raw_deflate() + adler.to_bytes(4, "big")


@dataclass
class _Conn:
    sock: socket.socket
    stop: threading.Event
    request: bytes = b""

    def send(self, data: bytes) -> None:
        if self.stop.is_set():
            raise _Gone
        try:
            self.sock.sendall(data)
        except OSError:
            raise _Gone from None

    def drip(self, data: bytes) -> None:
        for byte in data:
            if self.stop.wait(DRIP_INTERVAL):
                raise _Gone
            self.send(bytes([byte]))

    def wait(self) -> None:
        """Until the server shuts down or the client goes away."""
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                if not self.sock.recv(BLOCK):
                    return
            except TimeoutError:
                continue
            except OSError:
                return


def _head(status: str, *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", *headers, "Connection: close", "", ""]
    return "\r\n".join(lines).encode()


JSON = "Content-Type: application/json"


def _drip_body(c: _Conn) -> None:
    body = b'{"results": []}' + b" " * 985
    c.send(_head("200 OK", JSON, f"Content-Length: {len(body)}"))
    c.drip(body)


def _drip_head(c: _Conn) -> None:
    c.drip(_head("200 OK", JSON, "Content-Length: 2") + b"{}")


def _endless_chunked(c: _Conn) -> None:
    """As fast as the client reads, never ending."""
    c.send(_head("200 OK", JSON, "Transfer-Encoding: chunked"))
    chunk = f"{BLOCK:x}\r\n".encode() + b"[" * BLOCK + b"\r\n"
    while True:
        c.send(chunk)


def _endless_slow(c: _Conn) -> None:
    """A small chunk every 50 ms, never ending: no read ever waits long."""
    c.send(_head("200 OK", JSON, "Transfer-Encoding: chunked"))
    chunk = b"400\r\n" + b" " * 1024 + b"\r\n"
    while not c.stop.wait(0.05):
        c.send(chunk)
    raise _Gone


def _endless_interim(c: _Conn) -> None:
    """``100 Continue`` after ``100 Continue``, never a final answer."""
    while not c.stop.wait(0.05):
        c.send(b"HTTP/1.1 100 Continue\r\n\r\n")
    raise _Gone


def _endless_headers(c: _Conn) -> None:
    c.send(b"HTTP/1.1 200 OK\r\n")
    n = 0
    while True:
        n += 1
        c.send(f"X-Filler-{n}: {'x' * 100}\r\n".encode())


def _bomb(encoding: str, body: Callable[[], bytes]) -> Callable[[_Conn], None]:
    def handler(c: _Conn) -> None:
        data = body()
        c.send(
            _head("200 OK", JSON, f"Content-Encoding: {encoding}", f"Content-Length: {len(data)}")
        )
        c.send(data)

    return handler


def _hang(c: _Conn) -> None:
    c.wait()


def _reset(c: _Conn) -> None:
    # SO_LINGER 0: close() sends RST instead of FIN.
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def _truncated(c: _Conn) -> None:
    c.send(_head("200 OK", JSON, "Content-Length: 1000") + b'{"results": [')


def _huge_declared(c: _Conn) -> None:
    """3 GB declared and streamed (as far as the client reads)."""
    c.send(_head("200 OK", JSON, f"Content-Length: {HUGE_DECLARED}"))
    block = b"[" * BLOCK
    for _ in range(HUGE_DECLARED // BLOCK):
        c.send(block)


def _deep_json(c: _Conn) -> None:
    body = b"[" * DEEP + b"]" * DEEP
    c.send(_head("200 OK", JSON, f"Content-Length: {len(body)}") + body)


def _record(c: _Conn) -> None:
    """The redirect's target: records what reaches it (nothing should)."""
    c.send(_head("200 OK", JSON, "Content-Length: 2") + b"{}")


BOMBS = {"gzip-bomb": gzip_bomb, "deflate-bomb": deflate_bomb}
BEHAVIOURS: dict[str, Callable[[_Conn], None]] = {
    "drip-body": _drip_body,
    "drip-head": _drip_head,
    "endless-chunked": _endless_chunked,
    "endless-slow": _endless_slow,
    "endless-interim": _endless_interim,
    "endless-headers": _endless_headers,
    "gzip-bomb": _bomb("gzip", gzip_bomb),
    "deflate-bomb": _bomb("deflate", deflate_bomb),
    "hang": _hang,
    "reset": _reset,
    "truncated": _truncated,
    "huge-declared": _huge_declared,
    "deep-json": _deep_json,
    "record": _record,
}


@dataclass
class HostileServer:
    behaviour: str
    redirect_to: str | None = None  # set: every operation request gets 307 to this origin
    tls: ssl.SSLContext | None = None  # set: HTTPS with this server context
    requests: list[bytes] = field(default_factory=list)  # every request head received
    url: str = ""

    def __post_init__(self) -> None:
        self._handler = BEHAVIOURS[self.behaviour]
        if self.behaviour in BOMBS:
            BOMBS[self.behaviour]()  # built before the first request, not while it waits
        self._stop = threading.Event()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self._sock.settimeout(0.2)
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._sock.accept()
            except OSError:
                continue
            with self._lock:
                self._conns.add(sock)
            threading.Thread(target=self._handle, args=(sock,), daemon=True).start()

    def _handle(self, raw: socket.socket) -> None:
        sock = raw
        try:
            if self.tls is not None:
                raw.settimeout(5)
                sock = self.tls.wrap_socket(raw, server_side=True)
            conn = _Conn(sock, self._stop)
            head = _read_request(sock)
            if head is None:
                return
            with self._lock:
                self.requests.append(head)
            path = head.split(b" ", 2)[1].decode("latin-1") if head.count(b" ") >= 2 else "/"
            if path.startswith("/classifier/"):
                _classifier(conn, path.removeprefix("/classifier/"))
            elif self.redirect_to is not None:
                location = f"Location: {self.redirect_to}{path}"
                conn.send(_head("307 Temporary Redirect", location, "Content-Length: 0"))
            else:
                self._handler(conn)
        except (_Gone, OSError):
            pass
        finally:
            with self._lock:
                self._conns.discard(raw)
            with contextlib.suppress(OSError):
                sock.close()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        with self._lock:
            for sock in self._conns:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_request(sock: socket.socket) -> bytes | None:
    """The request head; the body (by Content-Length) is read and dropped."""
    sock.settimeout(5)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            got = sock.recv(BLOCK)
            if not got or len(data) > 1 << 20:
                return None
            data += got
        head, _, rest = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length" and value.strip().isdigit():
                length = int(value)
        left = length - len(rest)
        while left > 0:
            got = sock.recv(min(BLOCK, left))
            if not got:
                return None
            left -= len(got)
    except OSError:
        return None
    return head


def _classifier(conn: _Conn, name: str) -> None:
    entries = CLASSIFIERS.get(name)
    if entries is None:
        conn.send(_head("404 Not Found", "Content-Length: 0"))
        return
    body = orjson.dumps([dict(e) for e in entries])
    conn.send(_head("200 OK", JSON, f"Content-Length: {len(body)}") + body)


@contextlib.contextmanager
def hostile(
    behaviour: str, redirect_to: str | None = None, tls: ssl.SSLContext | None = None
) -> Iterator[HostileServer]:
    server = HostileServer(behaviour, redirect_to, tls)
    try:
        yield server
    finally:
        server.close()


# Runs a command, kills it after KILL_AFTER seconds, and writes its peak RSS (KiB) and
# exit code (negative: killed by that signal) to a file. The CLI is started from this
# small launcher, not straight from the caller: Linux carries a parent's resident size
# into a spawned child's ru_maxrss (fork, vfork and exec alike), so a big pytest
# process would inflate the measurement.
_LAUNCHER = """
import os, subprocess, sys, threading
out_file, kill_after, *command = sys.argv[1:]
child = subprocess.Popen(command)
threading.Timer(float(kill_after), child.kill).start()
_, status, usage = os.wait4(child.pid, 0)
with open(out_file, "w") as out:
    out.write(f"{usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
os._exit(0)
"""


@dataclass(frozen=True)
class CliRun:
    returncode: int  # negative: killed (after kill_after seconds)
    stdout: str
    stderr: str
    wall: float  # seconds
    peak_mb: float  # peak resident memory of the CLI process, MiB


def run_cli(base_url: str, *args: str, token: str, kill_after: float = 120.0) -> CliRun:
    """``python -m amlyze_contracts test --base-url URL ARGS`` in a subprocess, the
    token in its environment, as CI would run it."""
    command = [sys.executable, "-m", "amlyze_contracts", "test", "--base-url", base_url, *args]
    env = {**os.environ, "AMLYZE_CONTRACTS_TOKEN": token, "CI": "true"}
    with tempfile.NamedTemporaryFile("r", suffix=".run") as result:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, result.name, str(kill_after), *command],
            capture_output=True,
            text=True,
            env=env,
            timeout=kill_after + 30,
        )
        wall = time.monotonic() - started
        rss, code = result.read().split()
    return CliRun(int(code), done.stdout, done.stderr, wall, int(rss) / 1024)
