"""State kept in SQLite (--state): persistence across restarts and concurrent
registration without lost or doubled acceptances."""

from __future__ import annotations

import random
import sqlite3
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from amlyze_contracts.server import running
from amlyze_contracts.server.fixtures import valid_account, valid_balance
from amlyze_contracts.server.state import FOREIGN_ACCOUNT, REUSED, Claim, open_store

pytestmark = [pytest.mark.network, pytest.mark.timeout(60)]

ACCOUNTS = "/amlyze-ws-rest/batch-accounts"
BALANCES = "/amlyze-ws-rest/batch-account-balances"
AUTH = {"Authorization": "Bearer dev-token"}


def results(url: str, path: str, key: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    method = "POST" if path == ACCOUNTS else "PUT"
    response = httpx.request(method, url + path, json={key: items}, headers=AUTH, timeout=20)
    assert response.status_code == 200, response.text
    return list(response.json()["results"])


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    with running(state=state) as url:
        first = results(url, ACCOUNTS, "accounts", [valid_account("cn-1", "acc-1")])
        balance = results(url, BALANCES, "accountBalances", [valid_balance("cn-1", "acc-1")])
        assert first[0]["resultType"] == balance[0]["resultType"] == "REQUEST_ACCEPTED"
    with running(state=state) as url:
        reused, foreign, fresh = results(
            url,
            ACCOUNTS,
            "accounts",
            [
                valid_account("cn-1", "acc-9"),
                valid_account("cn-2", "acc-1", businessEntityExtId="CUST-0002"),
                valid_account("cn-3", "acc-1"),
            ],
        )
        assert reused["errorCode"] == "O005"
        assert foreign["errorCode"] == "003"
        assert fresh["resultType"] == "REQUEST_ACCEPTED"
        (balance_again,) = results(url, BALANCES, "accountBalances", [valid_balance("cn-1", "x")])
        assert balance_again["errorCode"] == "O005"
    # A fresh in-memory server knows nothing of it.
    with running() as url:
        assert results(url, ACCOUNTS, "accounts", [valid_account("cn-1", "acc-1")])[0][
            "resultType"
        ] == ("REQUEST_ACCEPTED")


def test_concurrent_registration_accepts_each_number_once(tmp_path: Path) -> None:
    """8 threads send batches with overlapping communicationNumbers to two servers
    sharing one state file: every number is accepted exactly once overall."""
    state = tmp_path / "state.sqlite"
    pool = [f"cn-{n}" for n in range(60)]
    accepted: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(url: str, seed: int) -> None:
        rng = random.Random(seed)
        try:
            with httpx.Client(base_url=url, headers=AUTH, timeout=20) as client:
                for batch in range(6):
                    numbers = rng.sample(pool, 20)
                    items = [
                        valid_account(n, f"acc-{seed}-{batch}-{i}") for i, n in enumerate(numbers)
                    ]
                    response = client.post(ACCOUNTS, json={"accounts": items})
                    assert response.status_code == 200
                    for result in response.json()["results"]:
                        with lock:
                            target = (
                                accepted if result["resultType"] == "REQUEST_ACCEPTED" else rejected
                            )
                            target[result["communicationNumber"]] += 1
                            if target is rejected:
                                assert result["errorCode"] == "O005"
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    with running(state=state) as url_a, running(state=state) as url_b:
        threads = [
            threading.Thread(target=worker, args=(url_a if s % 2 else url_b, s)) for s in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(50)
    assert not errors, errors
    assert sum(accepted.values()) + sum(rejected.values()) == 8 * 6 * 20
    assert set(accepted.values()) == {1}
    assert set(accepted) == set(accepted) | set(rejected)
    with sqlite3.connect(state) as db:
        stored = {row[0] for row in db.execute("SELECT number FROM communication_numbers")}
    assert stored == set(accepted)


def test_concurrent_ownership_claims(tmp_path: Path) -> None:
    """Many customers race for the same accounts: each account gets one owner."""
    state = tmp_path / "state.sqlite"
    owners: dict[str, set[str]] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(url: str, customer: str, tag: int) -> None:
        items = [
            valid_account(f"cn-{tag}-{a}", f"acc-{a}", businessEntityExtId=customer)
            for a in range(30)
        ]
        try:
            for result in results(url, ACCOUNTS, "accounts", items):
                if result["resultType"] == "REQUEST_ACCEPTED":
                    with lock:
                        owners.setdefault(result["accountExtId"], set()).add(customer)
                else:
                    assert result["errorCode"] == "003"
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    with running(state=state) as url:
        customers = ["CUST-0001", "CUST-0002", "CUST-0003"] * 2
        threads = [
            threading.Thread(target=worker, args=(url, c, t)) for t, c in enumerate(customers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert not errors, errors
    assert len(owners) == 30
    assert all(len(customers_) == 1 for customers_ in owners.values())


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_dry_run_decides_like_a_batch_and_records_nothing(tmp_path: Path, kind: str) -> None:
    """``claim(..., record=False)`` (validate-batch-accounts): the same decisions as a
    recording claim, in-batch repeats and ownership included, and nothing kept."""
    store = open_store(tmp_path / "state.sqlite" if kind == "sqlite" else None)
    try:
        assert store.claim("batchAccounts", [Claim("cn-saved", "acc-saved", "CUST-0001")]) == [None]
        claims = [
            Claim("cn-1", "acc-1", "CUST-0001"),
            Claim("cn-1", "acc-2", "CUST-0001"),  # repeats item 0's number
            Claim("cn-2", "acc-1", "CUST-0002"),  # item 0 took acc-1
            Claim("cn-saved", "acc-3", "CUST-0001"),  # recorded before
            Claim("cn-3", "acc-saved", "CUST-0002"),  # owned before
            Claim("cn-4", "acc-4", "CUST-0001", eligible=False),
        ]
        expected = [None, REUSED, FOREIGN_ACCOUNT, REUSED, FOREIGN_ACCOUNT, None]
        assert store.claim("batchAccounts", claims, record=False) == expected
        assert store.claim("batchAccounts", claims, record=False) == expected  # nothing kept
        assert store.claim("batchAccounts", claims) == expected  # now recorded
        assert store.claim("batchAccounts", claims[:1], record=False) == [REUSED]
    finally:
        store.close()
