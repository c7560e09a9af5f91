"""The reference server as a plain ASGI application.

Routing and HTTP concerns live here; every decision about a request is delegated to
one of the ``Parts`` (see ``parts.py``), which is the seam the bug catalogue uses.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from . import fixtures
from .parts import BodyTooLarge, ClientGone, Parts, Receive
from .routes import Route, revision_name, routes
from .state import Rejection, StateStore, open_store

Scope = MutableMapping[str, Any]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]

log = logging.getLogger("amlyze_contracts.server")

DEFAULT_MAX_BODY: Final = 50 * 1024 * 1024
DEFAULT_BODY_TIMEOUT: Final = 30.0
# Bodies above this are processed in a worker thread so the event loop keeps
# serving other clients; small ones are cheaper inline.
OFFLOAD_BYTES: Final = 512 * 1024

Headers = tuple[tuple[bytes, bytes], ...]


CLASSIFIER_PREFIX: Final = "/classifier/"
BRM_PREFIX: Final = fixtures.BRM_BASE_PATH + "/"
BRM_COLLECTION: Final = "accumulatedBalance"


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: Any
    headers: Headers = ()


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _query(scope: Scope) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(
        scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True
    )


def _elapsed_ms(started: int) -> int:
    return (time.perf_counter_ns() - started) // 1_000_000


class ReferenceServer:
    """ASGI callable. ``close()`` (or the ASGI lifespan shutdown) closes the state.
    It serves the AMLYZE operations of one vendor revision (default ``2024-11-04``)."""

    def __init__(
        self,
        parts: Parts,
        *,
        token: str,
        max_body: int = DEFAULT_MAX_BODY,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        revision: str | None = None,
    ) -> None:
        self.parts = parts
        self._token = token.encode()
        self.max_body = max_body
        self.body_timeout = body_timeout
        self.revision = revision_name(revision)
        self.routes: Mapping[str, Mapping[str, Route]] = routes(self.revision)

    def close(self) -> None:
        self.parts.store.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        try:
            response = await self._dispatch(scope, receive, path)
        except ClientGone:
            return
        except Exception:
            # A crash is answered, never left to the transport; the token is in no
            # exception text (it is only ever compared).
            log.exception("request failed: %s %s", scope["method"], path)
            response = self._error(path, 500, "Internal server error")
        await self._send(send, response)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _send(self, send: Send, response: Response) -> None:
        payload, content_type = self.parts.render(response.body)
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(payload)).encode()),
            *response.headers,
        ]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    # --- errors ---------------------------------------------------------------------

    def _error(self, path: str, status: int, message: str, headers: Headers = ()) -> Response:
        """The error body of the path's family: TMF for BRM, Spring-style for AMLYZE."""
        if path.startswith(BRM_PREFIX):
            return Response(status, self.parts.tmf_error(status, message), headers)
        return Response(status, self.parts.amlyze_error(status, path), headers)

    def _unauthorized(self, path: str) -> Response:
        return self._error(
            path, 401, "Missing or invalid bearer token", ((b"www-authenticate", b"Bearer"),)
        )

    def _method_not_allowed(self, path: str, allowed: str) -> Response:
        return self._error(
            path, 405, f"Method not allowed; use {allowed}", ((b"allow", allowed.encode()),)
        )

    # --- routing --------------------------------------------------------------------

    async def _dispatch(self, scope: Scope, receive: Receive, path: str) -> Response:
        method: str = scope["method"]
        by_method = self.routes.get(path)
        if by_method is not None:
            route = by_method.get(method)
            if route is None:
                return self._method_not_allowed(path, ", ".join(by_method))
            return await self._operation(scope, receive, path, route)
        if path.startswith(CLASSIFIER_PREFIX):
            return self._classifier(method, path)
        if path.startswith(BRM_PREFIX):
            return self._brm(scope, method, path)
        return self._error(path, 404, "No such resource")

    def _classifier(self, method: str, path: str) -> Response:
        entries = fixtures.CLASSIFIERS.get(path[len(CLASSIFIER_PREFIX) :])
        if entries is None:
            return self._error(path, 404, "Unknown classifier")
        if method != "GET":
            return self._method_not_allowed(path, "GET")
        return Response(200, list(entries))

    # --- AMLYZE operations ----------------------------------------------------------

    async def _operation(self, scope: Scope, receive: Receive, path: str, route: Route) -> Response:
        if not self.parts.authorize(_header(scope, b"authorization"), self._token):
            return self._unauthorized(path)
        length = _header(scope, b"content-length")
        try:
            async with asyncio.timeout(self.body_timeout):
                # h11 has already rejected a malformed Content-Length.
                raw = await self.parts.read_body(
                    receive, int(length) if length else None, self.max_body
                )
        except BodyTooLarge:
            return self._error(path, 413, "Request body too large")
        except TimeoutError:
            return self._error(path, 408, "Request body not received in time")
        process = self._process_batch if route.item_key is not None else self._process_single
        if len(raw) > OFFLOAD_BYTES:
            return await asyncio.to_thread(process, path, route, raw)
        return process(path, route, raw)

    def _decide(self, route: Route, raw: bytes, items: list[Any]) -> dict[int, Rejection]:
        """Item index -> rejection, for items read from ``raw``: the rule set, the known
        data, then the state store (which records the accepted ones unless a dry run)."""
        parts = self.parts
        rejections = parts.reject_items(parts.validate(route, raw), route.item_key, len(items))
        state_op = route.state_operation
        for i, item in enumerate(items):
            known = None if i in rejections else parts.check_known_data(state_op, item)
            if known is not None:
                rejections[i] = known
        claims = [parts.claim_of(route, item, i not in rejections) for i, item in enumerate(items)]
        _merge(rejections, parts.store.claim(state_op, claims, record=route.saves))
        return rejections

    def _process_single(self, path: str, route: Route, raw: bytes) -> Response:
        item = self.parts.parse_item(raw)
        if item is None or self.parts.bind_batch(route, [item]) is not None:
            return self._error(path, 400, "Malformed request body")
        status, body = self.parts.single_answer(route, self._decide(route, raw, [item]).get(0))
        return Response(status, body)

    def _process_batch(self, path: str, route: Route, raw: bytes) -> Response:
        started = time.perf_counter_ns()
        parts = self.parts
        assert route.item_key is not None
        items = parts.parse_batch(raw, route.item_key)
        if items is None or parts.bind_batch(route, items) is not None:
            return self._error(path, 400, "Malformed request body")
        rejections = self._decide(route, raw, items)
        # Items are decided together; each reports its share of the batch's time.
        item_ms = _elapsed_ms(started) // max(1, len(items))
        results = [
            parts.build_result(item, rejections.get(i), item_ms) for i, item in enumerate(items)
        ]
        return Response(200, parts.assemble_batch(results, _elapsed_ms(started)))

    # --- BRM ------------------------------------------------------------------------

    def _brm(self, scope: Scope, method: str, path: str) -> Response:
        parts = self.parts
        raw_path = bytes(scope.get("raw_path") or path.encode()).split(b"?", 1)[0]
        # Segments of the raw path, so an encoded "/" or "+" in the id survives routing.
        segments = raw_path.decode("latin-1").split("/")
        # ["", "brm", "prepayBalanceManagement", version, "accumulatedBalance", id]
        if len(segments) != 6 or segments[4] != BRM_COLLECTION or not segments[5]:
            return self._error(path, 404, "No such resource")
        version, raw_id = urllib.parse.unquote(segments[3]), segments[5]
        if not parts.brm_version_supported(version):
            return self._error(path, 404, f"Unsupported API version {version!r}")
        if method != "GET":
            return self._method_not_allowed(path, "GET")
        if not parts.authorize(_header(scope, b"authorization"), self._token):
            return self._unauthorized(path)
        query = _query(scope)
        type_name = parts.brm_type(query["@type"][-1] if "@type" in query else None)
        if type_name is None:
            return self._error(path, 400, "Unsupported @type")
        try:
            balance_id = parts.decode_brm_id(raw_id)
        except UnicodeDecodeError:
            return self._error(path, 404, "No accumulated balance with this id")
        base_url = _base_url(scope, segments[3])
        balance = parts.lookup_balance(balance_id, base_url)
        if balance is None:
            return self._error(path, 404, "No accumulated balance with this id")
        fields = {f.strip() for value in query.get("fields", ()) for f in value.split(",")}
        fields.discard("")
        href = parts.brm_href(base_url, raw_id)
        return Response(200, parts.present_balance(balance, href, type_name, fields))


