"""Just enough HTTP/1.1 for a validating reverse proxy, on asyncio streams (no extra):
message heads, bodies by Content-Length / chunked / connection close, bounded
buffering, bounded decompression, and a keep-alive pool of upstream connections.

Every read is bounded: heads by the stream limit, bodies are buffered up to a cap and
streamed past it in pieces of at most ``PIECE`` bytes, decompression stops at a cap;
the caller bounds time (one deadline per exchange).
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.parse
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

MAX_HEAD = 64 * 1024  # request line + headers; the stream limit of every reader
PIECE = 64 * 1024  # largest single read of a body
MAX_IDLE_UPSTREAM = 32  # kept-alive upstream connections per upstream
# Hop-by-hop headers (RFC 9110 7.6.1): about one connection, never forwarded.
HOP_BY_HOP = frozenset(
    (
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",  # re-computed for the framing the proxy chooses
    )
)
# Content codings the proxy can decode within a cap, so the only ones it lets a
# client ask the upstream for (a brotli or zstd bomb could not be bounded here).
BOUNDED_CODINGS = ("gzip", "deflate")

Headers = list[tuple[str, str]]


class ProtocolError(Exception):
    """The peer sent something that is not HTTP/1.1 as this module understands it."""


@dataclass
class Head:
    """A request head (method, target) or a response head (status, reason)."""

    start: tuple[str, str, str]
    headers: Headers
    _index: dict[str, str] | None = field(default=None, init=False, repr=False, compare=False)

    def get(self, name: str) -> str | None:
        """A header's value (repeated ones joined with ", "), any case of the name."""
        index = self._index
        if index is None:
            # Built on first use: a head is asked for about ten headers on its way through.
            index = self._index = {}
            for key, value in self.headers:
                key = key.lower()
                index[key] = f"{index[key]}, {value}" if key in index else value
        return index.get(name.lower())

    def tokens(self, name: str) -> set[str]:
        value = self.get(name) or ""
        return {t.strip().lower() for t in value.split(",") if t.strip()}


def parse_head(data: bytes) -> Head:
    try:
        text = data.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise ProtocolError("undecodable head") from None
    lines = text.split("\r\n")
    start = lines[0].split(" ", 2)
    if len(start) < 2:
        raise ProtocolError(f"malformed start line: {lines[0][:80]!r}")
    if len(start) == 2:
        start.append("")
    headers: Headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or " " in name:
            raise ProtocolError(f"malformed header line: {line[:80]!r}")
        headers.append((name, value.strip()))
    return Head((start[0], start[1], start[2]), headers)


async def read_head(reader: asyncio.StreamReader) -> Head | None:
    """The next head, or None on a clean end of stream before any byte."""
    try:
        data = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise ProtocolError("connection closed inside a message head") from None
    except asyncio.LimitOverrunError:
        raise ProtocolError(f"message head larger than {MAX_HEAD} bytes") from None
    return parse_head(data[:-4].lstrip(b"\r\n"))


@dataclass
class Framing:
    """How a body is delimited: ``length`` bytes, chunked, until close, or none."""

    kind: str  # "none" | "length" | "chunked" | "close"
    length: int = 0


def request_framing(head: Head) -> Framing:
    if "chunked" in head.tokens("transfer-encoding"):
        return Framing("chunked")
    if head.get("transfer-encoding"):
        raise ProtocolError("unsupported Transfer-Encoding")
    return _length(head) or Framing("none")


def response_framing(head: Head, method: str) -> Framing:
    status = int(head.start[1])
    if method == "HEAD" or status < 200 or status in (204, 304):
        return Framing("none")
    if "chunked" in head.tokens("transfer-encoding"):
        return Framing("chunked")
    return _length(head) or Framing("close")


def _length(head: Head) -> Framing | None:
    value = head.get("content-length")
    if value is None:
        return None
    values = {v.strip() for v in value.split(",")}
    if len(values) != 1 or not next(iter(values)).isdigit():
        raise ProtocolError(f"bad Content-Length: {value[:40]!r}")
    length = int(values.pop())
    return Framing("length", length) if length else Framing("none")


