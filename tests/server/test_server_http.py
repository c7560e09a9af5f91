"""The reference server over real HTTP: operations, fixtures, error bodies, auth,
routing, body limits, slow clients and the state rules (in memory)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from amlyze_contracts.server import fixtures, running
from amlyze_contracts.server.fixtures import valid_account, valid_balance
from tests.conftest import SAMPLES

pytestmark = [pytest.mark.network, pytest.mark.timeout(30)]

ACCOUNTS = "/amlyze-ws-rest/batch-accounts"
BALANCES = "/amlyze-ws-rest/batch-account-balances"
BRM = "/brm/prepayBalanceManagement/v1/accumulatedBalance/"
KNOWN_ID, OTHER_ID = "0.0.0.1+-account+102879", "0.0.0.1+-account+200001"
SPRING_KEYS = {"timestamp", "status", "error", "path"}

Uid = Callable[[str], str]


def post_accounts(client: httpx.Client, *items: Any) -> list[dict[str, Any]]:
    response = client.post(ACCOUNTS, json={"accounts": list(items)})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert len(body["results"]) == len(items)
    assert body["timeElapsedMs"] >= max((r["timeElapsedMs"] for r in body["results"]), default=0)
    return list(body["results"])


def put_balances(client: httpx.Client, *items: Any) -> list[dict[str, Any]]:
    response = client.put(BALANCES, json={"accountBalances": list(items)})
    assert response.status_code == 200, response.text
    return list(response.json()["results"])


def assert_spring_error(response: httpx.Response, status: int, path: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body.keys() >= SPRING_KEYS
    assert body["status"] == status and body["path"] == path and body["error"]


def assert_tmf_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == str(status) and body["reason"] and body["status"] == str(status)


# --- classifiers ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(fixtures.CLASSIFIERS))
def test_classifiers_are_served_without_auth(base_url: str, name: str) -> None:
    response = httpx.get(f"{base_url}/classifier/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == [dict(e) for e in fixtures.CLASSIFIERS[name]]


def test_classifier_contents_match_the_contract(base_url: str) -> None:
    codes = {
        n: {e["code"] for e in httpx.get(f"{base_url}/classifier/{n}").json()}
        for n in fixtures.CLASSIFIERS
    }
    assert {"EUR", "USD", "GBP", "CHF", "PLN", "SEK"} <= codes["currency"]
    assert codes["accountType"] == {"IND_B2B", "ORG_B2B"}
    assert codes["businessUnit"] == {"sandbox", "BU_1"}
    assert codes["accountBalanceType"] == {"DAILY_BALANCE", "STATEMENT_BALANCE"}


def test_unknown_classifier_and_wrong_method(base_url: str) -> None:
    assert_spring_error(httpx.get(f"{base_url}/classifier/colour"), 404, "/classifier/colour")
    response = httpx.post(f"{base_url}/classifier/currency")
    assert_spring_error(response, 405, "/classifier/currency")
    assert response.headers["allow"] == "GET"


# --- batchAccounts ----------------------------------------------------------------


def test_valid_accounts_are_accepted_in_order(client: httpx.Client, uid: Uid) -> None:
    items = [valid_account(uid("cn"), uid("acc")) for _ in range(3)]
    items[1].pop("businessUnit")
    results = post_accounts(client, *items)
    for item, result in zip(items, results, strict=True):
        assert result["resultType"] == "REQUEST_ACCEPTED"
        assert result["communicationNumber"] == item["communicationNumber"]
        assert result["accountExtId"] == item["accountExtId"]
        assert "errorCode" not in result and "errorDescription" not in result
        assert isinstance(result["timeElapsedMs"], int) and result["timeElapsedMs"] >= 0
    assert results[0]["businessUnit"] == "sandbox"
    assert "businessUnit" not in results[1]


def test_every_customer_fixture_is_known(client: httpx.Client, uid: Uid) -> None:
    items = [
        valid_account(uid("cn"), uid("acc"), businessEntityExtId=c)
        for c in sorted(fixtures.CUSTOMERS)
    ]
    assert {r["resultType"] for r in post_accounts(client, *items)} == {"REQUEST_ACCEPTED"}


def test_optional_fields_are_accepted(client: httpx.Client, uid: Uid) -> None:
    closed = valid_account(
        uid("cn"), uid("acc"), accountStatus="CLOSED", closingDate="2024-01-01T00:00:00Z",
        action="UPDATE", bic="SANDLT22XXX", isOtherFinInstAccount=True,
        bankTitle="Bank", accountPurpose="SAVINGS", accountType="ORG_B2B",
    )  # fmt: skip
    suspended = valid_account(
        uid("cn"), uid("acc"), accountStatus="SUSPENDED", suspensionReasons="review"
    )
    results = post_accounts(client, closed, suspended)
    assert [r["resultType"] for r in results] == ["REQUEST_ACCEPTED"] * 2, results


def without(item: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != key}


# (mutation of a valid account, expected errorCode): CONTRACT.md section 4.
REJECTIONS: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], str]] = {
    "communicationNumber missing": (lambda i: without(i, "communicationNumber"), "001"),
    "requester missing": (lambda i: without(i, "requester"), "001"),
    "currency unknown": (lambda i: {**i, "currencyCode": "XXX"}, "001"),
    "currency outside classifier": (lambda i: {**i, "currencyCode": "JPY"}, "001"),
    "closed without closingDate": (lambda i: {**i, "accountStatus": "CLOSED"}, "002"),
    "closingDate while active": (lambda i: {**i, "closingDate": "2024-01-01T00:00:00Z"}, "002"),
    "bad accountStatus": (lambda i: {**i, "accountStatus": "OPEN"}, "002"),
    "external without bic": (lambda i: {**i, "isOtherFinInstAccount": True}, "005"),
    "accountType unknown": (lambda i: {**i, "accountType": "PERSONAL"}, "006"),
    "openingDate missing": (lambda i: without(i, "openingDate"), "007"),
    "unknown customer": (lambda i: {**i, "businessEntityExtId": "CUST-9999"}, "404"),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_invalid_items_are_rejected_with_reference_codes(
    client: httpx.Client, uid: Uid, case: str
) -> None:
    mutate, code = REJECTIONS[case]
    good, bad = valid_account(uid("cn"), uid("acc")), mutate(valid_account(uid("cn"), uid("acc")))
    accepted, rejected = post_accounts(client, good, bad)
    assert accepted["resultType"] == "REQUEST_ACCEPTED"
    assert rejected["resultType"] == "REQUEST_REJECTED"
    assert rejected["errorCode"] == code, rejected
    assert rejected["errorDescription"]
    assert rejected.get("communicationNumber") == bad.get("communicationNumber")


def test_unknown_customer_description(client: httpx.Client, uid: Uid) -> None:
    (result,) = post_accounts(
        client, valid_account(uid("cn"), uid("acc"), businessEntityExtId="NOPE")
    )
    assert result["errorDescription"] == "BusinessEntity with given extId does not exist in amlyze"


def test_warnings_never_reject(client: httpx.Client, uid: Uid) -> None:
    item = valid_account(
        uid("cn"), uid("acc"), bic="not-a-bic", accountNumber="LT000000000000000000"
    )
    item["accountNickname"] = "x"  # unknown field: a warning
    (result,) = post_accounts(client, item)
    assert result["resultType"] == "REQUEST_ACCEPTED", result


def test_missing_identifiers_are_omitted_not_null(client: httpx.Client, uid: Uid) -> None:
    item = without(without(valid_account("", ""), "communicationNumber"), "accountExtId")
    results = post_accounts(client, item, 5, "text")
    for result in results:
        assert result["resultType"] == "REQUEST_REJECTED" and result["errorCode"]
        assert "communicationNumber" not in result and "accountExtId" not in result


def test_empty_batch(client: httpx.Client) -> None:
    response = client.post(ACCOUNTS, json={"accounts": []})
    assert response.status_code == 200 and response.json()["results"] == []


def test_non_ascii_and_boundary_lengths(client: httpx.Client, uid: Uid) -> None:
    longest = uid("cn").ljust(255, "x")
    ok = valid_account(longest, uid("sąskaita-ž"), requester="R" * 100, businessUnit="BU_1")
    too_long = valid_account(uid("cn").ljust(256, "x"), uid("acc"))
    accepted, rejected = post_accounts(client, ok, too_long)
    assert accepted["resultType"] == "REQUEST_ACCEPTED", accepted
    assert accepted["accountExtId"] == ok["accountExtId"]
    assert rejected["resultType"] == "REQUEST_REJECTED"
    assert rejected["communicationNumber"] == too_long["communicationNumber"]


def test_published_samples_as_is(client: httpx.Client) -> None:
    """The vendor's own payloads name customers this server does not know (404);
    the balance sample uses the later vendor name `balanceAt` (no `updateAt`)."""
    for sample in sorted(SAMPLES.glob("*.json")):
        item = json.loads(sample.read_text(encoding="utf-8"))
        if "balanceType" in item:
            (result,) = put_balances(client, item)
        else:
            (result,) = post_accounts(client, item)
            assert result["errorCode"] == "404", (sample.name, result)
        assert result["resultType"] == "REQUEST_REJECTED", (sample.name, result)
        assert result["communicationNumber"] == item["communicationNumber"]


# --- registerBatchAccountBalances -------------------------------------------------


def test_balances_accept_any_account(client: httpx.Client, uid: Uid) -> None:
    items = [
        valid_balance(uid("cn"), uid("any-account")),
        valid_balance(
            uid("cn"), uid("acc"), value=-5, balanceType="STATEMENT_BALANCE", equivalentValue=1.5
        ),
        without(valid_balance(uid("cn"), uid("acc")), "businessUnit"),
    ]
    results = put_balances(client, *items)
    assert [r["resultType"] for r in results] == ["REQUEST_ACCEPTED"] * 3, results
    assert results[0]["businessUnit"] == "BU_1" and "businessUnit" not in results[2]


@pytest.mark.parametrize(
    "change",
    [
        {"balanceType": "HOURLY"},
        {"businessUnit": "BU_9"},
        {"value": "12"},
        {"updateAt": "yesterday"},
    ],
    ids=["balanceType", "businessUnit", "value", "updateAt"],
)
def test_balances_reject_invalid_items(
    client: httpx.Client, uid: Uid, change: dict[str, Any]
) -> None:
    (result,) = put_balances(client, valid_balance(uid("cn"), uid("acc"), **change))
    assert result["resultType"] == "REQUEST_REJECTED" and result["errorCode"], result


# --- whole-request errors, auth, routing ------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not json",
        b"[1, 2]",
        b"{}",
        b'{"accounts": 5}',
        b'{"accounts": {}}',
        b'"x"',
        b"\xff\xfe",
    ],
)
def test_malformed_requests_get_400(client: httpx.Client, body: bytes) -> None:
    response = client.post(ACCOUNTS, content=body, headers={"content-type": "application/json"})
    assert_spring_error(response, 400, ACCOUNTS)


def test_malformed_balances_get_400(client: httpx.Client) -> None:
    assert_spring_error(client.put(BALANCES, json={"accounts": []}), 400, BALANCES)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic ZGV2LXRva2Vu"},
        {"Authorization": "Bearer"},
    ],
    ids=["missing", "wrong", "basic", "empty"],
)
def test_auth_required(base_url: str, uid: Uid, headers: dict[str, str]) -> None:
    body = {"accounts": [valid_account(uid("cn"), uid("acc"))]}
    response = httpx.post(base_url + ACCOUNTS, json=body, headers=headers)
    assert_spring_error(response, 401, ACCOUNTS)
    assert "dev-token" not in response.text
    response = httpx.put(base_url + BALANCES, json={"accountBalances": []}, headers=headers)
    assert_spring_error(response, 401, BALANCES)
    assert_tmf_error(httpx.get(base_url + BRM + KNOWN_ID, headers=headers), 401)


def test_bearer_scheme_is_case_insensitive(base_url: str) -> None:
    response = httpx.get(base_url + BRM + KNOWN_ID, headers={"Authorization": "bearer dev-token"})
    assert response.status_code == 200


def test_unknown_paths_get_404(client: httpx.Client) -> None:
    assert_spring_error(client.get("/nowhere"), 404, "/nowhere")
    assert_spring_error(client.post(ACCOUNTS + "/x", json={}), 404, ACCOUNTS + "/x")
    assert_tmf_error(client.get("/brm/prepayBalanceManagement/v1/bucket/1"), 404)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", ACCOUNTS, "POST"),
        ("PUT", ACCOUNTS, "POST"),
        ("POST", BALANCES, "PUT"),
        ("DELETE", BALANCES, "PUT"),
    ],
)
def test_wrong_method_on_batches_gets_405(
    client: httpx.Client, method: str, path: str, allow: str
) -> None:
    response = client.request(method, path)
    assert_spring_error(response, 405, path)
    assert response.headers["allow"] == allow


# --- BRM --------------------------------------------------------------------------


@pytest.mark.parametrize("balance_id", [KNOWN_ID, OTHER_ID])
@pytest.mark.parametrize("type_name", [None, "AccumulatedBalance", "AccumulatedBalanceOracle"])
def test_brm_known_ids(
    client: httpx.Client, base_url: str, balance_id: str, type_name: str | None
) -> None:
    params = {"@type": type_name} if type_name else {}
    response = client.get(BRM + balance_id, params=params)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["id"] == balance_id
    assert body["href"] == f"{base_url}{BRM}{balance_id}"
    assert body["@type"] == (type_name or "AccumulatedBalance")
    assert body["@baseType"] == "AccumulatedBalance"
    assert len(body["bucket"]) >= 1


def test_brm_seed_example(client: httpx.Client) -> None:
    body = client.get(BRM + KNOWN_ID).json()
    assert body["name"] == "James Kurup"
    assert body["totalBalance"]["amount"] == 45.0 and body["totalBalance"]["units"] == "EUR"
    assert [p["name"] for p in body["product"]] == [
        "ServiceTelcoGsmSms",
        "ServiceTelcoGsmTelephony",
    ]
    assert body["bucket"][0]["id"] == "0.0.0.1+-balance_group+106463"


def test_brm_percent_encoded_id(client: httpx.Client, base_url: str) -> None:
    response = client.get(BRM + KNOWN_ID.replace("+", "%2B"))
    assert response.status_code == 200
    assert response.json()["id"] == KNOWN_ID
    assert urlsplit(response.json()["href"]).path.endswith(
        "/accumulatedBalance/" + KNOWN_ID.replace("+", "%2B")
    )


def test_brm_plus_is_not_a_space(client: httpx.Client) -> None:
    assert_tmf_error(client.get(BRM + KNOWN_ID.replace("+", "%20")), 404)


def test_brm_fields(client: httpx.Client) -> None:
    body = client.get(BRM + KNOWN_ID, params={"fields": "bucket,name,nonsense"}).json()
    assert set(body) == {"id", "href", "@type", "@baseType", "@schemaLocation", "bucket", "name"}
    body = client.get(
        BRM + KNOWN_ID, params=[("fields", "totalBalance"), ("@type", "AccumulatedBalanceOracle")]
    ).json()
    assert set(body) == {"id", "href", "@type", "@baseType", "@schemaLocation", "totalBalance"}
    assert body["@type"] == "AccumulatedBalanceOracle"


@pytest.mark.parametrize(
    "bad_id", ["0.0.0.1+-account+999999", "0.0.0.1 -account 102879", "%FF", "x%2Fy"]
)
def test_brm_unknown_id(client: httpx.Client, bad_id: str) -> None:
    assert_tmf_error(client.get(BRM + bad_id), 404)


@pytest.mark.parametrize("type_name", ["Bogus", "", "accumulatedbalance"])
def test_brm_bad_type(client: httpx.Client, type_name: str) -> None:
    assert_tmf_error(client.get(BRM + KNOWN_ID, params={"@type": type_name}), 400)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_brm_method_not_allowed(client: httpx.Client, method: str) -> None:
    response = client.request(method, BRM + KNOWN_ID)
    assert_tmf_error(response, 405)
    assert response.headers["allow"] == "GET"


def test_brm_other_versions_are_404(client: httpx.Client) -> None:
    for version in ("v2", "V1", "v1.0"):
        assert_tmf_error(
            client.get(f"/brm/prepayBalanceManagement/{version}/accumulatedBalance/{KNOWN_ID}"), 404
        )


# --- state rules ------------------------------------------------------------------


def test_reuse_across_requests_is_o005(client: httpx.Client, uid: Uid) -> None:
    number = uid("cn")
    (first,) = post_accounts(client, valid_account(number, uid("acc")))
    (again,) = post_accounts(client, valid_account(number, uid("acc")))
    assert first["resultType"] == "REQUEST_ACCEPTED"
    assert again["resultType"] == "REQUEST_REJECTED" and again["errorCode"] == "O005"
    assert again["errorDescription"] == "CommunicationNumber already used in amlyze"
    # Per operation: the same number is still free for balances, then used there too.
    (balance,) = put_balances(client, valid_balance(number, uid("acc")))
    (balance_again,) = put_balances(client, valid_balance(number, uid("acc")))
    assert balance["resultType"] == "REQUEST_ACCEPTED"
    assert balance_again["errorCode"] == "O005"


def test_reuse_within_a_batch_rejects_the_later_item(client: httpx.Client, uid: Uid) -> None:
    number = uid("cn")
    results = post_accounts(
        client, valid_account(number, uid("acc")), valid_account(number, uid("acc"))
    )
    assert [r["resultType"] for r in results] == ["REQUEST_ACCEPTED", "REQUEST_REJECTED"]
    assert results[1]["errorCode"] == "O005"


def test_rejected_items_are_not_recorded(client: httpx.Client, uid: Uid) -> None:
    number, account = uid("cn"), uid("acc")
    (bad,) = post_accounts(client, without(valid_account(number, account), "requester"))
    (good,) = post_accounts(client, valid_account(number, account, businessEntityExtId="CUST-0002"))
    assert bad["resultType"] == "REQUEST_REJECTED"
    assert good["resultType"] == "REQUEST_ACCEPTED", good


def test_account_owned_by_another_customer_is_003(client: httpx.Client, uid: Uid) -> None:
    account = uid("acc")
    first, same_owner, other_owner = post_accounts(
        client,
        valid_account(uid("cn"), account, businessEntityExtId="CUST-0001"),
        valid_account(uid("cn"), account, businessEntityExtId="CUST-0001", action="UPDATE"),
        valid_account(uid("cn"), account, businessEntityExtId="CUST-0002"),
    )
    assert first["resultType"] == same_owner["resultType"] == "REQUEST_ACCEPTED"
    assert other_owner["errorCode"] == "003", other_owner
    (later,) = post_accounts(
        client, valid_account(uid("cn"), account, businessEntityExtId="CUST-0003")
    )
    assert later["errorCode"] == "003"


# --- robustness -------------------------------------------------------------------


def test_body_over_limit_by_content_length(client: httpx.Client) -> None:
    response = client.post(
        ACCOUNTS, content=b" " * 5000, headers={"content-type": "application/json"}
    )
    assert_spring_error(response, 413, ACCOUNTS)


def test_body_over_limit_while_streaming(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        yield b'{"accounts": ['
        for _ in range(10):
            yield b" " * 1000

    response = client.post(ACCOUNTS, content=chunks(), headers={"content-type": "application/json"})
    assert_spring_error(response, 413, ACCOUNTS)


def test_body_at_limit_is_read(client: httpx.Client) -> None:
    body = b'{"accounts": []}'.ljust(4096)
    assert client.post(ACCOUNTS, content=body).status_code == 200


def _partial_request(base_url: str, declared: int, sent: bytes) -> socket.socket:
    parts = urlsplit(base_url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
    head = (
        f"POST {ACCOUNTS} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer dev-token\r\n"
        f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    )
    sock.sendall(head.encode() + sent)
    return sock


def test_slow_client_does_not_block_others_and_times_out(
    base_url: str, client: httpx.Client
) -> None:
    slow = _partial_request(base_url, 100, b'{"accounts": [')
    try:
        started = time.monotonic()
        assert client.get("/classifier/currency").status_code == 200
        assert client.post(ACCOUNTS, json={"accounts": []}).status_code == 200
        assert time.monotonic() - started < 0.9  # well before the slow body times out
        reply = slow.recv(4096)  # the shared server's body timeout is 1 s
        assert reply.startswith(b"HTTP/1.1 408"), reply
    finally:
        slow.close()


def test_dropped_client_does_not_hurt(base_url: str, client: httpx.Client) -> None:
    for _ in range(3):
        _partial_request(base_url, 1000, b'{"accounts": [').close()
    assert client.post(ACCOUNTS, json={"accounts": []}).status_code == 200


def test_custom_token_and_default_limit() -> None:
    with running(token="another-token") as url:
        ok = httpx.get(url + BRM + KNOWN_ID, headers={"Authorization": "Bearer another-token"})
        assert ok.status_code == 200
        assert (
            httpx.get(
                url + BRM + KNOWN_ID, headers={"Authorization": "Bearer dev-token"}
            ).status_code
            == 401
        )
        big = {"accounts": [fixtures.valid_account(f"big-{i}", f"acc-{i}") for i in range(2000)]}
        response = httpx.post(
            url + ACCOUNTS, json=big, headers={"Authorization": "Bearer another-token"}, timeout=30
        )
        assert response.status_code == 200
        assert len(response.json()["results"]) == 2000


def test_in_process_app_for_library_use(uid: Uid) -> None:
    """``app(...)`` is a plain ASGI app: usable without a socket (httpx's ASGI transport)."""
    import asyncio

    from amlyze_contracts.server import app

    asgi = app(token="t")

    async def exchange() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            auth = {"Authorization": "Bearer t"}
            batch = await c.post(
                ACCOUNTS, json={"accounts": [valid_account(uid("cn"), uid("acc"))]}, headers=auth
            )
            brm = await c.get(BRM + KNOWN_ID, headers=auth)
            return batch, brm

    try:
        batch, brm = asyncio.run(exchange())
    finally:
        asgi.close()
    assert batch.json()["results"][0]["resultType"] == "REQUEST_ACCEPTED"
    assert brm.json()["href"] == f"http://testserver{BRM}{KNOWN_ID}"
