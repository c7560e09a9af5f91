"""The reference server implements a vendor revision (``running(revision=...)``), over
real HTTP: each revision's routes and methods, the single operations of the account
flow (createAccount, registerAccountBalance) and validate-batch-accounts, which saves
nothing. Every answer is judged by the project's validator under the same revision."""

from __future__ import annotations

import contextlib
import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from amlyze_contracts import revisions
from amlyze_contracts.engine.api import validate_response
from amlyze_contracts.server import running
from amlyze_contracts.server.fixtures import (
    CLASSIFIERS,
    CUSTOMERS,
    valid_account,
    valid_balance,
)
from amlyze_contracts.server.routes import routes
from amlyze_contracts.specs import SpecError
from tests.conftest import REVISIONS

pytestmark = [pytest.mark.network, pytest.mark.timeout(60)]

AUTH = {"Authorization": "Bearer dev-token"}
ACCOUNT = "/amlyze-ws-rest/account"
ACCOUNTS = "/amlyze-ws-rest/batch-accounts"
VALIDATE = "/amlyze-ws-rest/validate-batch-accounts"
BALANCE = "/amlyze-ws-rest/account-balance"
BALANCES = "/amlyze-ws-rest/batch-account-balances"
DATES = tuple(revisions.names())
PROFILES = ("default", "production")
SPRING_KEYS = {"timestamp", "status", "error", "path"}

_ids = itertools.count()
_RUN = uuid.uuid4().hex[:8]


def new(prefix: str) -> str:
    return f"{prefix}-{_RUN}-{next(_ids)}"


@pytest.fixture(scope="module")
def server() -> Iterator[Callable[[str, str], str]]:
    """``server(revision, profile)``: the base URL of one correct server per pair,
    started on first use and shared by the module."""
    with contextlib.ExitStack() as stack:
        urls: dict[tuple[str, str], str] = {}

        def get(revision: str, profile: str = "default") -> str:
            if (revision, profile) not in urls:
                urls[revision, profile] = stack.enter_context(
                    running(revision=revision, profile=profile)
                )
            return urls[revision, profile]

        yield get


def client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers=AUTH, timeout=10.0)


def judged(operation_id: str, revision: str, response: httpx.Response, request: Any) -> Any:
    """The response's body, after the project's validator found it conforming to the
    revision's document (status documented, schema, request/response rules)."""
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    report = validate_response(
        operation_id, response.status_code, body, request=request, revision=revision
    )
    assert report.valid, [v.message for v in report.errors]
    return body


# --- routes -----------------------------------------------------------------------


def test_routes_come_from_the_revision_documents() -> None:
    for date in DATES:
        documented = {
            (op.method.upper(), op.path)
            for op_id, op in revisions.resolve(date).operations().items()
            if op_id != "retrieveAccumulatedBalance"
        }
        served = {(m, path) for path, by_method in routes(date).items() for m in by_method}
        assert served == documented, date
    # The vendor's changes, as a user reads them in README "Vendor revisions".
    balances = {date: set(routes(date)[BALANCES]) for date in DATES}
    assert balances == {
        "2024-11-04": {"PUT"}, "2024-11-05": {"PUT"}, "2024-11-28": {"POST"}, "2024-12-12": {"POST"}
    }  # fmt: skip
    assert routes("latest").keys() == routes("2024-12-12").keys()
    assert routes(None)[BALANCES].keys() == {"PUT"}  # the default: the seeds


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("date", DATES)
def test_each_route_answers_its_method_only(
    server: Callable[[str, str], str], date: str, profile: str
) -> None:
    with client(server(date, profile)) as c:
        for path, by_method in routes(date).items():
            (method,) = by_method
            answered = c.request(method, path, content=b"not json")
            assert answered.status_code == 400, (path, method, answered.text)
            assert answered.json().keys() >= SPRING_KEYS
            other = "PUT" if method == "POST" else "POST"
            refused = c.request(other, path, json={})
            assert refused.status_code == 405, (path, other)
            assert refused.headers["allow"] == method
            assert refused.json().keys() >= SPRING_KEYS


@pytest.mark.parametrize("date", DATES)
def test_single_operations_require_credentials(
    server: Callable[[str, str], str], date: str
) -> None:
    url = server(date, "default")
    for path, method in ((ACCOUNT, "POST"), (BALANCE, "PUT"), (VALIDATE, "POST")):
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            answer = httpx.request(method, url + path, json={}, headers=headers, timeout=10)
            assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"


# --- createAccount ----------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("date", DATES)
def test_create_account_accepts_a_valid_account(
    server: Callable[[str, str], str], date: str, profile: str
) -> None:
    item = valid_account(new("cn"), new("acc"))
    with client(server(date, profile)) as c:
        answer = c.post(ACCOUNT, json=item)
    assert answer.status_code == 200, answer.text
    assert judged("createAccount", date, answer, item) == {"resultType": "OK"}


