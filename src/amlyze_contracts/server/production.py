"""The ``production`` profile: the reference server as a typical deployment runs it.

A Spring Boot service (Jackson defaults, Spring Security, Tomcat) behind nginx,
wherever the contract leaves room (CONTRACT.md 3.1); where it does not, the profile
conforms like the reference server (README, "Decisions"). Two layers:

* :func:`production_parts` replaces server parts the way Jackson reads a body:
  the last of duplicate members wins, ``null`` for an optional member is absent,
  unknown members are ignored; a value that cannot be bound to the member's Java
  type (no scalar coercion, enum constants, ``OffsetDateTime``: no leap second,
  upper-case ``T``/``Z``, at most 9 fraction digits, offsets within +-18:00) fails
  the whole request with 400. JSON is served as ``application/json;charset=UTF-8``.
* :class:`Gateway` wraps the ASGI app with what the layers in front of the
  controllers do: nginx (HTML 404/405 pages outside the API's locations, HTML 413
  over ``client_max_body_size``, gzip for bodies of 1000 bytes or more, chunked
  transfer, ``Connection: close`` after 100 requests on a connection), Tomcat (400
  page for an encoded slash), Spring Security (its firewall's 400 for an encoded
  ``%``, ``\\``, ``.`` or ``;``, 401 before routing, its cache and frame headers),
  Spring MVC (CORS preflight and OPTIONS answered, HEAD for GET, a Spring 404 for
  unmapped paths).
"""

from __future__ import annotations

import dataclasses
import gzip
import re
import uuid
from collections.abc import Mapping, MutableMapping
from datetime import date
from email.utils import formatdate
from typing import Any, Final

import orjson

from . import fixtures
from .parts import Message, Parts, Receive, parse_batch, parse_item
from .routes import Route

Scope = MutableMapping[str, Any]

AMLYZE_PREFIX: Final = "/amlyze-ws-rest/"
CLASSIFIER_PREFIX: Final = "/classifier/"
BRM_PREFIX: Final = fixtures.BRM_BASE_PATH + "/"
CLIENT_MAX_BODY: Final = 10 * 1024 * 1024  # nginx client_max_body_size 10m
GZIP_MIN_LENGTH: Final = 1000  # nginx gzip_min_length 1000
GZIP_TYPES: Final = (b"application/json", b"text/html")
KEEPALIVE_REQUESTS: Final = 100  # nginx keepalive_requests (the pre-1.19.10 default)
CHUNK: Final = 4096
JSON_UTF8: Final = b"application/json;charset=UTF-8"
SECURITY_HEADERS: Final = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-xss-protection", b"0"),
    (b"cache-control", b"no-cache, no-store, max-age=0, must-revalidate"),
    (b"pragma", b"no-cache"),
    (b"expires", b"0"),
    (b"x-frame-options", b"DENY"),
    (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
)

# --- Jackson ----------------------------------------------------------------------

