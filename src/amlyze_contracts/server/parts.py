"""The server's replaceable parts and their correct implementations.

A request handler (``asgi.py``) only wires these together. Each injectable bug
(``bugs.py``) replaces or wraps exactly one part, so the correct code below never
mentions bugs.
"""

from __future__ import annotations

import hmac
import urllib.parse
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import orjson

from ..domain import BATCH_ACCOUNTS
from ..domain import ECHOED_IDENTIFIERS as _ECHOED
from ..domain import REQUEST_ACCEPTED as ACCEPTED
from ..domain import REQUEST_REJECTED as REJECTED
from ..domain import UTF8_BOM as _BOM
from ..violations import Violation
from . import checks, fixtures
from .state import Claim, Rejection, StateStore

if TYPE_CHECKING:
    from .routes import Route

Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]

JSON = b"application/json"


class BodyTooLarge(Exception):
    """The request body exceeds the configured limit (answered with 413)."""


class ClientGone(Exception):
    """The client disconnected before its body arrived; nothing to answer."""


# --- auth -------------------------------------------------------------------------


def authorize(header: bytes | None, token: bytes) -> bool:
    """``Authorization: Bearer <token>``; scheme case-insensitive, constant-time compare."""
    if header is None:
        return False
    scheme, _, credentials = header.partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), token)


# --- request body -----------------------------------------------------------------


async def read_body(receive: Receive, content_length: int | None, limit: int) -> bytes:
    """The whole body, refusing it as soon as it is known to exceed ``limit``:
    from Content-Length before reading anything, else while counting chunks."""
    if content_length is not None and content_length > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        if not message.get("more_body", False):
            # Common case: one chunk, no copy.
            return b"".join((*chunks, chunk)) if chunks else chunk
        chunks.append(chunk)