# (mutation of a valid account, expected errorCode): the batch's codes (CONTRACT.md 4).
REJECTIONS: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], str]] = {
    "requester missing": (lambda i: {k: v for k, v in i.items() if k != "requester"}, "001"),
    "closed without closingDate": (lambda i: {**i, "accountStatus": "CLOSED"}, "002"),
    "external without bic": (lambda i: {**i, "isOtherFinInstAccount": True}, "005"),
    "accountType unknown": (lambda i: {**i, "accountType": "PERSONAL"}, "006"),
    "openingDate missing": (lambda i: {k: v for k, v in i.items() if k != "openingDate"}, "007"),
    "unknown customer": (lambda i: {**i, "businessEntityExtId": "CUST-9999"}, "404"),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
@pytest.mark.parametrize("date", [DATES[0], DATES[-1]])
def test_create_account_rejects_like_the_batch(
    server: Callable[[str, str], str], date: str, case: str
) -> None:
    mutate, code = REJECTIONS[case]
    item = mutate(valid_account(new("cn"), new("acc")))
    with client(server(date, "default")) as c:
        single = c.post(ACCOUNT, json=item)
        (in_batch,) = c.post(ACCOUNTS, json={"accounts": [{**item, "communicationNumber": new("cn")}]}).json()["results"]  # fmt: skip
    assert single.status_code == 400, single.text
    body = judged("createAccount", date, single, item)
    assert body.keys() == {"resultType", "errorCode", "errorDescription"}
    assert body["resultType"] == "REQUEST_REJECTED" and body["errorDescription"]
    assert body["errorCode"] == code == in_batch["errorCode"]


def test_create_account_malformed_bodies_get_the_spring_body(
    server: Callable[[str, str], str],
) -> None:
    date = DATES[-1]
    with client(server(date, "default")) as c:
        for raw in (b"{", b"[]", b'"text"', b"null"):
            answer = c.post(ACCOUNT, content=raw)
            assert answer.status_code == 400
            body = judged("createAccount", date, answer, None)
            assert body.keys() == SPRING_KEYS and body["path"] == ACCOUNT


def test_create_account_claims_its_number_like_a_batch_item(
    server: Callable[[str, str], str],
) -> None:
    """One account flow: a number used by createAccount is used for batch-accounts too,
    and the other way round; the account's owner is registered as well."""
    date = DATES[-1]
    number, other, account = new("cn"), new("cn"), new("acc")
    with client(server(date, "default")) as c:
        assert c.post(ACCOUNT, json=valid_account(number, account)).status_code == 200
        again = c.post(ACCOUNT, json=valid_account(number, new("acc")))
        assert again.status_code == 400
        assert judged("createAccount", date, again, None)["errorCode"] == "O005"
        (batch,) = c.post(ACCOUNTS, json={"accounts": [valid_account(number, new("acc"))]}).json()[
            "results"
        ]
        assert batch["errorCode"] == "O005"
        foreign = c.post(
            ACCOUNT, json=valid_account(other, account, businessEntityExtId="CUST-0002")
        )
        assert foreign.status_code == 400 and foreign.json()["errorCode"] == "003"
        (used,) = c.post(ACCOUNTS, json={"accounts": [valid_account(other, new("acc"))]}).json()[
            "results"
        ]
        assert used["resultType"] == "REQUEST_ACCEPTED"  # a rejected single claims nothing
        assert c.post(ACCOUNT, json=valid_account(other, new("acc"))).json()["errorCode"] == "O005"


def _vendor_samples(folder: str) -> list[tuple[str, Path]]:
    return [
        (date, sample)
        for date in DATES
        for sample in sorted((REVISIONS / date / folder / "samples").glob("*.json"))
    ]


@pytest.mark.parametrize(
    ("date", "sample"), _vendor_samples("account"), ids=lambda v: getattr(v, "name", v)
)
def test_vendor_account_samples_are_bodies_of_create_account(
    server: Callable[[str, str], str], date: str, sample: Path
) -> None:
    """The vendor's single-account samples, with a customer the server knows and a fresh
    communicationNumber, are accepted under their own revision."""
    item = json.loads(sample.read_text(encoding="utf-8"))
    item.update(businessEntityExtId=sorted(CUSTOMERS)[0], communicationNumber=new("cn"))
    with client(server(date, "default")) as c:
        answer = c.post(ACCOUNT, json=item)
    assert answer.status_code == 200, answer.text
    assert judged("createAccount", date, answer, item) == {"resultType": "OK"}


# --- registerAccountBalance -------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("date", DATES)
def test_single_balance_follows_the_revision(
    server: Callable[[str, str], str], date: str, profile: str
) -> None:
    good = valid_balance(new("cn"), new("acc"), date)
    stamp = "balanceAt" if "balanceAt" in good else "updateAt"
    assert stamp == ("updateAt" if date == "2024-11-04" else "balanceAt")
    other = "updateAt" if stamp == "balanceAt" else "balanceAt"
    renamed = {**{k: v for k, v in good.items() if k != stamp}, other: good[stamp]}
    renamed["communicationNumber"] = new("cn")
    with client(server(date, profile)) as c:
        accepted = c.put(BALANCE, json=good)
        rejected = c.put(BALANCE, json=renamed)
        reused = c.put(BALANCE, json=good)
    assert accepted.status_code == 200, accepted.text
    assert judged("registerAccountBalance", date, accepted, good) == {
        "resultType": "REQUEST_ACCEPTED"
    }
    assert rejected.status_code == 400, rejected.text
    body = judged("registerAccountBalance", date, rejected, renamed)
    assert body["errorCode"] == "001" and stamp in body["errorDescription"]
    assert reused.status_code == 400 and reused.json()["errorCode"] == "O005"


def test_value_is_optional_from_2024_11_28(server: Callable[[str, str], str]) -> None:
    for date in DATES:
        item = valid_balance(new("cn"), new("acc"), date)
        del item["value"]
        with client(server(date, "default")) as c:
            answer = c.put(BALANCE, json=item)
        expected = 200 if date >= "2024-11-28" else 400
        assert answer.status_code == expected, (date, answer.text)
        judged("registerAccountBalance", date, answer, item)


def test_single_balance_rejects_outside_the_classifiers(
    server: Callable[[str, str], str],
) -> None:
    date = DATES[-1]
    known = {e["code"] for e in CLASSIFIERS["accountBalanceType"]}
    item = valid_balance(new("cn"), new("acc"), date, balanceType="MONTHLY_BALANCE")
    assert item["balanceType"] not in known
    with client(server(date, "default")) as c:
        answer = c.put(BALANCE, json=item)
    assert answer.status_code == 400
    assert judged("registerAccountBalance", date, answer, item)["errorCode"]


@pytest.mark.parametrize(
    ("date", "sample"), _vendor_samples("accountBalance"), ids=lambda v: getattr(v, "name", v)
)
def test_vendor_balance_samples_are_bodies_of_the_single_balance(
    server: Callable[[str, str], str], date: str, sample: Path
) -> None:
    item = {**json.loads(sample.read_text(encoding="utf-8")), "communicationNumber": new("cn")}
    with client(server(date, "default")) as c:
        answer = c.put(BALANCE, json=item)
    assert answer.status_code == 200, answer.text
    judged("registerAccountBalance", date, answer, item)


def test_batch_balances_follow_the_revision(server: Callable[[str, str], str]) -> None:
    for date in DATES:
        (method,) = routes(date)[BALANCES]
        items = [valid_balance(new("cn"), new("acc"), date) for _ in range(2)]
        with client(server(date, "default")) as c:
            answer = c.request(method, BALANCES, json={"accountBalances": items})
        body = judged("registerBatchAccountBalances", date, answer, {"accountBalances": items})
        assert [r["resultType"] for r in body["results"]] == ["REQUEST_ACCEPTED"] * 2, date


# --- validateBatchAccounts --------------------------------------------------------


def decisions(results: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(r["resultType"], r.get("errorCode")) for r in results]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("date", [DATES[0], DATES[-1]])
def test_validate_batch_saves_nothing(
    server: Callable[[str, str], str], date: str, profile: str
) -> None:
    number, twice, account = new("cn"), new("cn"), new("acc")
    items = [
        valid_account(number, account),
        valid_account(twice, new("acc")),
        valid_account(twice, new("acc")),  # the batch rejects a second use: so does validation
        valid_account(new("cn"), account, businessEntityExtId="CUST-0002"),  # owner: item 0
        valid_account(new("cn"), new("acc"), isOtherFinInstAccount=True),
    ]
    request = {"accounts": items}
    with client(server(date, profile)) as c:
        first = judged("validateBatchAccounts", date, c.post(VALIDATE, json=request), request)
        second = judged("validateBatchAccounts", date, c.post(VALIDATE, json=request), request)
        saved = c.post(ACCOUNTS, json=request).json()["results"]
        after = c.post(VALIDATE, json={"accounts": items[:2]}).json()["results"]
    expected = [
        ("REQUEST_ACCEPTED", None),
        ("REQUEST_ACCEPTED", None),
        ("REQUEST_REJECTED", "O005"),
        ("REQUEST_REJECTED", "003"),
        ("REQUEST_REJECTED", "005"),
    ]
    # Validating twice decides the same; nothing was saved: the batch, sent afterwards,
    # decides exactly the same ...
    assert decisions(first["results"]) == decisions(second["results"]) == expected
    assert decisions(saved) == expected
    # ... and what the batch saved is now used for validation as well.
    assert [r.get("errorCode") for r in after] == ["O005", "O005"]


# --- usage --------------------------------------------------------------------------


def test_latest_is_the_newest_revision(server: Callable[[str, str], str]) -> None:
    with running(revision="latest") as url, client(url) as c:
        assert c.put(BALANCES, json={"accountBalances": []}).status_code == 405
        assert c.post(BALANCES, json={"accountBalances": []}).status_code == 200


def test_unknown_revision_is_refused() -> None:
    with (
        pytest.raises(SpecError, match="unknown revision '2023-01-01'"),
        running(revision="2023-01-01"),
    ):
        pass
