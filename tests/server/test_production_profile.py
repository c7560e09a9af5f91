"""The reference server's ``production`` profile over real HTTP: a Spring Boot service
(Jackson defaults, Spring Security, Tomcat) behind nginx, wherever the contract
leaves room; the contract's own answers unchanged."""

from __future__ import annotations

import gzip
import itertools
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from amlyze_contracts.server import app, running
from amlyze_contracts.server.fixtures import valid_account, valid_balance
from amlyze_contracts.server.production import offset_date_time

pytestmark = [pytest.mark.network, pytest.mark.timeout(60)]

TOKEN = "dev-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ACCOUNTS = "/amlyze-ws-rest/batch-accounts"
BALANCES = "/amlyze-ws-rest/batch-account-balances"
BRM = "/brm/prepayBalanceManagement/v1/accumulatedBalance/"
KNOWN = "0.0.0.1+-account+102879"
JSON_UTF8 = "application/json;charset=UTF-8"
_count = itertools.count()
_RUN = uuid.uuid4().hex[:6]


def uid(prefix: str) -> str:
    return f"{prefix}-{_RUN}-{next(_count)}"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with running(token=TOKEN, profile="production") as base:
        yield base


@pytest.fixture
def client(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, headers=AUTH, timeout=10.0) as c:
        yield c


def account(**changes: Any) -> dict[str, Any]:
    return valid_account(uid("cn"), uid("acc"), **changes)


def post_raw(client: httpx.Client, raw: bytes, path: str = ACCOUNTS) -> httpx.Response:
    method = "POST" if path == ACCOUNTS else "PUT"
    return client.request(method, path, content=raw, headers={"Content-Type": "application/json"})


def results(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON_UTF8
    return [r["resultType"] for r in response.json()["results"]]


# ------------------------------------------------------------------ Jackson


def test_duplicate_members_last_one_wins(client: httpx.Client) -> None:
    item = orjson.dumps(account(accountStatus="CLOSED"))  # invalid as written first...
    raw = b'{"accounts": [' + item[:-1] + b', "accountStatus": "ACTIVE"}]}'  # ...then fixed
    assert results(post_raw(client, raw)) == ["REQUEST_ACCEPTED"]
    broken = b'{"accounts": [' + orjson.dumps(account())[:-1] + b', "accountStatus": "CLOSED"}]}'
    assert results(post_raw(client, broken)) == ["REQUEST_REJECTED"]


def test_null_for_an_optional_member_is_absent_and_unknown_members_are_ignored(
    client: httpx.Client,
) -> None:
    body = {"accounts": [account(bic=None, accountNickname="x"), account(bic=None)]}
    body["accounts"][1]["isOtherFinInstAccount"] = True  # external without a bic: rule 005
    response = client.post(ACCOUNTS, json=body)
    assert results(response) == ["REQUEST_ACCEPTED", "REQUEST_REJECTED"]
    assert response.json()["results"][1]["errorCode"] == "005"
    # null for a required member is not absent-and-fine: bean validation rejects it.
    assert results(client.post(ACCOUNTS, json={"accounts": [account(requester=None)]})) == [
        "REQUEST_REJECTED"
    ]


@pytest.mark.parametrize(
    "changes",
    [
        {"requester": 123},  # no scalar coercion into a String
        {"isOtherFinInstAccount": "true"},
        {"accountStatus": "active"},  # no such enum constant
        {"openingDate": "2016-12-31T23:59:60Z"},  # OffsetDateTime has no leap second
        {"openingDate": "2023-09-05t08:07:34z"},
        {"openingDate": "2023-09-05T08:07:34.1234567890Z"},
        {"openingDate": "2023-09-05T08:07:34+19:00"},
    ],
)
def test_what_jackson_cannot_bind_fails_the_whole_request(
    client: httpx.Client, changes: dict[str, Any]
) -> None:
    response = client.post(ACCOUNTS, json={"accounts": [account(), account(**changes)]})
    assert response.status_code == 400
    assert response.headers["content-type"] == JSON_UTF8
    assert set(response.json()) == {"timestamp", "status", "error", "path"}


def test_a_decimal_as_a_string_is_not_coerced(client: httpx.Client) -> None:
    item = valid_balance(uid("cn"), uid("acc"), value="12.5")
    response = client.put(BALANCES, json={"accountBalances": [item]})
    assert response.status_code == 400
    fine = valid_balance(uid("cn"), uid("acc"), updateAt="2023-09-05T08:07:34.123456789+14:00")
    assert results(client.put(BALANCES, json={"accountBalances": [fine]})) == ["REQUEST_ACCEPTED"]


def test_offset_date_time() -> None:
    for ok in ("2023-09-05T08:07:34Z", "2023-09-05T08:07Z", "2024-02-29T23:59:59.123456789-18:00"):
        assert offset_date_time(ok), ok
    for bad in ("2023-02-29T00:00:00Z", "2023-09-05 08:07:34Z", "2023-09-05T24:00:00Z"):
        assert not offset_date_time(bad), bad


# ------------------------------------------------------------------ in front of the app


def raw_exchange(url: str, request: str) -> tuple[bytes, dict[str, str], bytes]:
    """One request on its own connection, bytes as they come (status line, headers, body)."""
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=5) as sock:
        sock.sendall(request.encode())
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers = dict(line.decode().lower().split(": ", 1) for line in lines if b": " in line)
    return status, headers, body