def _merge(rejections: dict[int, Rejection], later: Iterable[Rejection | None]) -> None:
    """Add later-stage rejections; an earlier stage's reason wins."""
    for i, rejection in enumerate(later):
        if rejection is not None:
            rejections.setdefault(i, rejection)


def _base_url(scope: Scope, raw_version: str) -> str:
    host = _header(scope, b"host")
    if host is None:
        server_host, port = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server_host}:{port}".encode()
    return f"{scope.get('scheme', 'http')}://{host.decode('latin-1')}{BRM_PREFIX}{raw_version}"


class ServerApp(Protocol):
    """What ``app()`` returns: an ASGI callable that closes its state."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...

    def close(self) -> None: ...


def app(
    *,
    token: str = fixtures.DEFAULT_TOKEN,
    bugs: Iterable[str] = (),
    state: str | Path | None = None,
    store: StateStore | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    profile: str = "default",
    revision: str | None = None,
) -> ServerApp:
    """The reference server's ASGI app.

    ``state``: a SQLite file that keeps accepted communicationNumbers and account
    ownership across restarts (default: in memory). ``bugs``: names from
    ``BUGS`` to inject (see ``amlyze-contracts serve --list-bugs``). ``profile``:
    ``default``, or ``production`` (a Spring Boot deployment behind nginx, wherever
    the contract leaves room; see ``server/production.py``). ``revision``: the
    vendor revision to implement, a date of ``specs/revisions.yaml`` or ``latest``
    (default ``2024-11-04``; unknown: ``SpecError``). A bug that changes nothing
    under the revision (``Bug.revisions``) is refused (ValueError).
    """
    from .bugs import apply_bugs, pointless_bugs, unknown_bugs

    bugs = list(bugs)
    if unknown := unknown_bugs(bugs):
        raise ValueError(f"unknown bug(s): {', '.join(unknown)}")
    if profile not in fixtures.PROFILES:
        raise ValueError(f"unknown profile {profile!r} (known: {', '.join(fixtures.PROFILES)})")
    revision = revision_name(revision)
    if pointless := pointless_bugs(bugs, revision):
        raise ValueError(
            f"bug(s) {', '.join(pointless)} change nothing under revision {revision} "
            "(see Bug.revisions)"
        )
    parts = Parts(store=store if store is not None else open_store(state))
    settings: dict[str, Any] = {
        "token": token, "max_body": max_body, "body_timeout": body_timeout, "revision": revision
    }  # fmt: skip
    if profile == "production":
        from .production import Gateway, production_parts

        parts = apply_bugs(production_parts(parts), bugs)
        return Gateway(ReferenceServer(parts, **settings), parts, token)
    return ReferenceServer(apply_bugs(parts, bugs), **settings)
