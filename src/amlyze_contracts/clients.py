"""The contract checked on the exchanges a client makes, inside the client's own tests:
httpx event hooks, a requests transport adapter, or a requests response hook.

    client = httpx.Client(event_hooks=httpx_hooks(BASE_URL))
    session.mount(BASE_URL, requests_adapter(BASE_URL))

Each request to a bundled operation (its method, and its path under ``base_url`` or
the BRM base URL) is validated (``validate_request``), and its response with the
request/response rules (``validate_response(..., request=...)``); other requests are
left alone. Modes: ``raise`` (:class:`ContractViolation` when a side breaks an error
rule, before the request is sent where the library allows; warnings are logged),
``warn`` (one :class:`ContractWarning` per side with violations), ``log`` (logger
``amlyze_contracts.clients``: ERROR for an error, WARNING for a warning). Bodies not
validated (a streamed request, a body over ``max_validate_bytes``) are logged as
WARNING. Credentials never reach a message: a request's own token is scrubbed
wherever a server echoed it.

httpx and requests are imported only when a hook is made (the ``clients`` extra).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import urllib.parse
import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from . import watch
from .extras import require
from .redact import credentials
from .violations import Report, Violation

if TYPE_CHECKING:
    import httpx
    import requests
    import requests.adapters

    from .catalogue import RuleSet
    from .proxy.exchange import Classifiers, Match

LOGGER_NAME = "amlyze_contracts.clients"
log = logging.getLogger(LOGGER_NAME)
MODES = ("raise", "warn", "log")


class ContractWarning(UserWarning):
    """An exchange broke a rule of the contract (``mode="warn"``)."""


class ContractViolation(Exception):
    """An exchange broke an error rule of the contract (``mode="raise"``).

    ``reports``: the Report of each side with violations (``kind`` ``request`` or
    ``response``), warnings included; ``response``: the library's response object
    when the response was received (None: the request was stopped before it was sent).
    """

    def __init__(self, method: str, url: str, reports: list[Report], response: Any = None) -> None:
        self.method = method
        self.url = url
        self.reports = reports
        self.response = response
        errors = sum(len(r.errors) for r in reports)
        sides = " and ".join(r.kind for r in reports)
        lines = [f"  {watch.line(r.kind, v)}" for r in reports for v in r.violations]
        noun = "error" if errors == 1 else "errors"
        super().__init__(
            f"{method} {url}: {errors} contract {noun} in the {sides} "
            f"of {reports[0].operation_id}\n" + "\n".join(lines)
        )

    @property
    def violations(self) -> list[Violation]:
        return [v for r in self.reports for v in r.violations]


def _origin(url: str) -> tuple[str, str, str]:
    """Scheme, host[:port] (default port dropped) and path without its final slash."""
    split = urllib.parse.urlsplit(url)
    port = split.port
    default = {"http": 80, "https": 443}.get(split.scheme.lower())
    host = (split.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, default) else f"{host}:{port}"
    return split.scheme.lower(), netloc, split.path.rstrip("/")


def _shown(url: str) -> str:
    """The URL in messages: no user info, no query (it may carry identifiers)."""
    scheme, netloc, _ = _origin(url)
    return f"{scheme}://{netloc}{urllib.parse.urlsplit(url).path}"


class HookOptions(TypedDict, total=False):
    """The keyword options of every hook (all optional)."""

    revision: str | None  # a vendor revision, as for validate_request
    brm_base_url: str | None  # default base_url + /brm/prepayBalanceManagement/v1
    rules: watch.Rules | RuleSet
    severities: Mapping[str, str] | None
    classifiers: Classifiers
    max_validate_bytes: int | None  # default: the proxy's, 8 MiB


class _Watch:
    """The one checker behind every hook: which exchanges, the validator, the mode."""

    def __init__(
        self,
        base_url: str,
        mode: str,
        options: HookOptions,
    ) -> None:
        from .contract.config import brm_base

        watch.check_mode(mode, MODES)
        self.mode = mode
        brm = brm_base(base_url, options.get("brm_base_url"))
        self.bases = {_origin(base_url), _origin(brm)}
        self.validator = watch.exchange_validator(
            options.get("revision"),
            options.get("rules"),
            options.get("severities"),
            options.get("classifiers"),
        )
        self.cap = watch.max_bytes(options.get("max_validate_bytes"))

    def match(self, method: str, url: str) -> Match | None:
        scheme, netloc, path = _origin(url)
        for base_scheme, base_netloc, base_path in self.bases:
            if (scheme, netloc) == (base_scheme, base_netloc) and (
                path == base_path or path.startswith(base_path + "/")
            ):
                return self.validator.matcher.match(method, url)
        return None

    def too_large(self, method: str, url: str, kind: str, size: int | None) -> bool:
        if size is None or size <= self.cap:
            return False
        self.note(method, url, f"{kind} body of {size} bytes over max_validate_bytes ({self.cap})")
        return True

    @staticmethod
    def note(method: str, url: str, why: str) -> None:
        log.warning("%s %s not validated: %s", method, _shown(url), why)

    def request(self, match: Match, method: str, url: str, body: bytes | None) -> Report | None:
        """The request's report (None: its body could not be read, or is too large)."""
        if not match.has_request_body:
            return Report(match.operation_id, [], "request")
        if body is None:
            self.note(method, url, "request body is a stream")
            return None
        if self.too_large(method, url, "request", len(body)):
            return None
        return Report(match.operation_id, self.validator.request(match, body), "request")

    def response(
        self,
        match: Match,
        request_body: bytes | None,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
    ) -> Report:
        if match.has_request_body and (request_body is None or len(request_body) > self.cap):
            request_body = None  # not read: the response is judged without the request rules
        violations = self.validator.response(match, request_body, status, headers, body)
        return Report(match.operation_id, violations, "response")

    def tell(
        self,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]],
        reports: Iterable[Report | None],
        response: Any = None,
    ) -> None:
        """Raise, warn or log what ``reports`` found, as the mode says."""
        found = [r for r in reports if r is not None and r.violations]
        if not found:
            return
        secrets = credentials(headers)
        found = [watch.scrubbed(r, secrets) for r in found]
        shown = _shown(url)
        if self.mode == "raise" and any(not r.valid for r in found):
            raise ContractViolation(method, shown, found, response)
        for r in found:
            prefix = f"{method} {shown} {r.operation_id}"
            if self.mode == "warn":
                lines = "".join(f"\n  {watch.line(r.kind, v)}" for v in r.violations)
                warnings.warn(ContractWarning(prefix + lines), stacklevel=2)
                continue
            for v in r.violations:
                level = logging.ERROR if v.severity == "error" else logging.WARNING
                log.log(level, "%s %s", prefix, watch.line(r.kind, v))