def test_brm_read_is_gzipped_and_chunked_with_production_headers(url: str) -> None:
    status, headers, body = raw_exchange(
        url,
        f"GET {BRM}{KNOWN} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Accept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    )
    assert status.startswith(b"HTTP/1.1 200")
    assert headers["transfer-encoding"] == "chunked" and "content-length" not in headers
    assert headers["content-encoding"] == "gzip" and headers["server"] == "nginx"
    assert headers["content-type"] == JSON_UTF8.lower()
    assert {"x-request-id", "x-content-type-options", "cache-control", "date"} <= set(headers)
    payload = b""
    while body:  # de-chunk
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        payload, body = payload + body[:size], body[size + 2 :]
    assert orjson.loads(gzip.decompress(payload))["id"] == KNOWN


@pytest.mark.slow
def test_paths_outside_the_api_get_nginx_pages(url: str, client: httpx.Client) -> None:
    for response, status in (
        (client.get("/no-such-api/x"), 404),
        (client.post("/no-such-api/x", content=b"{}"), 405),
    ):
        assert response.status_code == status
        assert response.headers["content-type"] == "text/html"
        assert b"<center>nginx</center>" in response.content
    status, _, body = raw_exchange(
        url,
        f"POST {ACCOUNTS} HTTP/1.1\r\nHost: x\r\nContent-Length: {11 * 1024 * 1024}\r\n"
        "Content-Type: application/json\r\n\r\n{",
    )
    assert status.startswith(b"HTTP/1.1 413") and b"413 Request Entity Too Large" in body


def test_spring_answers_what_it_has_no_handler_for(client: httpx.Client) -> None:
    v999 = client.get(f"/brm/prepayBalanceManagement/v999/accumulatedBalance/{KNOWN}")
    assert v999.status_code == 404 and set(v999.json()) == {"timestamp", "status", "error", "path"}
    slash = client.get(BRM + "a%2Fb")  # Tomcat: encoded slash
    assert slash.status_code == 400 and "text/html" in slash.headers["content-type"]
    percent = client.get(BRM + "100%25")  # Spring Security's firewall
    assert percent.status_code == 400 and percent.json()["status"] == 400
    wrong = client.get(ACCOUNTS)
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"


def test_options_and_head(url: str, client: httpx.Client) -> None:
    preflight = httpx.options(
        url + ACCOUNTS,
        headers={"Origin": "https://x.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200 and preflight.content == b""
    assert preflight.headers["access-control-allow-origin"] == "https://x.example"
    head = client.head(BRM + KNOWN)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) > 0
    assert client.head(ACCOUNTS).status_code == 405


def test_credentials_are_checked_before_routing(url: str) -> None:
    for method, path in (("GET", ACCOUNTS), ("POST", BRM + KNOWN), ("GET", BRM + KNOWN)):
        response = httpx.request(method, url + path)
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()  # the documented body, not Spring Security's empty one
    assert httpx.get(url + "/classifier/currency").status_code == 200


def test_the_connection_is_closed_after_100_requests(client: httpx.Client) -> None:
    closes = [client.get("/classifier/currency").headers.get("connection") for _ in range(100)]
    assert closes.count("close") == 1


def test_the_profile_is_checked() -> None:
    with pytest.raises(ValueError, match="unknown profile"):
        app(profile="staging")


def test_serve_profile_option() -> None:
    command = [sys.executable, "-m", "amlyze_contracts", "serve", "--port", "0"]
    bad = subprocess.run([*command, "--profile", "staging"], capture_output=True, text=True)
    assert bad.returncode == 2 and "staging" in bad.stderr
    proc = subprocess.Popen(
        [*command, "--profile", "production"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("serving on http://127.0.0.1:") and "(profile production)" in first
        page = httpx.get(first.split()[2] + "/no-such-api", timeout=10)
        assert page.status_code == 404 and b"nginx" in page.content
    finally:
        proc.terminate()
        proc.wait(timeout=20)
