"""The suite against a conforming BRM server it has never seen: a small
``http.server`` implementation of ``retrieveAccumulatedBalance`` written from
CONTRACT.md alone (none of the reference server's code), answering whatever the
contract leaves open the way a plain gateway would (text 404 outside the resource,
204 for OPTIONS, HEAD without a body)."""

from __future__ import annotations

import copy
import json
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
import yaml

from amlyze_contracts.contract.config import Fixtures, Options
from amlyze_contracts.contract.suite import run
from tests.conftest import REPO
from tests.httpd import serving

pytestmark = [pytest.mark.network, pytest.mark.slow, pytest.mark.timeout(120)]

TOKEN = "independent-token"
PREFIX = "/brm/prepayBalanceManagement/v1/accumulatedBalance/"
TYPES = ("AccumulatedBalance", "AccumulatedBalanceOracle")
ALWAYS = {"id", "href", "@type", "@baseType", "@schemaLocation"}


def _published_example() -> dict[str, Any]:
    spec = yaml.safe_load((REPO / "specs" / "accumulated-balance.openapi.yaml").read_text())
    answer = spec["paths"]["/accumulatedBalance/{id}"]["get"]["responses"]["200"]
    value: dict[str, Any] = answer["content"]["application/json"]["examples"]["published"]["value"]
    return value


EXAMPLE = _published_example()
BALANCES = {
    EXAMPLE["id"]: EXAMPLE,
    "0.0.0.1+-account+555": {**EXAMPLE, "id": "0.0.0.1+-account+555"},
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    honour_type = True  # a test turns this off to see the suite fail

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, reason: str) -> None:
        body = {"code": str(status), "reason": reason, "message": reason, "status": str(status)}
        self._send(status, json.dumps(body).encode())

    def _drain(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)

    def _segment(self) -> str | None:
        path = self.path.split("?", 1)[0]
        if not path.startswith(PREFIX) or "/" in path[len(PREFIX) :] or path == PREFIX:
            return None
        return path[len(PREFIX) :]

    def _authorized(self) -> bool:
        scheme, _, credentials = (self.headers.get("Authorization") or "").partition(" ")
        return scheme.lower() == "bearer" and credentials.strip() == TOKEN

    def do_GET(self) -> None:
        segment = self._segment()
        if segment is None:
            self._send(404, b"Not Found", "text/plain")
            return
        if not self._authorized():
            self._error(401, "Unauthorized")
            return
        query = urllib.parse.parse_qs(
            urllib.parse.urlsplit(self.path).query, keep_blank_values=True
        )
        wanted = query.get("@type", ["AccumulatedBalance"])[-1]
        if self.honour_type and wanted not in TYPES:
            self._error(400, "Bad Request")
            return
        try:
            balance_id = urllib.parse.unquote(segment, errors="strict")
        except UnicodeDecodeError:
            balance_id = ""
        found = BALANCES.get(balance_id)
        if found is None:
            self._error(404, "Not Found")
            return
        body = copy.deepcopy(found)
        host = self.headers.get("Host", "localhost")
        body["href"] = f"http://{host}{PREFIX}{segment}"
        body["@type"] = wanted if self.honour_type else "AccumulatedBalance"
        fields = {f.strip() for v in query.get("fields", []) for f in v.split(",")} - {""}
        if fields:
            body = {k: v for k, v in body.items() if k in fields | ALWAYS}
        self._send(200, json.dumps(body).encode())

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self.send_header("Allow", "GET, HEAD, OPTIONS")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _other(self) -> None:
        self._drain()
        if self._segment() is None:
            self._send(404, b"Not Found", "text/plain")
        elif not self._authorized():
            self._error(401, "Unauthorized")
        else:
            self._error(405, "Method Not Allowed")

    do_POST = do_PUT = do_PATCH = do_DELETE = _other


@pytest.fixture
def server() -> Iterator[str]:
    with serving(Handler) as url:
        yield url


def _run(url: str, seed: int) -> Any:
    options = Options(
        base_url=url,
        brm_base_url=url + "/brm/prepayBalanceManagement/v1",
        token=TOKEN,
        only=("retrieveAccumulatedBalance",),
        max_examples=10,
        time_budget=40,
        seed=seed,
        fixtures=Fixtures(brm_ids=tuple(BALANCES)),  # this server's own known data
    )
    return run(options, progress=None)


@pytest.mark.parametrize("seed", [1, 2])
def test_an_independent_conforming_server_passes(server: str, seed: int) -> None:
    result = _run(server, seed)
    assert result.ok, [f.to_dict() for f in result.failures()]
    assert not result.failures()  # not even a warning: it answers as the contract says


def test_the_suite_still_fails_it_when_it_breaks_a_rule(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Handler, "honour_type", False)
    result = _run(server, 1)
    assert not result.ok
    assert {"brm.bad-type", "brm.type-echo"} <= result.failed_rules("error")
