"""HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/): written by the proxy as
exchanges happen, read back from any tool by ``validate --har``.

Writing: the file is a complete HAR document after every entry. Each entry is
written over the document's closing brackets, followed by them again, in one
``write``; so a crash or a ``kill -9`` leaves the entries written so far in a valid
file (a power cut is another matter: the file is not fsynced per entry).

Reading: browsers, mitmproxy and this proxy all write ``log.entries[]`` with
``request`` (``method``, ``url``, ``headers``, ``postData.text``) and ``response``
(``status``, ``headers``, ``content.text`` with an optional ``encoding: base64``);
everything optional may be missing.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

import orjson

from .. import __version__
from ..cli_output import FileResult
from ..violations import Violation
from .exchange import ExchangeValidator

if TYPE_CHECKING:
    from ..catalogue import RuleSet
    from ..revisions import Revision

CREATOR = {"name": "amlyze-contracts proxy", "version": __version__}
_TAIL = b"\n]}}\n"
PRIVATE = "_amlyzeContracts"  # our member of an entry (HAR 1.2: custom names start with _)


class HarError(Exception):
    """The file is not a HAR document this reader understands."""


# ------------------------------------------------------------------ writing


class HarWriter:
    """Appends entries to a HAR file that stays a complete document."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed by close()
        head = orjson.dumps({"version": "1.2", "creator": CREATOR, "pages": []})
        # '{"log":{"version":...,"pages":[],"entries":[' then the entries, then the tail.
        self._file.write(b'{"log":' + head[:-1] + b',"entries":[')
        self._end = self._file.tell()
        self._file.write(_TAIL)
        self._file.flush()
        self.entries = 0

    def add(self, entry: Mapping[str, Any]) -> None:
        data = orjson.dumps(entry)
        self._file.seek(self._end)
        sep = b",\n" if self.entries else b"\n"
        self._file.write(sep + data + _TAIL)
        self._file.flush()  # to the OS: a killed process loses nothing written
        self._end += len(sep) + len(data)
        self.entries += 1

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def headers_list(headers: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    from ..redact import redact_value

    return [{"name": k, "value": redact_value(k, v)} for k, v in headers]


def content(data: bytes | None, mime: str, comment: str | None = None) -> dict[str, Any]:
    """A HAR ``content``/``postData`` payload: text when UTF-8, else base64."""
    out: dict[str, Any] = {"size": len(data) if data is not None else -1, "mimeType": mime}
    if data is not None:
        try:
            out["text"] = data.decode("utf-8")
        except UnicodeDecodeError:
            out["text"] = base64.b64encode(data).decode("ascii")
            out["encoding"] = "base64"
    if comment:
        out["comment"] = comment
    return out


def query_list(url: str) -> list[dict[str, str]]:
    query = urllib.parse.urlsplit(url).query
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    return [{"name": k, "value": v} for k, v in pairs]


# ------------------------------------------------------------------ reading


class HarExchange:
    """One entry as the validator needs it."""

    def __init__(self, index: int, entry: Mapping[str, Any]) -> None:
        self.index = index
        request = _mapping(entry.get("request"), f"entries[{index}].request")
        response = entry.get("response")
        self.method = str(request.get("method") or "GET").upper()
        self.url = str(request.get("url") or "")
        post = request.get("postData")
        self.request_body: bytes | None = _payload(post) if isinstance(post, Mapping) else None
        self.status = 0
        self.response_headers: dict[str, str] = {}
        self.response_body: bytes | None = None
        ours = entry.get(PRIVATE)
        # The proxy's own answers (400 of --enforce, 502, 504) are not the upstream's.
        by_proxy = isinstance(ours, Mapping) and ours.get("answeredBy") == "proxy"
        if isinstance(response, Mapping) and not by_proxy:
            status = response.get("status")
            self.status = status if isinstance(status, int) and not isinstance(status, bool) else 0
            for header in response.get("headers") or []:
                if isinstance(header, Mapping) and "name" in header:
                    self.response_headers[str(header["name"])] = str(header.get("value", ""))
            body = response.get("content")
            if isinstance(body, Mapping):
                self.response_body = _payload(body)
                mime = body.get("mimeType")
                if (
                    isinstance(mime, str)
                    and mime
                    and not _has(self.response_headers, "content-type")
                ):
                    self.response_headers["Content-Type"] = mime


def _has(headers: Mapping[str, str], name: str) -> bool:
    return any(k.lower() == name for k in headers)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise HarError(f"{where} is not an object")
    return value


def _payload(part: Mapping[str, Any]) -> bytes | None:
    text = part.get("text")
    if not isinstance(text, str):
        return None
    if str(part.get("encoding", "")).lower() == "base64":
        try:
            return base64.b64decode(text, validate=False)
        except ValueError:
            return None
    return text.encode("utf-8", "surrogatepass")


def read_har(data: bytes) -> list[HarExchange]:
    try:
        document = orjson.loads(data[3:] if data.startswith(b"\xef\xbb\xbf") else data)
    except orjson.JSONDecodeError as exc:
        raise HarError(f"not JSON: {exc}") from None
    log = _mapping(document, "the document").get("log")
    entries = _mapping(log, "log").get("entries")
    if not isinstance(entries, list):
        raise HarError("log.entries is not a list")
    return [HarExchange(i, _mapping(e, f"entries[{i}]")) for i, e in enumerate(entries)]


def validate_har(
    paths: Sequence[str],
    *,
    rules: RuleSet | None = None,
    classifiers: Any = None,
    revision: Revision | None = None,
) -> Iterator[FileResult]:
    """For ``validate --har``: one result per matched request and response, named
    ``FILE#/log/entries/N/request`` (or ``/response``); violations keep the body's
    pointer, not a line (a line of the embedded text would not be one of the file).
    Routes are those of ``revision`` (None: the bundled specs). An entry whose route
    only another revision has gets one ``input.operation-unknown`` naming it; entries
    of no known operation are skipped."""
    from ..revision_routes import OtherRevisions

    specs = revision.specs() if revision is not None else None
    validator = ExchangeValidator(rules=rules, classifiers=classifiers, specs=specs)
    elsewhere = OtherRevisions(revision)
    for path in paths:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
            exchanges = read_har(data)
        except OSError as exc:
            reason = "no such file" if isinstance(exc, FileNotFoundError) else exc.strerror
            yield FileResult(path, error=f"cannot read: {reason or exc}")
            continue
        except HarError as exc:
            yield FileResult(path, error=f"not a HAR file: {exc}")
            continue
        for ex in exchanges:
            match = validator.matcher.match(ex.method, ex.url)
            where = f"{path}#/log/entries/{ex.index}"
            if match is None:
                moved = elsewhere.violation(ex.method, ex.url, rules)
                if moved is not None:
                    yield FileResult(f"{where}/request", None, "request", [moved])
                continue
            if match.has_request_body:
                found = validator.request(match, ex.request_body)
                found = elsewhere.with_body_hint(
                    match.operation_id, ex.request_body, found, rules, classifiers
                )
                yield FileResult(f"{where}/request", match.operation_id, "request", _plain(found))
            if ex.status and ex.response_body is not None:
                found = validator.response(
                    match, ex.request_body, ex.status, ex.response_headers, ex.response_body
                )
                yield FileResult(f"{where}/response", match.operation_id, "response", _plain(found))


def _plain(violations: list[Violation]) -> list[Violation]:
    return [v.with_position(None, None) if v.line is not None else v for v in violations]
