"""The validating reverse proxy: forwards every exchange to the upstream, validates
it with the one rule set on the way, logs each violation, records HAR.

Bounds, whatever the peers do: one deadline per exchange (``timeout``: from the
request's first body byte to the response's last), bodies buffered up to
``max_validate_bytes`` and streamed past it (then not validated), decompression
capped at the same size, at most ``max_connections`` exchanges at once (others
wait), so memory stays below about ``max_connections x 3 x max_validate_bytes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from ..redact import credentials, scrub
from ..revision_routes import OtherRevisions
from ..violations import Violation
from ..watch import line
from . import har
from .exchange import NOT_GIVEN, ExchangeValidator, Match
from .http import (
    LAST_CHUNK,
    MAX_HEAD,
    Body,
    Head,
    ProtocolError,
    Upstream,
    accept_encoding,
    chunk,
    decode,
    forwarded_headers,
    read_body,
    read_head,
    request_framing,
    response_framing,
    serialize_head,
)

if TYPE_CHECKING:
    from ..revisions import Revision

VIOLATIONS_HEADER = "X-Amlyze-Contracts-Violations"
NOT_VALIDATED_HEADER = "X-Amlyze-Contracts-Not-Validated"
KEEPALIVE_IDLE = 75.0  # seconds a client connection may wait between requests
INLINE_VALIDATE = 256 * 1024  # larger bodies are validated in a thread: the loop keeps serving
STOP_GRACE = 5.0  # seconds in-flight exchanges get after SIGINT/SIGTERM


@dataclass(frozen=True)
class Options:
    upstream: str
    brm_upstream: str | None = None
    enforce: bool = False
    timeout: float = 30.0
    max_validate_bytes: int = 8 * 1024 * 1024
    max_connections: int = 32
    har: str | None = None
    log_format: str = "text"
    revision: Revision | None = None  # None: the bundled specs (the validator's routes)


@dataclass
class Stats:
    exchanges: int = 0
    validated: int = 0  # exchanges with an operation whose bodies were all validated
    not_validated: int = 0  # exchanges with an operation and a body too large or unreadable
    unmatched: int = 0  # exchanges of no known operation (forwarded only)
    errors: int = 0
    warnings: int = 0
    with_violations: int = 0
    enforced: int = 0
    bad_gateway: int = 0
    gateway_timeout: int = 0

    def line(self) -> str:
        from ..cli_output import plural

        return (
            f"{plural(self.exchanges, 'exchange')} ({self.validated} validated, "
            f"{self.not_validated} not validated, {self.unmatched} of no operation): "
            f"{plural(self.errors, 'error')}, {plural(self.warnings, 'warning')} in "
            f"{plural(self.with_violations, 'exchange')}; {self.enforced} rejected by "
            f"--enforce, {self.bad_gateway} answered 502, {self.gateway_timeout} answered 504"
        )


@dataclass
class Record:
    """What one exchange produced: for the log lines and the HAR entry."""

    number: int
    method: str
    target: str
    url: str
    match: Match | None
    secrets: tuple[str, ...]
    started: float = field(default_factory=time.time)
    clock: float = field(default_factory=time.perf_counter)
    violations: list[tuple[str, Violation]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    request_checked: bool = False
    request_value: Any = NOT_GIVEN  # the request as the request/response rules read it

    @property
    def path(self) -> str:  # queries are not logged: they may carry identifiers
        return urllib.parse.urlsplit(self.target).path

    def scrub(self, text: str) -> str:
        return scrub(text, self.secrets)


JSON_TYPE = [("Content-Type", "application/json")]


@dataclass(frozen=True)
class Answer:
    """The response an exchange ended with, as the HAR entry records it."""

    status: int
    headers: list[tuple[str, str]]
    decoded: bytes | None  # the body as validated (None: not kept, too large or undecodable)
    raw: bytes | None  # as sent (None: streamed through, not kept)
    waited: float = 0.0  # seconds until the upstream's head
    by_proxy: bool = False  # the proxy's own 400/502/504, not the upstream's


def _secrets(head: Head) -> tuple[str, ...]:
    """Credentials this request carries: scrubbed from every text the proxy writes
    (an upstream may echo them in a body)."""
    return credentials(head.headers)


class Log:
    """One line per event, text or JSON lines; credentials never reach it."""

    def __init__(self, stream: TextIO, fmt: str) -> None:
        self.stream = stream
        self.json = fmt == "json"

    def _write(self, fields: dict[str, Any], text: str) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        line = orjson.dumps({"time": stamp, **fields}).decode() if self.json else f"{stamp} {text}"
        self.stream.write(line + "\n")
        self.stream.flush()

    def violation(self, rec: Record, kind: str, v: Violation) -> None:
        operation = rec.match.operation_id if rec.match else None
        message = rec.scrub(v.message)
        fields = {
            "event": "violation",
            "exchange": rec.number,
            "method": rec.method,
            "path": rec.path,
            "operation": operation,
            "kind": kind,
            "rule": v.rule,
            "severity": v.severity,
            "pointer": v.pointer,
            "message": message,
            "code": v.code,
        }
        self._write(
            fields,
            f"#{rec.number} {rec.method} {rec.path} {operation or '-'} {line(kind, v, message)}",
        )

    def event(self, rec: Record | None, event: str, message: str) -> None:
        fields: dict[str, Any] = {"event": event, "message": message}
        prefix = ""
        if rec is not None:
            message = rec.scrub(message)
            fields.update(
                exchange=rec.number,
                method=rec.method,
                path=rec.path,
                operation=rec.match.operation_id if rec.match else None,
                message=message,
            )
            prefix = f"#{rec.number} {rec.method} {rec.path} "
        self._write(fields, f"{prefix}{event}: {message}")

    def summary(self, stats: Stats) -> None:
        self._write({"event": "summary", **stats.__dict__}, f"summary: {stats.line()}")


def error_body(target: str, status: int, message: str, **extra: Any) -> bytes:
    """The error body of the path's family (AMLYZE's Spring body, BRM's TMF630),
    as the reference server writes them, plus ``message`` and ``extra``."""
    from ..contract.config import DEFAULT_BRM_PATH
    from ..server.parts import amlyze_error, tmf_error

    path = urllib.parse.urlsplit(target).path
    if DEFAULT_BRM_PATH in path:
        body = tmf_error(status, message)
    else:
        body = {**amlyze_error(status, path), "message": message}
        body.pop("errorDescription", None)
        body.pop("errorCode", None)
    body.update(extra)
    return orjson.dumps(body)


class Proxy:
    def __init__(self, options: Options, validator: ExchangeValidator, log: Log) -> None:
        from ..contract.config import DEFAULT_BRM_PATH, brm_base

        self.options = options
        self.validator = validator
        self.log = log
        self.stats = Stats()
        self.upstream = Upstream(options.upstream)
        self.brm_prefix = DEFAULT_BRM_PATH
        self.brm = Upstream(brm_base(options.upstream, options.brm_upstream))
        self.har = har.HarWriter(options.har) if options.har else None
        # Routes the revision in use lacks but another has: reported, as validate --har does.
        self.elsewhere = OtherRevisions(options.revision)
        self._elsewhere_loaded = False
        self._slots = asyncio.Semaphore(options.max_connections)
        self._stopping = False
        self._active = 0
        self._connections: set[asyncio.Task[None]] = set()

    # -------------------------------------------------------------- serving

    async def serve(
        self, host: str, port: int, announce: Callable[[str], None], stop: asyncio.Event
    ) -> Stats:
        server = await asyncio.start_server(
            self._connection, host, port, limit=MAX_HEAD, backlog=1024
        )
        bound = server.sockets[0].getsockname()
        shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        announce(f"http://{shown}:{bound[1]}")
        try:
            await stop.wait()
        finally:
            self._stopping = True
            server.close()
            deadline = time.monotonic() + STOP_GRACE
            while self._active and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            self.upstream.close()
            self.brm.close()
            if self.har is not None:
                self.har.close()
        return self.stats

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while not self._stopping:
                try:
                    async with asyncio.timeout(KEEPALIVE_IDLE):
                        head = await read_head(reader)
                except (TimeoutError, ConnectionError):
                    return
                except ProtocolError as exc:
                    await self._answer(writer, 400, error_body("/", 400, str(exc)), close=True)
                    return
                if head is None:
                    return
                async with self._slots:
                    self._active += 1
                    try:
                        keep = await self._exchange(head, reader, writer)
                    finally:
                        self._active -= 1
                if not keep:
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        except Exception as exc:  # a bug here must cost one connection, not the proxy
            self.log.event(None, "internal-error", f"{type(exc).__name__}: {exc} (please report)")
        finally:
            self._connections.discard(task)
            writer.close()

    async def _answer(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        *,
        close: bool,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        """A response the proxy writes itself (400, 502, 504)."""
        all_headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            *headers,
            *([("Connection", "close")] if close else []),
        ]
        start = f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"
        writer.write(serialize_head(start, all_headers) + body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    def _route(self, target: str) -> tuple[Upstream, str]:
        path = urllib.parse.urlsplit(target).path
        if path == self.brm_prefix or path.startswith(self.brm_prefix + "/"):
            return self.brm, self.brm.base_path + target[len(self.brm_prefix) :]
        return self.upstream, self.upstream.base_path + target

    # -------------------------------------------------------------- one exchange

    async def _exchange(
        self, head: Head, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Handle one request; True when the client connection stays open."""
        method, target, version = head.start
        self.stats.exchanges += 1
        close = "close" in head.tokens("connection") or version == "HTTP/1.0"
        if not target.startswith("/"):
            await self._answer(
                writer, 400, error_body("/", 400, "origin-form request target expected"), close=True
            )
            return False
        try:
            framing = request_framing(head)
        except ProtocolError as exc:
            await self._answer(writer, 400, error_body(target, 400, str(exc)), close=True)
            return False
        upstream, upstream_target = self._route(target)
        url = f"{upstream.scheme}://{upstream.netloc}{upstream_target}"
        rec = Record(
            self.stats.exchanges,
            method,
            target,
            url,
            self.validator.matcher.match(method, target),
            _secrets(head),
        )
        if "100-continue" in head.tokens("expect"):
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        cap = self.options.max_validate_bytes
        try:
            async with asyncio.timeout(self.options.timeout):
                request = await read_body(reader, framing, cap)
        except (TimeoutError, ProtocolError, ConnectionError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else str(exc)
            self.log.event(rec, "bad-request", f"request body not received: {reason}")
            return False

        # Without --enforce the request is validated while the upstream works on it.
        if self.options.enforce:
            await self._check_request(rec, request)
            if any(v.severity == "error" for _k, v in rec.violations):
                self.stats.enforced += 1
                violations = [v.to_dict() for _k, v in rec.violations]
                body = error_body(
                    target, 400, "request rejected by amlyze-contracts proxy --enforce",
                    violations=violations,
                )  # fmt: skip
                self._finish(rec, head, request, Answer(400, JSON_TYPE, body, body, by_proxy=True))
                await self._answer(writer, 400, body, close=close, headers=self._headers(rec))
                return not close

        return await self._forward(rec, head, request, framing.kind, upstream, upstream_target,
                                   writer, close)  # fmt: skip

    async def _forward(
        self,
        rec: Record,
        head: Head,
        request: Body,
        request_framing_kind: str,
        upstream: Upstream,
        upstream_target: str,
        writer: asyncio.StreamWriter,
        close: bool,
    ) -> bool:
        method = rec.method
        headers = [
            (k, v)
            for k, v in forwarded_headers(head)
            if k.lower() not in ("host", "accept-encoding")
        ]
        headers += [
            ("Host", upstream.netloc),
            ("Accept-Encoding", accept_encoding(head.get("accept-encoding"))),
        ]
        if request.complete:
            if request.data or method in ("POST", "PUT", "PATCH"):
                headers.append(("Content-Length", str(len(request.data))))
        elif request_framing_kind == "length":
            headers.append(("Content-Length", head.get("content-length") or "0"))
        else:
            headers.append(("Transfer-Encoding", "chunked"))
        out_head = serialize_head(f"{method} {upstream_target} HTTP/1.1", headers)
        chunked_out = not request.complete and request_framing_kind != "length"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.timeout
        sent_at = time.perf_counter()
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            async with asyncio.timeout_at(deadline):
                for attempt in (1, 2):
                    ureader, uwriter, reused = await upstream.connect()
                    conn = (ureader, uwriter)
                    # Head and body in one write: one send() on the common path.
                    if request.complete:
                        uwriter.write(out_head + request.data)
                    else:
                        uwriter.write(out_head)
                        uwriter.write(chunk(request.data) if chunked_out else request.data)
                        assert request.rest is not None
                        async for piece in request.rest:
                            uwriter.write(chunk(piece) if chunked_out else piece)
                            await uwriter.drain()
                        if chunked_out:
                            uwriter.write(LAST_CHUNK)
                    try:
                        await uwriter.drain()
                        await self._check_request(rec, request)
                        rhead = await read_head(ureader)
                    except ConnectionError:
                        rhead = None
                    # A kept-alive connection the upstream had closed: once more, fresh
                    # (only a buffered request can be sent again).
                    if rhead is None and reused and request.complete and attempt == 1:
                        uwriter.close()
                        continue
                    break
                if rhead is None:
                    raise ProtocolError("upstream closed the connection without answering")
                while 100 <= _status(rhead) < 200:  # interim answers (100, 103): skipped
                    rhead = await read_head(ureader)
                    if rhead is None:
                        raise ProtocolError("upstream closed the connection without answering")
                waited = time.perf_counter() - sent_at
                rframing = response_framing(rhead, method)
                response = await read_body(ureader, rframing, self.options.max_validate_bytes)
        except TimeoutError:
            self._drop(conn)
            return await self._gateway_error(
                rec, head, request, writer, close, 504,
                f"upstream {upstream.display()} did not answer within --timeout {self.options.timeout:g} s",
            )  # fmt: skip
        except (OSError, ProtocolError, ValueError) as exc:
            self._drop(conn)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return await self._gateway_error(
                rec, head, request, writer, close, 502,
                f"upstream {upstream.display()} unreachable or broken: {reason or type(exc).__name__}",
            )  # fmt: skip

        status = _status(rhead)
        reusable = (
            rframing.kind != "close"
            and "close" not in rhead.tokens("connection")
            and response.complete
        )
        rheaders = forwarded_headers(rhead)
        await self._check_request(rec, request)
        if response.complete:
            decoded = await self._response_checks(rec, request, status, rhead, response.data)
            if reusable:
                upstream.release(ureader, uwriter)
            else:
                uwriter.close()
            out = [*rheaders, ("Content-Length", str(len(response.data))), *self._headers(rec)]
            if close:
                out.append(("Connection", "close"))
            # Recorded before it is passed on: a client that has its answer finds it in the HAR.
            self._finish(
                rec, head, request, Answer(status, rhead.headers, decoded, response.data, waited)
            )
            writer.write(serialize_head(f"HTTP/1.1 {status} {rhead.start[2]}", out) + response.data)
            for kind, v in rec.violations:
                if kind == "response":
                    self.log.violation(rec, kind, v)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            return not close

        # Too large to validate: streamed through within the same deadline.
        if rec.match is not None:
            self._note(
                rec,
                f"response body larger than --max-validate-bytes ({self.options.max_validate_bytes}): "
                "not validated",
            )
        length_known = rframing.kind == "length"
        out = [*rheaders, *self._headers(rec)]
        out.append(
            ("Content-Length", str(rframing.length))
            if length_known
            else ("Transfer-Encoding", "chunked")
        )
        if close:
            out.append(("Connection", "close"))
        writer.write(serialize_head(f"HTTP/1.1 {status} {rhead.start[2]}", out))
        try:
            async with asyncio.timeout_at(deadline):
                writer.write(response.data if length_known else chunk(response.data))
                assert response.rest is not None
                async for piece in response.rest:
                    writer.write(piece if length_known else chunk(piece))
                    await writer.drain()
                if not length_known:
                    writer.write(LAST_CHUNK)
                await writer.drain()
        except (TimeoutError, OSError, ProtocolError) as exc:
            # Headers are out: the only honest signal left is an incomplete body.
            reason = "--timeout passed" if isinstance(exc, TimeoutError) else str(exc)
            self._note(rec, f"response stream cut: {reason}")
            uwriter.close()
            writer.transport.abort()
            self._finish(rec, head, request, Answer(status, rhead.headers, None, None, waited))
            return False
        if rframing.kind != "close" and "close" not in rhead.tokens("connection"):
            upstream.release(ureader, uwriter)
        else:
            uwriter.close()
        self._finish(rec, head, request, Answer(status, rhead.headers, None, None, waited))
        return not close

    async def _check_request(self, rec: Record, request: Body) -> None:
        if rec.request_checked:
            return
        rec.request_checked = True
        match = rec.match
        if match is None:
            await self._other_revision(rec)
            return
        if match.has_request_body and not request.complete:
            cap = self.options.max_validate_bytes
            self._note(rec, f"request body larger than --max-validate-bytes ({cap}): not validated")
            return
        # The request read once, for its validation and for the request/response rules
        # later: without --enforce this runs while the upstream works, so the
        # response's validation is shorter.
        prepare = self.validator.request_value
        try:
            rec.request_value = (
                prepare(match, request.data)
                if len(request.data) <= INLINE_VALIDATE
                else await asyncio.to_thread(prepare, match, request.data)
            )
        except Exception:  # a bug here costs the sharing: the validations read the bytes
            rec.request_value = NOT_GIVEN
        if match.has_request_body:
            check = partial(self.validator.request, parsed=rec.request_value)
            found = await self._validate(len(request.data), check, match, request.data)
            self._found(rec, "request", found)

    async def _other_revision(self, rec: Record) -> None:
        """An exchange of no operation whose route another vendor revision has (the
        balances batch as POST under the bundled specs): one ``input.operation-unknown``
        naming that revision, as ``validate --har`` reports it; other traffic passes."""
        find = self.elsewhere.violation
        rules = self.validator.ruleset
        try:
            if self._elsewhere_loaded:
                found = find(rec.method, rec.target, rules)
            else:  # the first call reads every revision's documents (0.5 s): off the loop
                found = await asyncio.to_thread(find, rec.method, rec.target, rules)
                self._elsewhere_loaded = True
        except Exception as exc:  # as in _validate: a bug here must not cost the traffic
            self.log.event(rec, "internal-error", f"{type(exc).__name__}: {exc} (please report)")
            return
        if found is not None:
            self._found(rec, "request", [found])

    async def _response_checks(
        self, rec: Record, request: Body, status: int, rhead: Head, data: bytes
    ) -> bytes | None:
        """Validate a buffered response; returns its decoded body (None: undecodable)."""
        cap = self.options.max_validate_bytes
        coding = rhead.get("content-encoding") or ""
        decoded = decode(data, coding, cap)
        if rec.match is None:
            return decoded
        if decoded is None:
            self._note(
                rec,
                f"response body in Content-Encoding {coding!r} not validated: unknown coding, "
                f"undecodable, or larger than --max-validate-bytes ({cap}) once decoded",
            )
            return None
        request_body = request.data if request.complete else None
        headers = dict(rhead.headers)
        found = await self._validate(
            len(decoded), partial(self.validator.response, request=rec.request_value),
            rec.match, request_body, status, headers, decoded,
        )  # fmt: skip
        # Counted now (the header says how many), logged once the response is out.
        rec.violations.extend(("response", v) for v in found)
        return decoded

    async def _gateway_error(
        self,
        rec: Record,
        head: Head,
        request: Body,
        writer: asyncio.StreamWriter,
        close: bool,
        status: int,
        message: str,
    ) -> bool:
        close = close or not request.complete  # unread request bytes: the connection ends
        await self._check_request(rec, request)
        if status == 504:
            self.stats.gateway_timeout += 1
        else:
            self.stats.bad_gateway += 1
        self.log.event(rec, "upstream-timeout" if status == 504 else "upstream-error", message)
        body = error_body(rec.target, status, message)
        self._finish(rec, head, request, Answer(status, JSON_TYPE, body, body, by_proxy=True))
        await self._answer(writer, status, body, close=close, headers=self._headers(rec))
        return not close

    @staticmethod
    def _drop(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None) -> None:
        if conn is not None:
            conn[1].close()

    async def _validate(
        self, size: int, check: Callable[..., list[Violation]], *args: Any
    ) -> list[Violation]:
        try:
            if size > INLINE_VALIDATE:
                return await asyncio.to_thread(check, *args)
            return check(*args)
        except Exception as exc:  # a validator bug must not take the traffic down
            print(
                f"amlyze-contracts proxy: internal error while validating: {type(exc).__name__}: {exc} (please report)",
                file=sys.stderr,
            )
            return []

    def _found(self, rec: Record, kind: str, violations: list[Violation]) -> None:
        for v in violations:
            rec.violations.append((kind, v))
            self.log.violation(rec, kind, v)

    def _note(self, rec: Record, message: str) -> None:
        rec.notes.append(message)
        self.log.event(rec, "not-validated", message)

    @staticmethod
    def _headers(rec: Record) -> list[tuple[str, str]]:
        out = [(VIOLATIONS_HEADER, str(len(rec.violations)))]
        if rec.notes:
            out.append((NOT_VALIDATED_HEADER, "; ".join(rec.notes)))
        return out

    def _finish(self, rec: Record, head: Head, request: Body, answer: Answer) -> None:
        """Count the exchange and record it."""
        stats = self.stats
        errors = sum(1 for _k, v in rec.violations if v.severity == "error")
        stats.errors += errors
        stats.warnings += len(rec.violations) - errors
        stats.with_violations += bool(rec.violations)
        if rec.match is None:
            stats.unmatched += 1
        elif rec.notes:
            stats.not_validated += 1
        else:
            stats.validated += 1
        if self.har is not None:
            self.har.add(self._entry(rec, head, request, answer))

    def _entry(self, rec: Record, head: Head, request: Body, answer: Answer) -> dict[str, Any]:
        status, response_headers, decoded, raw, waited = (
            answer.status, answer.headers, answer.decoded, answer.raw, answer.waited
        )  # fmt: skip
        total = (time.perf_counter() - rec.clock) * 1000
        mime = head.get("content-type") or ""
        post = None
        if request.data or not request.complete:
            post = har.content(
                request.data if request.complete else None,
                mime,
                None if request.complete else "not recorded: larger than --max-validate-bytes",
            )
            post.pop("size", None)
        rmime = next((v for k, v in response_headers if k.lower() == "content-type"), "")
        comment = (
            None
            if decoded is not None or raw is None
            else "not recorded: not decodable within --max-validate-bytes"
        )
        if raw is None and decoded is None:
            comment = "not recorded: larger than --max-validate-bytes"
        body = har.content(decoded, rmime, comment)
        if "text" in body:
            body["text"] = rec.scrub(body["text"])
        if post is not None and "text" in post:
            post["text"] = rec.scrub(post["text"])
        location = next((v for k, v in response_headers if k.lower() == "location"), "")
        return {
            "startedDateTime": datetime.fromtimestamp(rec.started, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "time": round(total, 3),
            "request": {
                "method": rec.method,
                "url": rec.scrub(rec.url),
                "httpVersion": head.start[2] or "HTTP/1.1",
                "cookies": [],  # never recorded: they are credentials
                "headers": har.headers_list(head.headers),
                "queryString": har.query_list(rec.scrub(rec.url)),
                **({"postData": post} if post is not None else {}),
                "headersSize": -1,
                "bodySize": len(request.data) if request.complete else -1,
            },
            "response": {
                "status": status,
                "statusText": HTTPStatus(status).phrase
                if status in HTTPStatus._value2member_map_
                else "",
                "httpVersion": "HTTP/1.1",
                "cookies": [],
                "headers": har.headers_list(response_headers),
                "content": body,
                "redirectURL": location,
                "headersSize": -1,
                "bodySize": len(raw) if raw is not None else -1,
            },
            "cache": {},
            "timings": {
                "send": 0,
                "wait": round(waited * 1000, 3),
                "receive": round(max(total - waited * 1000, 0), 3),
            },
            har.PRIVATE: {
                "exchange": rec.number,
                "answeredBy": "proxy" if answer.by_proxy else "upstream",
                "operation": rec.match.operation_id if rec.match else None,
                "violations": [
                    {"kind": k, **v.to_dict(), "message": rec.scrub(v.message)}
                    for k, v in rec.violations
                ],
                "notValidated": rec.notes,
            },
        }


def _status(head: Head) -> int:
    try:
        return int(head.start[1])
    except ValueError:
        raise ProtocolError(f"bad status line: {' '.join(head.start)[:80]!r}") from None


def run(
    options: Options,
    validator: ExchangeValidator,
    log: Log,
    *,
    host: str,
    port: int,
    announce: Callable[[str], None],
) -> Stats:
    """Serve until SIGINT/SIGTERM (in the main thread) and return the counts."""

    async def main() -> Stats:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        proxy = Proxy(options, validator, log)
        stats = await proxy.serve(host, port, announce, stop)
        log.summary(stats)
        return stats

    return asyncio.run(main())


__all__ = [
    "NOT_VALIDATED_HEADER",
    "VIOLATIONS_HEADER",
    "Log",
    "Options",
    "Proxy",
    "Stats",
    "run",
    "running",
]


@contextlib.contextmanager
def running(
    options: Options,
    *,
    validator: ExchangeValidator | None = None,
    log: TextIO | None = None,
    host: str = "127.0.0.1",
) -> Iterator[tuple[str, Stats]]:
    """Run the proxy on a free port in a background thread (tests, library use);
    yields its base URL and its live counts, and stops it on exit."""
    import io
    import threading

    started = threading.Event()
    url: list[str] = []
    holder: dict[str, Any] = {}

    async def main() -> None:
        holder["stop"] = stop = asyncio.Event()
        holder["loop"] = asyncio.get_running_loop()
        proxy = Proxy(
            options, validator or ExchangeValidator(), Log(log or io.StringIO(), options.log_format)
        )
        holder["stats"] = proxy.stats

        def announce(where: str) -> None:
            url.append(where)
            started.set()

        await proxy.serve(host, 0, announce, stop)

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the caller
            holder["error"] = exc
            started.set()

    thread = threading.Thread(target=target, name="amlyze-proxy", daemon=True)
    thread.start()
    if not started.wait(10) or "error" in holder:
        raise RuntimeError(f"proxy did not start: {holder.get('error')!r}")
    try:
        yield url[0], holder["stats"]
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(STOP_GRACE + 5)
