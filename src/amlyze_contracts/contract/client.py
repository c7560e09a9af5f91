"""HTTP for the contract suite: one httpx client, bounded in time and size, no retries.

A transport failure (timeout, reset, refused) becomes a :class:`Received` with
``error`` set, never an exception, so a misbehaving server is reported as failing
checks and never crashes or hangs the run. Credentials never leave this module
unredacted: :func:`redact` is applied to everything reports print.
"""

from __future__ import annotations

import functools
import os
import shlex
import ssl
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpcore
import httpx

from ..redact import REDACTED, redact_headers

__all__ = ["REDACTED", "Client", "Received", "Sent", "curl", "redact_headers"]


@dataclass(frozen=True)
class Sent:
    """One HTTP request as sent (the body exactly as bytes)."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass(frozen=True)
class Received:
    """The answer, or why there is none (``error``)."""

    status: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    elapsed: float = 0.0
    error: str | None = None
    truncated: bool = False
    # Cut by the run's time budget, not by the request's own timeout: not judged.
    out_of_budget: bool = False
    # No connection could be made (refused, no route, unknown host): nothing answered.
    unreachable: bool = False

    @property
    def content_type(self) -> str:
        return {k.lower(): v for k, v in self.headers.items()}.get("content-type", "")

    def json(self) -> Any:
        import orjson

        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None


# A request still in flight when the run's time budget ends may run this much longer;
# then it is cut (and not judged: the server's fault is unknown).
BUDGET_GRACE = 2.0
# What the client says it can decode: only what _Inflater inflates under the cap
# (httpx would add br/zstd when those packages happen to be installed).
ACCEPT_ENCODING = "gzip, deflate"


@functools.lru_cache(maxsize=4)
def _tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """httpx's default TLS context, for the CA bundle the environment names (the only
    inputs it reads). Shared by the clients of a process: loading the bundle takes
    ~20 ms, and a run makes a client for each re-send too."""
    return httpx.create_ssl_context()


class Client:
    """A thin wrapper over ``httpx.Client``: ``send(Sent) -> Received``, never raises
    for transport problems; counts requests. Not thread-safe (one request at a time).

    Bounds, whatever the server does:

    * time: every request has one deadline, ``timeout`` after it starts (and never
      later than ``run_deadline`` plus :data:`BUDGET_GRACE`). httpx applies its
      timeout to each socket operation, so a server dripping one byte a second would
      never time out; here the connection's network stream (:class:`_DeadlineStream`)
      gives every connect, read and write only the time left until the deadline, so
      the request as a whole ends by then: drip-fed status line, headers or body,
      endless bodies and endless ``100 Continue`` alike;
    * memory: the body is read up to ``max_response_bytes`` on the wire (the rest is
      not read: ``truncated``), and a gzip/deflate body is inflated as it arrives, at
      most to ``max_response_bytes`` too (beyond: an ``error``, the body dropped);
    * credentials: redirects are never followed (a 3xx is judged as it is), so the
      token goes to the configured origin only.
    """

    def __init__(
        self,
        *,
        timeout: float,
        max_response_bytes: int,
        secret: str | None,
        run_deadline: float | None = None,
    ) -> None:
        self._clock = _Clock()
        ssl_context = _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
        transport = httpx.HTTPTransport(retries=0, verify=ssl_context)
        # httpx has no option for a network backend; its pool is rebuilt with ours
        # (the same pool httpx builds without a proxy: retries 0, default TLS).
        transport._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            retries=0,
            network_backend=_DeadlineBackend(self._clock),
        )
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            headers={"Accept-Encoding": ACCEPT_ENCODING},
            # No retries: a reset is a finding, not something to paper over.
            transport=transport,
            trust_env=False,
        )
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.secret = secret
        self.run_deadline = run_deadline
        self.requests = 0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, sent: Sent, *, timeout: float | None = None) -> Received:
        self.requests += 1
        started = time.monotonic()
        allowed = timeout if timeout is not None else self.timeout
        deadline = started + allowed
        by_budget = False
        if self.run_deadline is not None and self.run_deadline + BUDGET_GRACE < deadline:
            deadline, by_budget = self.run_deadline + BUDGET_GRACE, True
        self._clock.start(deadline)
        stage = "head"
        try:
            request = self._http.build_request(
                sent.method,
                sent.url,
                headers=dict(sent.headers),
                content=sent.body,
                timeout=allowed,
            )
            response = self._http.send(request, stream=True)
            stage = "body"
            try:
                body, truncated, error = self._read(response)
            finally:
                response.close()
            return Received(
                response.status_code,
                dict(response.headers),
                body,
                time.monotonic() - started,
                error=error,
                truncated=truncated,
            )
        except httpx.TimeoutException:
            elapsed = time.monotonic() - started
            if by_budget:
                return Received(
                    elapsed=elapsed,
                    error=f"cut after {elapsed:.1f} s: the run's time budget is spent",
                    out_of_budget=True,
                )
            return Received(elapsed=elapsed, error=self._late(stage, allowed))
        except httpx.HTTPError as exc:
            text = self.scrub(str(exc) or type(exc).__name__)
            return Received(
                elapsed=time.monotonic() - started,
                error=f"transport error: {type(exc).__name__}: {text}",
                unreachable=isinstance(exc, httpx.ConnectError),
            )
        finally:
            self._clock.stop()

    def _read(self, response: httpx.Response) -> tuple[bytes, bool, str | None]:
        """(body, truncated, error): the raw body up to the cap, inflated (capped too)."""
        cap = self.max_response_bytes
        encoding = response.headers.get("content-encoding", "").strip().lower()
        inflater = _Inflater(encoding, cap) if encoding in _Inflater.WBITS else None
        raw: list[bytes] = []
        size = 0
        for chunk in response.iter_raw():
            size += len(chunk)
            if size > cap:
                # Not read further; judged on the raw bytes so far.
                return b"".join(raw), True, None
            raw.append(chunk)
            if inflater is not None and not inflater.feed(chunk):
                break
        body = inflater.finish() if inflater is not None else None
        if inflater is not None and inflater.over:
            return b"", False, f"{encoding} body decompresses beyond {_size(cap)}"
        if body is None:  # not compressed, or not valid gzip/deflate: judged as sent
            return b"".join(raw), False, None
        return body, False, None

    def _late(self, stage: str, allowed: float) -> str:
        got = self._clock.received
        if stage == "head" and not got:
            return f"no answer within {allowed:g} s (timeout)"
        what = "the body" if stage == "body" else "the status line and headers"
        return f"{what} did not arrive within {allowed:g} s ({got} bytes received: drip-fed or endless)"

    def scrub(self, text: str) -> str:
        """Remove the token from any text (a server could echo it back)."""
        # A token of a few characters would garble every text; such a token is no secret.
        if self.secret and len(self.secret) >= 4:
            text = text.replace(self.secret, REDACTED)
        return text


def _size(n: int) -> str:
    return f"{n / 2**20:g} MiB" if n % 2**20 == 0 else f"{n} bytes"


class _Clock:
    """The deadline of the request in flight, shared by the client and the network
    streams of its pooled connections (one request at a time)."""

    def __init__(self) -> None:
        self.deadline: float | None = None
        self.received = 0  # bytes read for this request (status line onwards)

    def start(self, deadline: float) -> None:
        self.deadline, self.received = deadline, 0

    def stop(self) -> None:
        self.deadline = None

    def left(self, timeout: float | None, late: type[Exception]) -> float | None:
        """How long one socket operation may wait: httpx's timeout, never past the
        deadline; ``late`` (an httpcore timeout, mapped by httpx) once it has passed."""
        if self.deadline is None:
            return timeout
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise late("the request's deadline has passed")
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection's socket stream whose operations end by the request's deadline.

    A plain ``recv`` returns as soon as any byte arrives and waits at most the time
    left, and CPython bounds each TLS operation (handshake, read) by its socket timeout
    as a whole, so no sequence of reads outlives the deadline.
    """

    def __init__(self, inner: httpcore.NetworkStream, clock: _Clock) -> None:
        self._inner = inner
        self._clock = clock

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self._inner.read(max_bytes, self._clock.left(timeout, httpcore.ReadTimeout))
        self._clock.received += len(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # httpcore's own loop gives every send() the full timeout: a server reading a
        # byte at a time would stretch it; here each send() gets what is left.
        sock = self._inner.get_extra_info("socket")
        if sock is None:  # pragma: no cover - httpcore's sync streams expose it
            self._inner.write(buffer, self._clock.left(timeout, httpcore.WriteTimeout))
            return
        view = memoryview(buffer)
        while view:
            sock.settimeout(self._clock.left(timeout, httpcore.WriteTimeout))
            try:
                sent = sock.send(view)
            except TimeoutError as exc:
                raise httpcore.WriteTimeout(exc) from exc
            except OSError as exc:
                raise httpcore.WriteError(exc) from exc
            view = view[sent:]

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = self._clock.left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, left), self._clock
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, its streams wrapped in :class:`_DeadlineStream`."""

    def __init__(self, clock: _Clock) -> None:
        self._inner = httpcore.SyncBackend()
        self._clock = clock

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = self._clock.left(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, left, local_address, socket_options)
        return _DeadlineStream(stream, self._clock)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:  # pragma: no cover - TCP only
        left = self._clock.left(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_unix_socket(path, left, socket_options)
        return _DeadlineStream(stream, self._clock)

    def sleep(self, seconds: float) -> None:  # pragma: no cover - no retries
        self._inner.sleep(seconds)


class _Inflater:
    """Inflates a gzip or deflate body chunk by chunk, never beyond ``cap`` bytes."""

    # zlib window bits: gzip framing; deflate = zlib framing (RFC 9110), or raw
    # deflate, which some servers send instead (chosen on the first bytes).
    WBITS: ClassVar[dict[str, int]] = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}

    def __init__(self, encoding: str, cap: int) -> None:
        self._wbits = self.WBITS[encoding]
        self._zlib: Any = None
        self._cap = cap
        self._out: list[bytes] = []
        self._size = 0
        self._bad = False
        self.over = False  # the output would exceed the cap

    def feed(self, chunk: bytes) -> bool:
        """False once the output would exceed the cap."""
        if self._bad or self.over or not chunk:
            return not self.over
        if self._zlib is None:
            wbits = self._wbits
            if wbits == zlib.MAX_WBITS and not _zlib_header(chunk):
                wbits = -zlib.MAX_WBITS
            self._zlib = zlib.decompressobj(wbits)
        try:
            # max_length: never more than one byte past the cap in memory.
            data = self._zlib.decompress(chunk, self._cap + 1 - self._size)
        except zlib.error:
            self._bad = True
            return True
        return self._keep(data)

    def _keep(self, data: bytes) -> bool:
        self._size += len(data)
        if self._size > self._cap:
            self.over = True
            self._out.clear()
            return False
        self._out.append(data)
        return True

    def finish(self) -> bytes | None:
        """The inflated body; None when it was not valid compressed data or too big."""
        if self._bad or self.over:
            return None
        if self._zlib is None:
            return b""
        try:
            if not self._keep(self._zlib.flush(self._cap + 1 - self._size)):
                return None
        except zlib.error:
            return None
        return b"".join(self._out)


def _zlib_header(data: bytes) -> bool:
    return len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


LARGE_BODY = 16 * 1024


def _printf(data: bytes) -> str:
    escaped = "".join(
        chr(b) if 32 <= b < 127 and chr(b) not in "\\'%" else f"\\{b:03o}" for b in data
    )
    return f"printf '{escaped}'"


def _large_body_curl(body: bytes, parts: list[str]) -> str:
    """A big body (e.g. the body-limit probe) as prefix + a run of one byte + suffix,
    generated by the shell instead of printed."""
    import re

    fill = max(set(body), key=body.count)
    longest = max(re.finditer(re.escape(bytes([fill])) + b"+", body), key=lambda m: len(m.group()))
    start, end = longest.span()
    if end - start < len(body) // 2:
        return (
            " ".join([*parts, "--data-binary", "@body.bin"]) + f"  # {len(body)} bytes, not shown"
        )
    run = f"head -c {end - start} /dev/zero" + (f" | tr '\\0' '\\{fill:03o}'" if fill else "")
    return f"{{ {_printf(body[:start])}; {run}; {_printf(body[end:])}; }} | " + " ".join(
        [*parts, "--data-binary", "@-"]
    )


def curl(sent: Sent) -> str:
    """A shell command reproducing ``sent``; credentials redacted."""
    parts = ["curl", "-sS", "-i", "-X", sent.method, shlex.quote(sent.url)]
    for name, value in redact_headers(sent.headers).items():
        parts += ["-H", shlex.quote(f"{name}: {value}")]
    if sent.body is None:
        return " ".join(parts)
    if len(sent.body) > LARGE_BODY:
        return _large_body_curl(sent.body, parts)
    try:
        text = sent.body.decode("utf-8")
        printable = "\x00" not in text
    except UnicodeDecodeError:
        printable = False
    if printable:
        return " ".join([*parts, "--data-binary", shlex.quote(text)])
    # Bytes that are not text: printf with octal escapes, piped in.
    return f"{_printf(sent.body)} | " + " ".join([*parts, "--data-binary", "@-"])
