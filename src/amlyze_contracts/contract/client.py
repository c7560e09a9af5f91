"""HTTP for the contract suite: one httpx client, bounded in time and size, no retries.

A transport failure (timeout, reset, refused) becomes a :class:`Received` with
``error`` set, never an exception, so a misbehaving server is reported as failing
checks and never crashes or hangs the run. Credentials never leave this module
unredacted: :func:`redact` is applied to everything reports print.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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

    @property
    def content_type(self) -> str:
        return {k.lower(): v for k, v in self.headers.items()}.get("content-type", "")

    def json(self) -> Any:
        import orjson

        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None


class Client:
    """A thin wrapper over ``httpx.Client``: ``send(Sent) -> Received``, never raises
    for transport problems; counts requests."""

    def __init__(self, *, timeout: float, max_response_bytes: int, secret: str | None) -> None:
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            # No retries: a reset is a finding, not something to paper over.
            transport=httpx.HTTPTransport(retries=0),
        )
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.secret = secret
        self.requests = 0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, sent: Sent, *, timeout: float | None = None) -> Received:
        self.requests += 1
        started = time.perf_counter()
        try:
            request = self._http.build_request(
                sent.method,
                sent.url,
                headers=dict(sent.headers),
                content=sent.body,
                timeout=timeout if timeout is not None else self.timeout,
            )
            response = self._http.send(request, stream=True)
            try:
                chunks: list[bytes] = []
                size = 0
                truncated = False
                for chunk in response.iter_raw():
                    size += len(chunk)
                    if size > self.max_response_bytes:
                        truncated = True
                        break
                    chunks.append(chunk)
            finally:
                response.close()
            body = b"".join(chunks)
            if not truncated and response.headers.get("content-encoding"):
                body = _decode(body, response.headers["content-encoding"])
            return Received(
                response.status_code,
                dict(response.headers),
                body,
                time.perf_counter() - started,
                truncated=truncated,
            )
        except httpx.TimeoutException:
            return Received(
                elapsed=time.perf_counter() - started,
                error=f"no answer within {timeout or self.timeout:g} s (timeout)",
            )
        except httpx.HTTPError as exc:
            text = self.scrub(str(exc) or type(exc).__name__)
            return Received(
                elapsed=time.perf_counter() - started,
                error=f"transport error: {type(exc).__name__}: {text}",
            )

    def scrub(self, text: str) -> str:
        """Remove the token from any text (a server could echo it back)."""
        # A token of a few characters would garble every text; such a token is no secret.
        if self.secret and len(self.secret) >= 4:
            text = text.replace(self.secret, REDACTED)
        return text


def _decode(body: bytes, encoding: str) -> bytes:
    import zlib

    try:
        if encoding.strip().lower() == "gzip":
            return zlib.decompress(body, 16 + zlib.MAX_WBITS)
        if encoding.strip().lower() == "deflate":
            return zlib.decompress(body)
    except zlib.error:
        return body
    return body


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