# java.time.format.DateTimeFormatter.ISO_OFFSET_DATE_TIME (up to 9 fraction digits,
# offsets to +-18:00, no leap second), but upper-case T and Z only, as Luxon and other
# strict ISO parsers read it (java.time itself parses the letters case-insensitively).
_OFFSET_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?"
    r"(?:Z|[+-](\d{2}):(\d{2})(?::\d{2})?)"
)
_JSON_TYPES: Final[Mapping[str, tuple[type, ...]]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def offset_date_time(value: str) -> bool:
    """Whether ``OffsetDateTime.parse`` would read ``value`` (no leap second, offset
    within +-18:00, a real calendar date)."""
    m = _OFFSET_DATE_TIME.fullmatch(value)
    if m is None:
        return False
    year, month, day, hour, minute, second, off_h, off_m = m.groups()
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    in_range = int(hour) <= 23 and int(minute) <= 59 and int(second or 0) <= 59
    return in_range and (off_h is None or (int(off_h) <= 18 and int(off_m) <= 59))


def _item_schema(route: Route) -> tuple[Mapping[str, Any], frozenset[str]]:
    schema = route.item_schema
    return schema.get("properties") or {}, frozenset(schema.get("required") or ())


def read_leniently(route: Route, items: list[Any]) -> list[Any]:
    """Items as Jackson's default ``ObjectMapper`` sees them: ``null`` for an
    optional member is the member absent (duplicates were already resolved last-wins
    by the parser)."""
    _, required = _item_schema(route)
    return [
        {k: v for k, v in item.items() if v is not None or k in required}
        if isinstance(item, dict)
        else item
        for item in items
    ]


def _binds(value: Any, schema: Mapping[str, Any]) -> bool:
    if value is None:
        return True  # a null field: bean validation decides (@NotNull), per item
    wanted = _JSON_TYPES.get(str(schema.get("type")))
    if wanted is not None:
        # No scalar coercion: 123 is no String, "12.5" no BigDecimal, true no number.
        if isinstance(value, bool) and bool not in wanted:
            return False
        if not isinstance(value, wanted):
            return False
    if "enum" in schema and value not in schema["enum"]:
        return False  # an enum constant that does not exist
    return not (schema.get("format") == "date-time" and not offset_date_time(value))


def bind_batch(route: Route, items: list[Any]) -> str | None:
    """Jackson binding: a member whose value cannot become its Java type fails the
    whole request (Spring answers 400); unknown members are ignored."""
    props, _ = _item_schema(route)
    for index, item in enumerate(read_leniently(route, items)):
        if not isinstance(item, dict):
            return f"item {index}: not an object"
        for member, value in item.items():
            sub = props.get(member)
            if isinstance(sub, Mapping) and not _binds(value, sub):
                return f"item {index}: {member} cannot be read as its type"
    return None


def production_parts(parts: Parts) -> Parts:
    """The parts a Spring Boot deployment replaces (applied before any bug)."""
    inner_validate = parts.validate

    def validate(route: Route, raw: bytes) -> Any:
        # Validate what the application actually sees: the body as Jackson read it.
        key = route.item_key
        if key is None:
            item = parse_item(raw)
            if item is None:
                return inner_validate(route, raw)
            return inner_validate(route, orjson.dumps(read_leniently(route, [item])[0]))
        items = parse_batch(raw, key)
        if items is None:
            return inner_validate(route, raw)
        return inner_validate(route, orjson.dumps({key: read_leniently(route, items)}))

    inner_render = parts.render

    def render(body: Any) -> tuple[bytes, bytes]:
        return inner_render(body)[0], JSON_UTF8

    return dataclasses.replace(parts, validate=validate, bind_batch=bind_batch, render=render)


# --- the layers in front ----------------------------------------------------------


def nginx_page(status: int, phrase: str) -> bytes:
    return (
        f"<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()


def tomcat_page(status: int, phrase: str) -> bytes:
    return (
        f'<!doctype html><html lang="en"><head><title>HTTP Status {status} – {phrase}'
        f"</title></head><body><h1>HTTP Status {status} – {phrase}</h1></body></html>"
    ).encode()


# Spring Security's StrictHttpFirewall: encoded percent, backslash, period; ';'.
_FIREWALL = re.compile(rb"%25|%5[cC]|%2[eE]|;")
_ENCODED_SLASH = re.compile(rb"%2[fF]")
_BRM_READ = re.compile(r"accumulatedBalance/[^/]+")


@dataclasses.dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: bytes = b""
    content_type: bytes = b""
    headers: tuple[tuple[bytes, bytes], ...] = ()


class Gateway:
    """nginx + Tomcat + Spring Security + Spring MVC in front of the controllers."""

    def __init__(self, app: Any, parts: Parts, token: str) -> None:
        self.app = app
        self.parts = parts
        self._token = token.encode()
        self._requests: dict[Any, int] = {}

    def close(self) -> None:
        self.app.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope["headers"]}
        extra = self._connection_headers(scope)
        answer = self._in_front(scope, headers)
        if answer is not None:
            await self._send(send, scope, headers, answer, extra)
            return
        inner_scope = dict(scope)
        if scope["method"] == "HEAD" and not scope["path"].startswith(AMLYZE_PREFIX):
            inner_scope["method"] = "GET"  # Spring MVC answers HEAD for every GET mapping
        captured: dict[str, Any] = {"headers": [], "body": []}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = list(message.get("headers", ()))
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))

        await self.app(inner_scope, receive, capture)
        if "status" not in captured:
            return  # the client went away
        app_headers = [
            (k, v) for k, v in captured["headers"] if k.lower() not in (b"content-length",)
        ]
        content_type = next((v for k, v in app_headers if k.lower() == b"content-type"), b"")
        rest = tuple((k, v) for k, v in app_headers if k.lower() != b"content-type")
        answer = _Answer(captured["status"], b"".join(captured["body"]), content_type, rest)
        await self._send(send, scope, headers, answer, extra, chunked=True)

    # -------------------------------------------------------------- before the app

    def _in_front(self, scope: Scope, headers: Mapping[bytes, bytes]) -> _Answer | None:
        method, path = scope["method"], scope["path"]
        raw_path = bytes(scope.get("raw_path") or path.encode()).split(b"?", 1)[0]
        if not path.startswith((AMLYZE_PREFIX, CLASSIFIER_PREFIX, BRM_PREFIX)):
            if method in ("GET", "HEAD"):
                return _Answer(404, nginx_page(404, "Not Found"), b"text/html")
            return _Answer(405, nginx_page(405, "Not Allowed"), b"text/html")
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > CLIENT_MAX_BODY:
            return _Answer(413, nginx_page(413, "Request Entity Too Large"), b"text/html")
        if _ENCODED_SLASH.search(raw_path):
            return _Answer(400, tomcat_page(400, "Bad Request"), b"text/html;charset=utf-8")
        if _FIREWALL.search(raw_path):
            return self._spring_error(400, path)
        if method == "OPTIONS":
            return self._options(path, headers)
        if not path.startswith(CLASSIFIER_PREFIX) and not self.parts.authorize(
            headers.get(b"authorization"), self._token
        ):
            return self._unauthorized(path)  # Spring Security, before any routing
        if path.startswith(BRM_PREFIX):
            version, _, rest = path[len(BRM_PREFIX) :].partition("/")
            if not self.parts.brm_version_supported(version) or not _BRM_READ.fullmatch(rest):
                return self._spring_error(404, path)  # no handler mapped: Spring's /error
        return None

    def _unauthorized(self, path: str) -> _Answer:
        # A custom entry point: the documented 401 body (Spring's default has none).
        error = (
            self.parts.tmf_error(401, "Missing or invalid bearer token")
            if path.startswith(fixtures.BRM_BASE_PATH + "/")
            else self.parts.amlyze_error(401, path)
        )
        body, content_type = self.parts.render(error)
        return _Answer(401, body, content_type, ((b"www-authenticate", b"Bearer"),))

    def _spring_error(self, status: int, path: str) -> _Answer:
        body, content_type = self.parts.render(self.parts.amlyze_error(status, path))
        return _Answer(status, body, content_type)

    def _options(self, path: str, headers: Mapping[bytes, bytes]) -> _Answer:
        allow = b"POST,PUT,OPTIONS" if path.startswith(AMLYZE_PREFIX) else b"GET,HEAD,OPTIONS"
        out = [(b"allow", allow)]
        origin = headers.get(b"origin")
        if origin is not None and b"access-control-request-method" in headers:
            out += [
                (b"access-control-allow-origin", origin),
                (b"access-control-allow-methods", allow),
                (b"access-control-allow-headers", b"authorization, content-type"),
                (b"access-control-max-age", b"1800"),
            ]
        return _Answer(200, b"", b"", tuple(out))

    def _connection_headers(self, scope: Scope) -> tuple[tuple[bytes, bytes], ...]:
        client = scope.get("client")
        if len(self._requests) > 4096:
            self._requests.clear()  # closed connections are never told: keep the table small
        count = self._requests.get(client, 0) + 1
        if count >= KEEPALIVE_REQUESTS:
            self._requests.pop(client, None)
            return ((b"connection", b"close"),)
        self._requests[client] = count
        return ()

    # -------------------------------------------------------------- the answer

    async def _send(
        self,
        send: Any,
        scope: Scope,
        request_headers: Mapping[bytes, bytes],
        answer: _Answer,
        extra: tuple[tuple[bytes, bytes], ...],
        *,
        chunked: bool = False,
    ) -> None:
        body = answer.body
        out: list[tuple[bytes, bytes]] = [
            (b"server", b"nginx"),
            (b"date", formatdate(usegmt=True).encode()),
            (b"x-request-id", uuid.uuid4().hex.encode()),
            *SECURITY_HEADERS,
            *answer.headers,
            *extra,
        ]
        if answer.content_type:
            out.append((b"content-type", answer.content_type))
        accepts = request_headers.get(b"accept-encoding", b"").lower()
        media = answer.content_type.split(b";")[0].strip().lower()
        if b"gzip" in accepts and len(body) >= GZIP_MIN_LENGTH and media in GZIP_TYPES:
            body = gzip.compress(body, compresslevel=1)
            out += [(b"content-encoding", b"gzip"), (b"vary", b"Accept-Encoding")]
            chunked = True
        head = scope["method"] == "HEAD"
        if not chunked or head or not body:
            out.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": out})
        if head:
            await send({"type": "http.response.body", "body": b""})
            return
        pieces = [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)] or [b""]
        for i, piece in enumerate(pieces):
            more = i < len(pieces) - 1
            await send({"type": "http.response.body", "body": piece, "more_body": more})
