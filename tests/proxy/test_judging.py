"""``proxy --rules / --severity / --classifiers / --revision`` over real HTTP: the
exchanges judged as ``validate`` judges files with the same options."""

from __future__ import annotations

import json
import signal
import subprocess
import uuid
from pathlib import Path

import httpx
import orjson
import pytest

from amlyze_contracts.proxy.server import VIOLATIONS_HEADER
from amlyze_contracts.server import running as reference
from amlyze_contracts.server.fixtures import valid_account, valid_balance
from tests.proxy.helpers import ACCOUNTS, AUTH, hostile, proxy_process

pytestmark = [pytest.mark.network, pytest.mark.slow]

BALANCES = "/amlyze-ws-rest/batch-account-balances"


def _accounts(**overrides: str) -> bytes:
    run = uuid.uuid4().hex[:10]
    return orjson.dumps({"accounts": [valid_account(f"j-{run}", f"acc-{run}", **overrides)]})


def _stop(proc: subprocess.Popen[str]) -> tuple[int, list[dict[str, object]]]:
    """SIGTERM; the exit code and the JSON log lines (stderr)."""
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=20)
    return proc.returncode, [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def _request_rules(events: list[dict[str, object]]) -> list[tuple[object, object, object]]:
    return [
        (e["rule"], e["severity"], e["pointer"])
        for e in events
        if e["event"] == "violation" and e["kind"] == "request"
    ]


def _judged(
    upstream: str, target: str, body: bytes, *options: str, method: str = "POST"
) -> tuple[int, int, list[tuple[object, object, object]]]:
    """One exchange through ``proxy OPTIONS``: (violations header, exit code, request
    violations as (rule, severity, pointer))."""
    with proxy_process("--upstream", upstream, "--log-format", "json", *options) as (url, proc):
        response = httpx.request(method, url + target, content=body, headers=AUTH, timeout=20)
        code, events = _stop(proc)
    return int(response.headers[VIOLATIONS_HEADER]), code, _request_rules(events)


def test_rule_file_turns_a_rule_off(tmp_path: Path) -> None:
    closed = _accounts(accountStatus="CLOSED")  # no closingDate: AMLYZE 002
    rules = tmp_path / "bank-rules.yaml"
    rules.write_text(
        "rules:\n"
        "  - id: accounts.closing-date-required\n"
        "    severity: 'off'\n"
        "    applies-to: AmlyzeAccountApi\n"
        "    when:\n"
        "      accountStatus: {equals: CLOSED}\n"
        "    require:\n"
        "      closingDate: {present: true}\n"
        "    message: our sandbox closes accounts without a date\n",
        encoding="utf-8",
    )
    with reference() as upstream:
        count, code, found = _judged(upstream, ACCOUNTS, closed)
        assert (count, code) == (1, 1)
        assert found == [("accounts.closing-date-required", "error", "/accounts/0/closingDate")]
        count, code, found = _judged(upstream, ACCOUNTS, closed, "--rules", str(rules))
    assert (count, code, found) == (0, 0, [])


def test_severity_turns_an_error_into_a_warning_exit_0() -> None:
    body = orjson.loads(_accounts())
    del body["accounts"][0]["currencyCode"]
    with reference() as upstream:
        count, code, found = _judged(
            upstream, ACCOUNTS, orjson.dumps(body), "--severity", "schema.required=warning"
        )
    assert found == [("schema.required", "warning", "/accounts/0/currencyCode")]
    assert (count, code) == (1, 0)


def test_classifier_snapshot(tmp_path: Path) -> None:
    snapshot = tmp_path / "classifiers.json"
    snapshot.write_text(json.dumps({"accountType": ["ORG_B2B"]}), encoding="utf-8")
    body = _accounts(accountType="IND_B2B")  # the server's own type, not the snapshot's
    with reference() as upstream:
        assert _judged(upstream, ACCOUNTS, body)[:2] == (0, 0)  # unchecked without one
        count, code, found = _judged(upstream, ACCOUNTS, body, "--classifiers", str(snapshot))
    assert found == [("common.classifier", "error", "/accounts/0/accountType")]
    assert (count, code) == (1, 1)


def test_revision_routes_and_documents() -> None:
    item = valid_balance(f"b-{uuid.uuid4().hex[:10]}", "acc-1")
    del item["updateAt"]
    item["balanceAt"] = "2024-11-28T10:00:00Z"
    body = orjson.dumps({"accountBalances": [item]})
    with hostile() as upstream:
        sink = upstream.url + "/sink"  # answers {"received": N}: only requests are judged here
        # 2024-11-28: the batch is POST, balanceAt its timestamp (value optional): the
        # body passes; one without balanceAt breaks that revision's document.
        no_time = orjson.dumps({"accountBalances": [{**item, "balanceAt": None}]})
        options = ("--upstream", sink, "--log-format", "json", "--revision", "2024-11-28")
        with proxy_process(*options) as (url, proc):
            for sent in (body, no_time):
                httpx.post(url + BALANCES, content=sent, headers=AUTH)
            _code, events = _stop(proc)
        by_exchange = [
            [
                (e["rule"], e["pointer"])
                for e in events
                if e.get("exchange") == n and e.get("kind") == "request"
            ]
            for n in (1, 2)
        ]
        assert by_exchange[0] == []
        assert by_exchange[1] and {p for _r, p in by_exchange[1]} == {
            "/accountBalances/0/balanceAt"
        }
        assert events[-1]["validated"] == 2 and events[-1]["unmatched"] == 0
        # The bundled specs (2024-11-04): PUT with updateAt; balanceAt is unknown there.
        _count, _code, found = _judged(sink, BALANCES, body, method="PUT")
        assert ("schema.required", "error", "/accountBalances/0/updateAt") in found
        # ... and POST is no operation of theirs: forwarded, and reported as a route of
        # another revision (as `validate --har` reports it).
        with proxy_process("--upstream", sink, "--log-format", "json") as (url, proc):
            response = httpx.post(url + BALANCES, content=body, headers=AUTH)
            foreign = httpx.get(url + "/amlyze-ws-rest/classifier/currency", headers=AUTH)
            code, events = _stop(proc)
    assert response.status_code == 200 and response.json() == {"received": len(body)}
    assert response.headers[VIOLATIONS_HEADER] == "1"
    assert foreign.headers[VIOLATIONS_HEADER] == "0"  # no revision has it: not judged
    [moved] = [e for e in events if e["event"] == "violation"]
    assert (moved["rule"], moved["kind"], moved["exchange"]) == (
        "input.operation-unknown",
        "request",
        1,
    )
    assert "fits vendor revision 2024-11-28" in str(moved["message"])
    assert "use --revision 2024-11-28" in str(moved["message"])
    assert events[-1]["unmatched"] == 2 and events[-1]["errors"] == 1 and code == 1


def test_enforce_refuses_a_route_of_another_revision() -> None:
    from amlyze_contracts.proxy.server import Options, running

    body = orjson.dumps({"accountBalances": [valid_balance("b-1", "acc-1")]})
    with hostile() as upstream, running(Options(upstream=upstream.url, enforce=True)) as (url, s):
        refused = httpx.post(url + BALANCES, content=body, headers=AUTH)
        passed = httpx.put(url + "/sink" + BALANCES, content=body, headers=AUTH)
    assert refused.status_code == 400
    assert [v["rule"] for v in refused.json()["violations"]] == ["input.operation-unknown"]
    assert passed.status_code == 200  # the bundled route: forwarded
    assert [head.split(" ", 2)[:2] for head in upstream.heads] == [["PUT", "/sink" + BALANCES]]
    assert s.enforced == 1
