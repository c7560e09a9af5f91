"""Every catalogued bug, over real HTTP: a probe that observes the concrete deviation
must see it on a server with that bug, and must not see it on the correct server,
under the first and the last vendor revision in which the bug shows (``Bug.revisions``)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from amlyze_contracts import revisions
from amlyze_contracts.server import BUGS, running
from amlyze_contracts.server.bugs import bugs_for, catalogue
from amlyze_contracts.server.fixtures import valid_account, valid_balance

pytestmark = [pytest.mark.network, pytest.mark.timeout(20)]

ACCOUNTS = "/amlyze-ws-rest/batch-accounts"
BRM = "/brm/prepayBalanceManagement/v1/accumulatedBalance/"
KNOWN_ID = "0.0.0.1+-account+102879"
LIMIT = 4096
ACCEPTED_TYPES = {"REQUEST_ACCEPTED", "REQUEST_REJECTED", "OK", "ERROR"}

Probe = Callable[[httpx.Client], bool]  # True: the deviation was observed
PROBES: dict[str, Probe] = {}
# Probes that need to know the revision the server implements.
RevisionProbe = Callable[[httpx.Client, str], bool]
REVISION_PROBES: dict[str, RevisionProbe] = {}


def probe(name: str) -> Callable[[Probe], Probe]:
    def register(fn: Probe) -> Probe:
        PROBES[name] = fn
        return fn

    return register


def revision_probe(name: str) -> Callable[[RevisionProbe], RevisionProbe]:
    def register(fn: RevisionProbe) -> RevisionProbe:
        REVISION_PROBES[name] = fn
        return fn

    return register


def new(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def account(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = valid_account(new("cn"), new("acc"), **changes)
    return item


def post(client: httpx.Client, *items: Any) -> httpx.Response:
    return client.post(ACCOUNTS, json={"accounts": list(items)})


def results(client: httpx.Client, *items: Any) -> list[dict[str, Any]]:
    response = post(client, *items)
    assert response.status_code == 200, response.text
    return list(response.json()["results"])


def accepted(client: httpx.Client, item: dict[str, Any]) -> bool:
    (result,) = results(client, item)
    return bool(result["resultType"] == "REQUEST_ACCEPTED")


# --- rule set ---------------------------------------------------------------------


@probe("no-bic-rule")
def _(client: httpx.Client) -> bool:
    return accepted(client, account(isOtherFinInstAccount=True))


@probe("no-closing-date-rule")
def _(client: httpx.Client) -> bool:
    return accepted(client, account(accountStatus="CLOSED"))


@probe("no-classifier-check")
def _(client: httpx.Client) -> bool:
    return accepted(client, account(accountType="PERSONAL"))


@probe("warnings-reject")
def _(client: httpx.Client) -> bool:
    return not accepted(client, account(accountNickname="only a warning"))


@probe("rejection-without-code")
def _(client: httpx.Client) -> bool:
    (result,) = results(client, {k: v for k, v in account().items() if k != "requester"})
    assert result["resultType"] == "REQUEST_REJECTED"
    return "errorCode" not in result


@probe("generic-error-code")
def _(client: httpx.Client) -> bool:
    (result,) = results(client, account(isOtherFinInstAccount=True))
    return bool(result.get("errorCode") == "001")


# --- known data and state ---------------------------------------------------------


@probe("no-customer-check")
def _(client: httpx.Client) -> bool:
    return accepted(client, account(businessEntityExtId="CUST-9999"))


@probe("no-o005")
def _(client: httpx.Client) -> bool:
    number = new("cn")
    assert accepted(client, valid_account(number, new("acc")))
    return accepted(client, valid_account(number, new("acc")))


@probe("no-ownership-check")
def _(client: httpx.Client) -> bool:
    acc = new("acc")
    assert accepted(client, valid_account(new("cn"), acc, businessEntityExtId="CUST-0001"))
    return accepted(client, valid_account(new("cn"), acc, businessEntityExtId="CUST-0002"))


@probe("no-in-batch-o005")
def _(client: httpx.Client) -> bool:
    number = new("cn")
    pair = results(client, valid_account(number, new("acc")), valid_account(number, new("acc")))
    return bool(pair[1]["resultType"] == "REQUEST_ACCEPTED")


@probe("records-rejected")
def _(client: httpx.Client) -> bool:
    number = new("cn")
    assert not accepted(client, valid_account(number, new("acc"), accountStatus="CLOSED"))
    return not accepted(client, valid_account(number, new("acc")))


@probe("crash-at-max-length")
def _(client: httpx.Client) -> bool:
    return post(client, valid_account(new("cn").ljust(255, "x"), new("acc"))).status_code == 500


@probe("crash-on-non-ascii")
def _(client: httpx.Client) -> bool:
    return post(client, valid_account(new("cn"), new("sąskaita"))).status_code == 500


# --- results ----------------------------------------------------------------------


@probe("bad-result-type")
def _(client: httpx.Client) -> bool:
    pair = results(client, account(), account(accountStatus="CLOSED"))
    return any(r["resultType"] not in ACCEPTED_TYPES for r in pair)


@probe("null-correlation")
def _(client: httpx.Client) -> bool:
    item = {k: v for k, v in account().items() if k != "accountExtId"}
    (result,) = results(client, item)
    return "accountExtId" in result and result["accountExtId"] is None


@probe("business-unit-dropped")
def _(client: httpx.Client) -> bool:
    (result,) = results(client, account(businessUnit="BU_1"))
    return "businessUnit" not in result


@probe("results-reversed")
def _(client: httpx.Client) -> bool:
    items = [account(), account(), account()]
    got = [r["communicationNumber"] for r in results(client, *items)]
    return got != [i["communicationNumber"] for i in items]


@probe("drop-last-result")
def _(client: httpx.Client) -> bool:
    response = post(client, account(), account())
    return len(response.json()["results"]) != 2


@probe("total-time-below-items")
def _(client: httpx.Client) -> bool:
    body = post(client, account(), account()).json()
    return bool(body["timeElapsedMs"] < max(r["timeElapsedMs"] for r in body["results"]))


# --- request handling -------------------------------------------------------------


@probe("malformed-json-500")
def _(client: httpx.Client) -> bool:
    return client.post(ACCOUNTS, content=b'{"accounts": [}').status_code == 500


@probe("missing-array-200")
def _(client: httpx.Client) -> bool:
    return client.post(ACCOUNTS, json={"accountz": []}).status_code == 200


@probe("auth-not-enforced")
def _(client: httpx.Client) -> bool:
    response = httpx.post(str(client.base_url).rstrip("/") + ACCOUNTS, json={"accounts": []})
    return response.status_code == 200


@probe("any-token-accepted")
def _(client: httpx.Client) -> bool:
    response = client.get(BRM + KNOWN_ID, headers={"Authorization": "Bearer not-the-token"})
    return response.status_code == 200


@probe("wrong-content-type")
def _(client: httpx.Client) -> bool:
    return not post(client, account()).headers["content-type"].startswith("application/json")


# --- BRM --------------------------------------------------------------------------


@probe("brm-plus-as-space")
def _(client: httpx.Client) -> bool:
    return client.get(BRM + KNOWN_ID).status_code == 404


@probe("brm-fields-ignored")
def _(client: httpx.Client) -> bool:
    return "bucket" in client.get(BRM + KNOWN_ID, params={"fields": "name"}).json()


@probe("brm-type-ignored")
def _(client: httpx.Client) -> bool:
    oracle = client.get(BRM + KNOWN_ID, params={"@type": "AccumulatedBalanceOracle"}).json()
    bogus = client.get(BRM + KNOWN_ID, params={"@type": "Bogus"})
    return oracle["@type"] != "AccumulatedBalanceOracle" and bogus.status_code == 200


@probe("brm-unknown-id-500")
def _(client: httpx.Client) -> bool:
    return client.get(BRM + "0.0.0.1+-account+999999").status_code == 500


@probe("brm-empty-bucket")
def _(client: httpx.Client) -> bool:
    return bool(client.get(BRM + KNOWN_ID).json()["bucket"] == [])


@probe("brm-href-wrong-collection")
def _(client: httpx.Client) -> bool:
    return not client.get(BRM + KNOWN_ID).json()["href"].endswith("/accumulatedBalance/" + KNOWN_ID)


@probe("brm-version-ignored")
def _(client: httpx.Client) -> bool:
    return client.get(BRM.replace("/v1/", "/v2/") + KNOWN_ID).status_code == 200


# --- the account flow's other operations (vendor revisions) -----------------------

ACCOUNT = "/amlyze-ws-rest/account"
VALIDATE = "/amlyze-ws-rest/validate-batch-accounts"
BALANCE = "/amlyze-ws-rest/account-balance"


@revision_probe("validate-batch-saves")
def _(client: httpx.Client, revision: str) -> bool:
    item = account()
    (checked,) = client.post(VALIDATE, json={"accounts": [item]}).json()["results"]
    assert checked["resultType"] == "REQUEST_ACCEPTED"
    return not accepted(client, item)


@revision_probe("validate-batch-misses-duplicates")
def _(client: httpx.Client, revision: str) -> bool:
    number = new("cn")
    pair = client.post(
        VALIDATE, json={"accounts": [valid_account(number, new("acc")) for _ in range(2)]}
    ).json()["results"]
    return bool(pair[1]["resultType"] == "REQUEST_ACCEPTED")


@revision_probe("single-account-skips-rule")
def _(client: httpx.Client, revision: str) -> bool:
    return client.post(ACCOUNT, json=account(isOtherFinInstAccount=True)).status_code == 200


@revision_probe("single-account-error-body")
def _(client: httpx.Client, revision: str) -> bool:
    rejected = client.post(ACCOUNT, json=account(accountStatus="CLOSED"))
    assert rejected.status_code == 400
    return "errorCode" not in rejected.json()


@revision_probe("single-account-no-o005")
def _(client: httpx.Client, revision: str) -> bool:
    number = new("cn")
    assert client.post(ACCOUNT, json=valid_account(number, new("acc"))).status_code == 200
    return client.post(ACCOUNT, json=valid_account(number, new("acc"))).status_code == 200


@revision_probe("single-balance-ignores-revision")
def _(client: httpx.Client, revision: str) -> bool:
    current = valid_balance(new("cn"), new("acc"), revision)
    return client.put(BALANCE, json=current).status_code == 400


# --- the tests --------------------------------------------------------------------


def test_every_bug_has_a_probe() -> None:
    assert sorted(PROBES.keys() | REVISION_PROBES.keys()) == sorted(BUGS)
    assert not PROBES.keys() & REVISION_PROBES.keys()
    assert len(BUGS) >= 20
    assert all(bug.description and "\n" not in bug.description for bug in BUGS.values())


def test_each_bug_names_the_revisions_it_shows_in() -> None:
    every = tuple(revisions.names())
    shown = {name: bug.revisions for name, bug in BUGS.items()}
    assert shown["single-balance-ignores-revision"] == every[1:]  # not in the seeds' revision
    assert all(
        dates == every for name, dates in shown.items() if name != "single-balance-ignores-revision"
    )
    assert BUGS["validate-batch-saves"].operations == ("validateBatchAccounts",)
    assert BUGS["single-account-skips-rule"].operations == ("createAccount",)
    assert "single-balance-ignores-revision" not in bugs_for("2024-11-04")
    assert "single-balance-ignores-revision" in bugs_for("latest")
    assert (
        list(catalogue("2024-11-04"))
        == bugs_for("2024-11-04")
        == sorted(set(BUGS) - {"single-balance-ignores-revision"})
    )


def _cases() -> list[tuple[str, str]]:
    """(bug, revision): each bug under the first and the last revision it shows in."""
    return sorted(
        {
            (name, dates[i])
            for name, bug in BUGS.items()
            if (dates := bug.revisions)
            for i in (0, -1)
        }
    )


def _client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": "Bearer dev-token"}, timeout=10)


@pytest.fixture(scope="module")
def correct() -> Iterator[Callable[[str], httpx.Client]]:
    """``correct(revision)``: a client of the correct server for that revision."""
    with contextlib.ExitStack() as stack:
        clients: dict[str, httpx.Client] = {}

        def get(revision: str) -> httpx.Client:
            if revision not in clients:
                url = stack.enter_context(running(max_body=LIMIT, revision=revision))
                clients[revision] = stack.enter_context(_client(url))
            return clients[revision]

        yield get


def _observed(name: str, client: httpx.Client, revision: str) -> bool:
    if name in REVISION_PROBES:
        return REVISION_PROBES[name](client, revision)
    return PROBES[name](client)


@pytest.mark.parametrize(("name", "revision"), _cases())
def test_bug_shows_its_deviation(
    name: str, revision: str, correct: Callable[[str], httpx.Client]
) -> None:
    assert not _observed(name, correct(revision), revision), (
        f"the correct server shows {name}'s deviation"
    )
    with (
        running(max_body=LIMIT, bugs=[name], revision=revision) as url,
        _client(url) as client,
    ):
        assert _observed(name, client, revision), f"{name}: {BUGS[name].description}"


@pytest.mark.parametrize("name", sorted(REVISION_PROBES))
def test_revision_bugs_show_in_the_production_profile(name: str) -> None:
    revision = BUGS[name].revisions[-1]
    with running(profile="production", revision=revision) as url, _client(url) as client:
        assert not _observed(name, client, revision)
    with (
        running(profile="production", bugs=[name], revision=revision) as url,
        _client(url) as client,
    ):
        assert _observed(name, client, revision), f"{name}: {BUGS[name].description}"


def test_unknown_bug_name_is_refused() -> None:
    with pytest.raises(ValueError, match="no-such-bug"), running(bugs=["no-such-bug"]):
        pass


def test_a_bug_that_shows_nothing_under_the_revision_is_refused() -> None:
    with (
        pytest.raises(ValueError, match="single-balance-ignores-revision change nothing"),
        running(bugs=["single-balance-ignores-revision"], revision="2024-11-04"),
    ):
        pass