def parse_batch(raw: bytes, item_key: str) -> list[Any] | None:
    """The item array, or None when the request as a whole is malformed (400)."""
    try:
        body = orjson.loads(raw[3:] if raw.startswith(_BOM) else raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        return None
    items = body.get(item_key)
    return items if isinstance(items, list) else None


def parse_item(raw: bytes) -> dict[str, Any] | None:
    """A single operation's body (one item), or None when it is not a JSON object (400)."""
    try:
        body = orjson.loads(raw[3:] if raw.startswith(_BOM) else raw)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def bind_batch(route: Route, items: list[Any]) -> str | None:
    """Why the request as a whole cannot be read into the server's types (400), or
    None. The reference server binds nothing: it rejects bad items one by one."""
    return None


# --- item decisions ---------------------------------------------------------------


def claim_of(route: Route, item: Any, eligible: bool) -> Claim:
    """What an item would record in the state store (of the route's state operation)."""
    if not isinstance(item, dict):
        return Claim(None, None, None, eligible=False)
    number, account = item.get("communicationNumber"), item.get("accountExtId")
    owned = route.state_operation == BATCH_ACCOUNTS
    customer = item.get("businessEntityExtId") if owned else None
    return Claim(
        number if isinstance(number, str) else None,
        account if isinstance(account, str) else None,
        customer if isinstance(customer, str) else None,
        eligible,
    )


def build_result(item: Any, rejection: Rejection | None, elapsed_ms: int) -> dict[str, Any]:
    """One item's result: echoes its identifiers (omitted, never null, when absent)."""
    result: dict[str, Any] = {"resultType": ACCEPTED if rejection is None else REJECTED}
    if isinstance(item, dict):
        for key in _ECHOED:
            value = item.get(key)
            if isinstance(value, str):
                result[key] = value
    if rejection is not None:
        result["errorCode"] = rejection.code
        result["errorDescription"] = rejection.description
    result["timeElapsedMs"] = elapsed_ms
    return result


def assemble_batch(results: list[dict[str, Any]], total_ms: int) -> dict[str, Any]:
    return {"results": results, "timeElapsedMs": total_ms}


def single_answer(route: Route, rejection: Rejection | None) -> tuple[int, dict[str, Any]]:
    """A single operation's status and body: 200 with the page's ``resultType``, or 400
    with ``resultType``, ``errorCode`` and ``errorDescription`` (no identifiers: the
    client sent one item and knows them)."""
    if rejection is None:
        return 200, {"resultType": route.accepted_type}
    body = {
        "resultType": REJECTED,
        "errorCode": rejection.code,
        "errorDescription": rejection.description,
    }
    return 400, body


# --- BRM --------------------------------------------------------------------------


def decode_brm_id(segment: str) -> str:
    """Percent-decode a path segment. A ``+`` in a path is a literal plus (RFC 3986),
    unlike in a query string."""
    return urllib.parse.unquote(segment, errors="strict")


def brm_version_supported(version: str) -> bool:
    return version in fixtures.BRM_VERSIONS


def brm_type(requested: str | None) -> str | None:
    """The ``@type`` to answer with; None when unsupported (400)."""
    if requested is None:
        return fixtures.BRM_BASE_TYPE
    return requested if requested in fixtures.BRM_TYPES else None


def lookup_balance(balance_id: str, base_url: str) -> dict[str, Any] | None:
    return fixtures.accumulated_balance(balance_id, base_url)


def brm_href(base_url: str, raw_id: str) -> str:
    # The id as the client wrote it: its percent-decoding is the requested id.
    return f"{base_url}/accumulatedBalance/{raw_id}"


def present_balance(
    balance: dict[str, Any], href: str, type_name: str, fields: Collection[str]
) -> dict[str, Any]:
    """The answer body: href filled in, ``@type`` echoed, ``fields`` honoured."""
    body = {"id": balance["id"], "href": href, **balance}
    body["@type"] = type_name
    body["@baseType"] = fixtures.BRM_BASE_TYPE
    if fields:
        keep = fixtures.BRM_ALWAYS_FIELDS.union(fields)
        body = {key: value for key, value in body.items() if key in keep}
    return body


# --- bodies -----------------------------------------------------------------------


def render(body: Any) -> tuple[bytes, bytes]:
    """Serialized body and its Content-Type."""
    return orjson.dumps(body), JSON


def amlyze_error(status: int, path: str) -> dict[str, Any]:
    """Spring Boot's default error body, as AMLYZE publishes it."""
    body: dict[str, Any] = {
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "status": status,
        "error": HTTPStatus(status).phrase,
        "path": path,
    }
    if status >= 500:
        body["errorCode"] = str(status)  # the published 500 example's members
        body["errorDescription"] = "Processing failed"
    return body


def tmf_error(status: int, message: str) -> dict[str, Any]:
    """TMF630 ``Error``: code and reason are required."""
    return {
        "code": str(status),
        "reason": HTTPStatus(status).phrase,
        "message": message,
        "status": str(status),
        "@type": "Error",
    }


# --- the composition --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Parts:
    """Everything a bug may replace. Fields are plain callables (or the store)."""

    store: StateStore
    authorize: Callable[[bytes | None, bytes], bool] = authorize
    read_body: Callable[[Receive, int | None, int], Awaitable[bytes]] = read_body
    parse_batch: Callable[[bytes, str], list[Any] | None] = parse_batch
    parse_item: Callable[[bytes], dict[str, Any] | None] = parse_item
    bind_batch: Callable[[Route, list[Any]], str | None] = bind_batch
    validate: Callable[[Route, bytes], Sequence[Violation]] = checks.validate
    reject_items: Callable[[Sequence[Violation], str | None, int], dict[int, Rejection]] = (
        checks.reject_items
    )
    check_known_data: Callable[[str, Any], Rejection | None] = checks.check_known_data
    claim_of: Callable[[Route, Any, bool], Claim] = claim_of
    build_result: Callable[[Any, Rejection | None, int], dict[str, Any]] = build_result
    assemble_batch: Callable[[list[dict[str, Any]], int], dict[str, Any]] = assemble_batch
    single_answer: Callable[[Route, Rejection | None], tuple[int, dict[str, Any]]] = single_answer
    decode_brm_id: Callable[[str], str] = decode_brm_id
    brm_version_supported: Callable[[str], bool] = brm_version_supported
    brm_type: Callable[[str | None], str | None] = brm_type
    lookup_balance: Callable[[str, str], dict[str, Any] | None] = lookup_balance
    brm_href: Callable[[str, str], str] = brm_href
    present_balance: Callable[[dict[str, Any], str, str, Collection[str]], dict[str, Any]] = (
        present_balance
    )
    render: Callable[[Any], tuple[bytes, bytes]] = render
    amlyze_error: Callable[[int, str], dict[str, Any]] = amlyze_error
    tmf_error: Callable[[int, str], dict[str, Any]] = tmf_error