async def body_pieces(reader: asyncio.StreamReader, framing: Framing) -> AsyncIterator[bytes]:
    """The body's bytes (chunked framing removed), at most PIECE bytes at a time."""
    if framing.kind == "length":
        left = framing.length
        while left:
            piece = await reader.read(min(left, PIECE))
            if not piece:
                raise ProtocolError(f"connection closed {left} bytes before the body's end")
            left -= len(piece)
            yield piece
    elif framing.kind == "close":
        while piece := await reader.read(PIECE):
            yield piece
    elif framing.kind == "chunked":
        while True:
            line = await _line(reader)
            size_text = line.split(b";", 1)[0].strip()
            try:
                left = int(size_text, 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size: {size_text[:20]!r}") from None
            if left == 0:
                while await _line(reader):  # trailers: read and dropped
                    pass
                return
            while left:
                piece = await reader.read(min(left, PIECE))
                if not piece:
                    raise ProtocolError("connection closed inside a chunk")
                left -= len(piece)
                yield piece
            if await _line(reader):
                raise ProtocolError("chunk not followed by CRLF")


async def _line(reader: asyncio.StreamReader) -> bytes:
    try:
        return (await reader.readuntil(b"\r\n"))[:-2]
    except asyncio.IncompleteReadError:
        raise ProtocolError("connection closed inside chunked framing") from None
    except asyncio.LimitOverrunError:
        raise ProtocolError("chunk header line too long") from None


@dataclass
class Body:
    """A body read up to a cap: all of it (``rest`` None) or its first bytes and the rest."""

    data: bytes
    rest: AsyncIterator[bytes] | None = None

    @property
    def complete(self) -> bool:
        return self.rest is None


async def buffer_body(pieces: AsyncIterator[bytes], cap: int) -> Body:
    """Buffer at most ``cap`` bytes; a longer body keeps its remaining pieces unread."""
    parts: list[bytes] = []
    size = 0
    async for piece in pieces:
        parts.append(piece)
        size += len(piece)
        if size > cap:
            return Body(b"".join(parts), pieces)
    return Body(b"".join(parts))


async def read_body(reader: asyncio.StreamReader, framing: Framing, cap: int) -> Body:
    """A body buffered up to ``cap`` (see :func:`buffer_body`); a known length within
    the cap is read in one call, the common case."""
    if framing.kind == "none":
        return Body(b"")
    if framing.kind == "length" and framing.length <= cap:
        try:
            return Body(await reader.readexactly(framing.length))
        except asyncio.IncompleteReadError as exc:
            left = framing.length - len(exc.partial)
            raise ProtocolError(f"connection closed {left} bytes before the body's end") from None
    return await buffer_body(body_pieces(reader, framing), cap)


def decode(data: bytes, coding: str, cap: int) -> bytes | None:
    """``data`` decoded (gzip or deflate), or None when undecodable, an unknown
    coding, or more than ``cap`` bytes once decoded (a compression bomb stops here)."""
    coding = coding.strip().lower()
    if coding in ("", "identity"):
        return data
    if coding not in BOUNDED_CODINGS:
        return None
    # 47: gzip or zlib header, detected; -15: raw deflate, which some servers send.
    for wbits in (47,) if coding == "gzip" else (47, -15):
        try:
            inflater = zlib.decompressobj(wbits)
            out = inflater.decompress(data, cap + 1)
        except zlib.error:
            continue
        if len(out) > cap or inflater.unconsumed_tail:
            return None
        return out
    return None


def accept_encoding(client_value: str | None) -> str:
    """What the proxy asks the upstream for: the client's codings the proxy can bound."""
    wanted = []
    for part in (client_value or "").split(","):
        coding = part.split(";", 1)[0].strip().lower()
        if coding in BOUNDED_CODINGS and coding not in wanted:
            wanted.append(coding)
    return ", ".join([*wanted, "identity"]) if wanted else "identity"


def forwarded_headers(head: Head) -> Headers:
    """End-to-end headers only (hop-by-hop ones and those named in Connection dropped)."""
    named = head.tokens("connection")
    return [
        (k, v) for k, v in head.headers if k.lower() not in HOP_BY_HOP and k.lower() not in named
    ]


def serialize_head(start: str, headers: Headers) -> bytes:
    lines = [start, *(f"{k}: {v}" for k, v in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


LAST_CHUNK = b"0\r\n\r\n"


# ------------------------------------------------------------------ upstream


@dataclass
class Upstream:
    """One upstream base URL and its idle keep-alive connections."""

    url: str
    scheme: str = field(init=False)
    host: str = field(init=False)
    port: int = field(init=False)
    base_path: str = field(init=False)
    netloc: str = field(init=False)
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(default_factory=list)

    def __post_init__(self) -> None:
        split = urllib.parse.urlsplit(self.url)
        if split.scheme not in ("http", "https") or not split.hostname:
            raise ValueError(f"not an http(s) URL: {self.url!r}")
        if split.query or split.fragment or split.username or split.password:
            raise ValueError(f"an upstream URL has no query, fragment or user: {self.url!r}")
        self.scheme = split.scheme
        self.host = split.hostname
        self.port = split.port or (443 if split.scheme == "https" else 80)
        self.base_path = split.path.rstrip("/")
        self.netloc = split.netloc

    def display(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.base_path}"

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        """(reader, writer, reused): an idle connection if one is still open."""
        while self.idle:
            reader, writer = self.idle.pop()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer, True
            writer.close()
        context = ssl.create_default_context() if self.scheme == "https" else None
        reader, writer = await asyncio.open_connection(
            self.host, self.port, ssl=context, limit=MAX_HEAD
        )
        return reader, writer, False

    def release(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self.idle) < MAX_IDLE_UPSTREAM and not reader.at_eof() and not writer.is_closing():
            self.idle.append((reader, writer))
        else:
            writer.close()

    def close(self) -> None:
        for _reader, writer in self.idle:
            writer.close()
        self.idle.clear()
