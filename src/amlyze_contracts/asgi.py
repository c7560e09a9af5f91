"""The contract checked inside a service that implements the API: a pure ASGI
middleware (any ASGI framework; it needs no extra).

    app = ContractMiddleware(app, mode="reject")

Each request of a bundled operation (method and path; a context path before the
operation's path is fine) is validated before the app sees it, and the app's response
with the request/response rules. ``reject``: a request breaking an error rule is
answered 400 with the error body the proxy's ``--enforce`` sends (AMLYZE's, TMF630 on
BRM paths, plus ``"violations"``) and never reaches the app; ``report``: the app
answers every request. Both log each violation (logger ``amlyze_contracts.asgi``:
ERROR for an error, WARNING for a warning) and add the proxy's
``X-Amlyze-Contracts-Violations`` header (``header=False``: not). Bodies of the bundled
operations are buffered up to ``max_validate_bytes`` (default 8 MiB) and streamed
past it, not validated; every other exchange passes untouched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from . import watch
from .redact import credentials
from .violations import Report

if TYPE_CHECKING:
    from .catalogue import RuleSet
    from .proxy.exchange import Classifiers, Match

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOGGER_NAME = "amlyze_contracts.asgi"
log = logging.getLogger(LOGGER_NAME)
MODES = ("reject", "report")
REJECTED = "request rejected by amlyze-contracts ContractMiddleware"


class ContractMiddleware:
    """Validates the exchanges of the bundled operations an ASGI app serves.

    ``revision``, ``rules``, ``severities`` and ``classifiers`` as for
    ``validate_request``; an unknown revision or unusable rule file fails here, when
    the app is built.
    """

    def __init__(
        self,
        app: ASGIApp,
        mode: str = "reject",
        *,
        revision: str | None = None,
        rules: watch.Rules | RuleSet = None,
        severities: Mapping[str, str] | None = None,
        classifiers: Classifiers = None,
        max_validate_bytes: int | None = None,
        header: bool = True,
    ) -> None:
        from .proxy.server import INLINE_VALIDATE, NOT_VALIDATED_HEADER, VIOLATIONS_HEADER

        watch.check_mode(mode, MODES)
        self.app = app
        self.mode = mode
        self.validator = watch.exchange_validator(revision, rules, severities, classifiers)
        self.cap = watch.max_bytes(max_validate_bytes)
        self.header = header
        self._count_header = VIOLATIONS_HEADER.lower().encode()
        self._note_header = NOT_VALIDATED_HEADER.lower().encode()
        self._inline = INLINE_VALIDATE

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        target = scope["path"] + (f"?{query}" if query else "")
        match = self.validator.matcher.match(scope["method"], target)
        if match is None:
            await self.app(scope, receive, send)
            return
        await _Exchange(self, scope, match).run(receive, send)

    async def _validate(self, size: int, check: Callable[..., list[Any]], *args: Any) -> list[Any]:
        # A large body in a worker thread: the event loop keeps serving meanwhile.
        if size > self._inline:
            return await asyncio.to_thread(check, *args)
        return check(*args)


class _Exchange:
    """One request of a bundled operation on its way through the middleware."""

    def __init__(self, owner: ContractMiddleware, scope: Scope, match: Match) -> None:
        self.owner = owner
        self.scope = scope
        self.match = match
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])]
        self.secrets = credentials(headers)
        self.reports: list[Report] = []
        self.notes: list[str] = []
        self.request_body: bytes | None = None

    async def run(self, receive: Receive, send: Send) -> None:
        owner = self.owner
        if self.match.has_request_body:
            receive = await self._read_request(receive)
            if self.request_body is not None:
                found = await owner._validate(
                    len(self.request_body), owner.validator.request, self.match, self.request_body
                )
                report = self._tell(Report(self.match.operation_id, found, "request"))
                if owner.mode == "reject" and not report.valid:
                    await self._reject(send, report)
                    return
        await owner.app(self.scope, receive, self._responder(send))

    async def _read_request(self, receive: Receive) -> Receive:
        """Buffer the body up to the bound; the app then receives it as sent."""
        chunks: list[bytes] = []
        size, more, pending = 0, True, None
        while more:
            message = await receive()
            if message["type"] != "http.request":  # http.disconnect: the app sees it too
                pending = message
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = bool(message.get("more_body", False))
            if size > self.owner.cap:
                self._note(f"request body over max_validate_bytes ({self.owner.cap})")
                break
        body = b"".join(chunks)
        if not more and pending is None and size <= self.owner.cap:
            self.request_body = body
        queue: list[Message] = [{"type": "http.request", "body": body, "more_body": more}]
        if pending is not None:
            queue.append(pending)

        async def replay() -> Message:
            return queue.pop(0) if queue else await receive()

        return replay

    def _responder(self, send: Send) -> Send:
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        streaming = False

        async def respond(message: Message) -> None:
            nonlocal start, size, streaming
            kind = message["type"]
            if streaming:
                await send(message)
            elif kind == "http.response.start":
                start = message
            elif kind == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                more = bool(message.get("more_body", False))
                if more and size <= self.owner.cap:
                    return
                body = b"".join(chunks)
                if size > self.owner.cap:
                    self._note(f"response body over max_validate_bytes ({self.owner.cap})")
                else:
                    await self._check_response(start, body)
                streaming = True
                await send(self._with_headers(start))
                await send({"type": "http.response.body", "body": body, "more_body": more})
            else:  # anything else (trailers, a file to send): passed on, not validated
                if start is not None:
                    self._note(f"response message {kind!r} not validated")
                    await send(self._with_headers(start))
                    if chunks:
                        await send({"type": "http.response.body", "body": b"".join(chunks),
                                    "more_body": True})  # fmt: skip
                streaming = True
                await send(message)

        return respond

    async def _check_response(self, start: Message, body: bytes) -> None:
        from .proxy.http import decode

        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start.get("headers", [])}
        coding = next((v for k, v in headers.items() if k.lower() == "content-encoding"), "")
        decoded = decode(body, coding, self.owner.cap)
        if decoded is None:
            self._note(f"response body in Content-Encoding {coding!r} not validated")
            return
        found = await self.owner._validate(
            len(decoded), self.owner.validator.response, self.match, self.request_body,
            start["status"], headers, decoded,
        )  # fmt: skip
        self._tell(Report(self.match.operation_id, found, "response"))

    def _tell(self, report: Report) -> Report:
        report = watch.scrubbed(report, self.secrets)
        self.reports.append(report)
        for v in report.violations:
            level = logging.ERROR if v.severity == "error" else logging.WARNING
            log.log(level, "%s %s %s %s", self.method, self.path, report.operation_id,
                    watch.line(report.kind, v))  # fmt: skip
        return report

    def _note(self, why: str) -> None:
        self.notes.append(why)
        log.warning("%s %s %s not validated: %s", self.method, self.path,
                    self.match.operation_id, why)  # fmt: skip

    def _extra_headers(self) -> list[tuple[bytes, bytes]]:
        if not self.owner.header:
            return []
        count = sum(len(r.violations) for r in self.reports)
        out = [(self.owner._count_header, str(count).encode())]
        if self.notes:
            out.append((self.owner._note_header, "; ".join(self.notes).encode("latin-1")))
        return out

    def _with_headers(self, start: Message) -> Message:
        extra = self._extra_headers()
        if not extra:
            return start
        return {**start, "headers": [*start.get("headers", []), *extra]}

    async def _reject(self, send: Send, report: Report) -> None:
        from .proxy.server import error_body

        violations = [v.to_dict() for v in report.violations]
        body = error_body(self.path, 400, REJECTED, violations=violations)
        headers: Iterable[tuple[bytes, bytes]] = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *self._extra_headers(),
        ]
        await send({"type": "http.response.start", "status": 400, "headers": list(headers)})
        await send({"type": "http.response.body", "body": body})


__all__ = ["LOGGER_NAME", "ContractMiddleware"]