# ------------------------------------------------------------------ httpx


def _httpx_body(request: httpx.Request) -> bytes | None:
    import httpx

    try:
        return request.content
    except httpx.RequestNotRead:  # a streamed body: reading it here would consume it
        return None


def _length(headers: Mapping[str, str]) -> int | None:
    value = headers.get("content-length", "")
    return int(value) if value.isdigit() else None


HttpxHooks = dict[str, list[Callable[..., Any]]]


def httpx_hooks(
    base_url: str,
    mode: str = "raise",
    **options: Unpack[HookOptions],
) -> HttpxHooks:
    """``event_hooks`` for an ``httpx.Client``: the request is validated before it is
    sent, the response (read in the hook) with the request/response rules.

    ``brm_base_url``: where the BRM API is (default ``base_url`` +
    ``/brm/prepayBalanceManagement/v1``, as ``test --brm-base-url``); ``revision``,
    ``rules``, ``severities``, ``classifiers`` as for ``validate_request``;
    ``max_validate_bytes`` (default 8 MiB): larger bodies are not validated (a
    response announcing more is not read by the hook).
    """
    require("clients", "amlyze_contracts.clients.httpx_hooks", ("httpx",))
    w = _Watch(base_url, mode, options)

    def on_request(request: httpx.Request) -> None:
        match = w.match(request.method, str(request.url))
        if match is not None:
            report = w.request(match, request.method, str(request.url), _httpx_body(request))
            w.tell(request.method, str(request.url), request.headers.multi_items(), [report])

    def on_response(response: httpx.Response) -> None:
        request, url = response.request, str(response.request.url)
        match = w.match(request.method, url)
        if match is None or w.too_large(request.method, url, "response", _length(response.headers)):
            return
        response.read()
        _judge_httpx(w, match, response)

    return {"request": [on_request], "response": [on_response]}


def _judge_httpx(w: _Watch, match: Match, response: httpx.Response) -> None:
    request, url = response.request, str(response.request.url)
    if w.too_large(request.method, url, "response", len(response.content)):
        return
    report = w.response(
        match, _httpx_body(request), response.status_code, response.headers, response.content
    )
    w.tell(request.method, url, request.headers.multi_items(), [report], response)


def httpx_async_hooks(
    base_url: str,
    mode: str = "raise",
    **options: Unpack[HookOptions],
) -> dict[str, list[Callable[..., Awaitable[None]]]]:
    """:func:`httpx_hooks` for an ``httpx.AsyncClient`` (the same options). Bodies
    over 256 KiB are validated in a worker thread, so the event loop keeps serving."""
    require("clients", "amlyze_contracts.clients.httpx_async_hooks", ("httpx",))
    from .proxy.server import INLINE_VALIDATE

    w = _Watch(base_url, mode, options)

    async def on_request(request: httpx.Request) -> None:
        match = w.match(request.method, str(request.url))
        if match is None:
            return
        body = _httpx_body(request)
        args = (match, request.method, str(request.url), body)
        big = body is not None and len(body) > INLINE_VALIDATE
        report = await asyncio.to_thread(w.request, *args) if big else w.request(*args)
        w.tell(request.method, str(request.url), request.headers.multi_items(), [report])

    async def on_response(response: httpx.Response) -> None:
        request, url = response.request, str(response.request.url)
        match = w.match(request.method, url)
        if match is None or w.too_large(request.method, url, "response", _length(response.headers)):
            return
        await response.aread()
        if len(response.content) > INLINE_VALIDATE:
            await asyncio.to_thread(_judge_httpx, w, match, response)
        else:
            _judge_httpx(w, match, response)

    return {"request": [on_request], "response": [on_response]}


# ------------------------------------------------------------------ requests


def _requests_body(request: requests.PreparedRequest) -> bytes | None:
    body = request.body
    if isinstance(body, str):
        return body.encode("utf-8")
    return body if isinstance(body, bytes) else None  # a file or generator: not read


def _requests_headers(request: requests.PreparedRequest) -> list[tuple[str, str]]:
    return [
        (k, v.decode("latin-1") if isinstance(v, bytes) else v) for k, v in request.headers.items()
    ]


def _requests_response(
    w: _Watch, match: Match, response: requests.Response, request_report: Report | None
) -> None:
    request = response.request
    method, url = request.method or "GET", request.url or ""
    reports = [request_report]
    if not w.too_large(method, url, "response", _length(response.headers)):
        body = response.content  # read once; the caller's response keeps it
        if not w.too_large(method, url, "response", len(body)):
            reports.append(
                w.response(match, _requests_body(request), response.status_code,
                           response.headers, body)
            )  # fmt: skip
    w.tell(method, url, _requests_headers(request), reports, response)


def requests_adapter(
    base_url: str,
    mode: str = "raise",
    *,
    adapter_options: Mapping[str, Any] | None = None,
    **options: Unpack[HookOptions],
) -> requests.adapters.HTTPAdapter:
    """A transport adapter for ``session.mount(base_url, ...)``: the request is
    validated before it is sent, then the response (read by the adapter, also under
    ``stream=True``). Options as for :func:`httpx_hooks`; ``adapter_options`` go to
    ``requests.adapters.HTTPAdapter`` (``{"max_retries": 3}``, ...). Mount it
    on the BRM base URL too when that is not under ``base_url``.
    """
    require("clients", "amlyze_contracts.clients.requests_adapter", ("requests",))
    w = _Watch(base_url, mode, options)
    return _adapter_class()(w, **(adapter_options or {}))


@functools.cache
def _adapter_class() -> Callable[..., requests.adapters.HTTPAdapter]:
    from requests.adapters import HTTPAdapter

    class ContractAdapter(HTTPAdapter):
        """Validates the exchanges of the bundled operations it carries."""

        def __init__(self, w: _Watch, **options: Any) -> None:
            super().__init__(**options)
            self.watch = w

        def send(
            self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
        ) -> requests.Response:
            method, url = request.method or "GET", request.url or ""
            match = self.watch.match(method, url)
            if match is None:
                return super().send(request, *args, **kwargs)
            report = self.watch.request(match, method, url, _requests_body(request))
            self.watch.tell(method, url, _requests_headers(request), [report])
            response = super().send(request, *args, **kwargs)
            # The request's warnings are told already: only the response's now.
            _requests_response(self.watch, match, response, None)
            return response

    return ContractAdapter


def requests_hooks(
    base_url: str,
    mode: str = "raise",
    **options: Unpack[HookOptions],
) -> dict[str, list[Callable[..., None]]]:
    """``hooks`` for ``requests.get(..., hooks=...)`` or ``session.hooks.update(...)``:
    a response hook, so the request is judged after it was sent (with its response;
    one :class:`ContractViolation` for both sides). :func:`requests_adapter` stops an
    invalid request before it is sent. Options as for :func:`httpx_hooks`.
    """
    require("clients", "amlyze_contracts.clients.requests_hooks", ("requests",))
    w = _Watch(base_url, mode, options)

    def on_response(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        method, url = request.method or "GET", request.url or ""
        match = w.match(method, url)
        if match is not None:
            report = w.request(match, method, url, _requests_body(request))
            _requests_response(w, match, response, report)

    return {"response": [on_response]}


__all__ = [
    "LOGGER_NAME",
    "ContractViolation",
    "ContractWarning",
    "httpx_async_hooks",
    "httpx_hooks",
    "requests_adapter",
    "requests_hooks",
]
