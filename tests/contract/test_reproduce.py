"""Every failure reproduces and is what it says (issue 12, point 5): a failing request
is re-sent on a fresh connection before it is reported (flaky otherwise), a shrunk
example is re-checked by the validator, the seed replays a run, ``-q`` prints only
failures and the summary, JUnit testcases carry their own times."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import strategies as st

from amlyze_contracts.contract import report
from amlyze_contracts.contract.checks import CheckFailure, ItemExpect
from amlyze_contracts.contract.config import Options, brm_base
from amlyze_contracts.contract.runner import Runner, RunResult
from amlyze_contracts.contract.scenarios import base_item, batch_case
from amlyze_contracts.contract.suite import run
from amlyze_contracts.engine.api import validate_request

from .servers import (
    TOKEN,
    Receive,
    Scope,
    Send,
    Wrapped,
    cli,
    passing,
    read_body,
    respond,
    run_pytest,
    serve,
)

pytestmark = [pytest.mark.network, pytest.mark.timeout(120)]


def _options(url: str, **changes: Any) -> Options:
    base = Options(
        base_url=url, brm_base_url=brm_base(url, None), token=TOKEN, max_examples=3,
        time_budget=40, seed=1, schemathesis=False,
    )  # fmt: skip
    return base.with_(**changes)


def _text(result: RunResult, **kw: Any) -> str:
    out = StringIO()
    report.write_text(result, out, **kw)
    return out.getvalue()


# ------------------------------------------------------------------ flaky servers


@pytest.mark.slow
def test_every_other_request_failing_is_flaky_not_a_violation() -> None:
    count = 0

    async def every_other(scope: Scope, body: bytes) -> tuple[int, Any] | None:
        nonlocal count
        count += 1
        return (500, {"error": "flaky"}) if count % 2 == 0 else None

    with serve(Wrapped(every_other)) as url:
        result = run(_options(url), progress=None)
    assert result.ok, [f.to_dict() for f in result.failures()]
    assert not result.failures()
    flaky = {(f.operation, f.rule): f for f in result.flaky()}
    assert ("batchAccounts", "server.no-5xx") in flaky
    record = flaky[("batchAccounts", "server.no-5xx")]
    assert record.resent and "re-sent on a fresh connection" in record.resent
    assert record.preceded_by and record.preceded_by.startswith(("curl ", "printf ", "{ printf "))
    assert result.resent >= len(flaky)
    text = _text(result)
    assert "[FLAKY] server.no-5xx" in text and "preceded on the connection by:" in text
    assert "PASSED" in text and "flaky" in text
    data = report.to_dict(result)
    assert data["passed"] and data["flaky"] and not data["failures"]
    assert any(c["result"] == "flaky" for c in data["checks"])


def test_failing_only_the_first_time_is_flaky_and_resent_on_a_fresh_connection() -> None:
    seen: set[tuple[str, str]] = set()
    log: list[tuple[str, int, int]] = []  # (path, client port, status)

    async def first_time(scope: Scope, body: bytes) -> tuple[int, Any] | None:
        key = (scope["method"], scope["path"])
        port = scope["client"][1]
        if key not in seen and b'"communicationNumber"' in body:
            seen.add(key)
            log.append((scope["path"], port, 500))
            return 500, {"error": "cold start"}
        log.append((scope["path"], port, 0))
        return None

    with serve(Wrapped(first_time)) as url:
        result = run(_options(url, only=("batchAccounts",)), progress=None)
    assert result.ok, [f.to_dict() for f in result.failures()]
    (record,) = [f for f in result.flaky() if f.rule == "server.no-5xx"]
    assert record.status == 500
    failed = next(i for i, (_, _, status) in enumerate(log) if status == 500)
    path, port, _ = log[failed]
    resend_path, resend_port, status = log[failed + 1]
    assert (resend_path, status) == (path, 0)
    assert resend_port != port  # a fresh connection, not the one that failed


def test_a_failure_that_reproduces_is_a_violation() -> None:
    async def always(scope: Scope, body: bytes) -> tuple[int, Any] | None:
        if scope["path"].endswith("/batch-accounts") and scope["method"] == "POST":
            return 500, {"error": "broken"}
        return None

    with serve(Wrapped(always)) as url:
        result = run(_options(url, only=("batchAccounts",)), progress=None)
    assert not result.ok
    assert "server.no-5xx" in result.failed_rules()
    assert not [f for f in result.flaky() if f.rule == "server.no-5xx"]
    assert result.resent >= 1


def test_a_write_is_resent_with_fresh_identifiers() -> None:
    """Re-sending an accepted write as it was would make it a resubmission, rejected
    with O005, and a real "invalid item accepted" would pass as flaky: the identifiers
    the request introduced are replaced by fresh ones of the same length."""
    bodies: list[bytes] = []

    async def record(scope: Scope, body: bytes) -> None:
        if b'"communicationNumber"' in body:
            bodies.append(body)
        return None

    with serve(Wrapped(record, bugs=("no-bic-rule",))) as url:
        result = run(_options(url, only=("batchAccounts",)), progress=None)
    assert "batch.invalid-item-accepted" in result.failed_rules()
    assert not [f for f in result.flaky() if f.rule == "batch.invalid-item-accepted"]
    unique = re.compile(rb"%s-\d{5}-" % result.run_id.encode())
    resent = [
        (a, b)
        for a, b in itertools.pairwise(bodies)
        if unique.sub(b"ID", a) == unique.sub(b"ID", b)
    ]
    assert resent and all(a != b and len(a) == len(b) for a, b in resent)


def test_a_generated_write_is_resent_with_fresh_communication_numbers() -> None:
    """A body the generic phase made (no per-run identifiers): each item's
    communicationNumber is replaced in place, consistently, keeping its length, and
    the validator's verdict on every item is unchanged."""
    runner = Runner(_options("http://127.0.0.1:9"), progress=None)
    o, e = runner.options, runner.endpoints
    item = base_item(o, "batchAccounts", runner.uniques, accountExtId="acc-1")
    items = [
        {**item, "communicationNumber": "generated-by-schemathesis-0"},
        {**item, "communicationNumber": "generated-by-schemathesis-0", "accountStatus": "X"},
        {**item, "communicationNumber": "g1"},
    ]
    raw = json.dumps({"accounts": items}).encode()
    case = batch_case(o, e, "batchAccounts", "schemathesis: positive", [], raw=raw)
    fresh = runner._renamed(case)
    assert fresh.sent.body is not None and fresh.sent.body != raw
    assert len(fresh.sent.body) == len(raw)
    numbers = [i["communicationNumber"] for i in json.loads(fresh.sent.body)["accounts"]]
    assert numbers[0] == numbers[1] != "generated-by-schemathesis-0"
    assert len(numbers[0]) == len("generated-by-schemathesis-0") and numbers[0].endswith("0")
    assert len(numbers[2]) == 2 and numbers[2] != "g1"
    for i, (a, b) in enumerate(zip(items, json.loads(fresh.sent.body)["accounts"], strict=True)):
        assert {k: v for k, v in a.items() if k != "communicationNumber"} == {
            k: v for k, v in b.items() if k != "communicationNumber"
        }, i
    assert fresh.request == json.loads(fresh.sent.body)


# ------------------------------------------------------------------ shrunk examples


def _accept_all(results: str) -> Any:
    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        try:
            items = orjson.loads(body).get("accounts", [])
        except (orjson.JSONDecodeError, AttributeError):
            await respond(send, 400, {"timestamp": "t", "status": 400, "error": "x", "path": "/"})
            return
        out = []
        for item in items:
            result = {
                "resultType": results,
                "communicationNumber": item.get("communicationNumber"),
                "accountExtId": item.get("accountExtId"),
                "timeElapsedMs": 1,
            }
            if results == "REQUEST_REJECTED":
                result |= {"errorCode": "AML-001", "errorDescription": "rejected"}
            out.append(result)
        await respond(send, 200, {"results": out, "timeElapsedMs": 2})

    return asgi


@pytest.fixture
def accepting() -> Iterator[str]:
    with serve(_accept_all("REQUEST_ACCEPTED")) as url:
        yield url


def test_a_shrunk_example_that_lost_its_invalid_part_is_not_reported(accepting: str) -> None:
    """Canned shrink: Hypothesis finds the truly invalid item (requester of 101
    characters), then shrinks towards a smaller example whose item is labelled
    invalid but is valid. That one must not be reported as an invalid item accepted."""
    runner = Runner(_options(accepting, only=("batchAccounts",)), progress=None)
    runner.preflight()
    o, e = runner.options, runner.endpoints
    expect = ItemExpect("schema.maxLength (requester)")

    def send(index: int) -> list[CheckFailure]:
        item = base_item(o, "batchAccounts", runner.uniques)
        if index == 1:
            item["requester"] = "R" * 101
        label = "generated: breaks schema.maxLength (requester)"
        case = batch_case(o, e, "batchAccounts", label, [item], invalid={0: expect})
        return runner.exchange(case)

    runner.explore(st.sampled_from([0, 1]), send, 20)
    stat = runner.result.stats[("batchAccounts", "batch.invalid-item-accepted")]
    assert stat.failures >= 1 and stat.smallest is not None
    body = stat.smallest.curl.split("--data-binary ", 1)[1].strip("'")
    assert '"requester":"' + "R" * 101 in body
    report_ = validate_request("batchAccounts", body, classifiers=dict(o.fixtures.classifiers))
    assert "schema.maxLength" in {v.rule for v in report_.errors}
    assert runner.result.unjudged_items >= 1  # the shrinker did try the mislabelled one


def test_an_item_labelled_valid_must_still_be_valid() -> None:
    with serve(_accept_all("REQUEST_REJECTED")) as url:
        runner = Runner(_options(url, only=("batchAccounts",)), progress=None)
        runner.preflight()
        o, e = runner.options, runner.endpoints
        bad = base_item(o, "batchAccounts", runner.uniques, requester="R" * 101)
        case = batch_case(o, e, "batchAccounts", "labelled valid", [bad], valid=frozenset({0}))
        assert not [f for f in runner.exchange(case) if f.rule == "batch.valid-item-rejected"]
        good = base_item(o, "batchAccounts", runner.uniques)
        case = batch_case(o, e, "batchAccounts", "valid", [good], valid=frozenset({0}))
        assert [f for f in runner.exchange(case) if f.rule == "batch.valid-item-rejected"]


# ------------------------------------------------------------------ seed, -q, JUnit


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return cli("--max-examples", "3", *args)


def _recorded_run(tmp_path: Path, *args: str) -> tuple[list[str], dict[str, Any]]:
    """The requests one CLI run sends to a fresh reference server, and its report."""
    log: list[tuple[str, str, str, bytes]] = []

    async def record(scope: Scope, body: bytes) -> None:
        query = scope["query_string"].decode("latin-1")
        log.append((scope["method"], scope["path"], query, body))
        return None

    path = tmp_path / f"r{len(list(tmp_path.iterdir()))}.json"
    with serve(Wrapped(record)) as url:
        done = _cli("--base-url", url, "--report-json", str(path), *args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    data = json.loads(path.read_text())
    run_id = data["run_id"]
    sequence = [
        f"{m} {p}?{q} {b.decode('utf-8', 'replace')}".replace(run_id, "RUN") for m, p, q, b in log
    ]
    return sequence, {**data, "raw": log}


@pytest.mark.slow
def test_the_seed_is_reported_and_replays_the_same_requests(tmp_path: Path) -> None:
    first, a = _recorded_run(tmp_path)  # no --seed: one is chosen
    assert isinstance(a["seed"], int)
    replay, b = _recorded_run(tmp_path, "--seed", str(a["seed"]))
    other, _ = _recorded_run(tmp_path, "--seed", str(a["seed"] + 1))
    assert b["seed"] == a["seed"] and len(first) > 100
    assert replay == first
    assert other != first  # the seed is what decides the generated requests
    # Per-run identifiers stay unique per run: the replay never collides with the first.
    ids = [
        set(re.findall(rb"%s-\d{5}-" % r["run_id"].encode(), b"".join(x[3] for x in r["raw"])))
        for r in (a, b)
    ]
    assert a["run_id"] != b["run_id"] and ids[0] and ids[1] and not ids[0] & ids[1]


@pytest.mark.slow
def test_quiet_output_json_seed_and_junit_times(tmp_path: Path) -> None:
    jpath, xpath = tmp_path / "r.json", tmp_path / "r.xml"
    with serve(Wrapped(passing, bugs=("no-o005",))) as url:
        done = _cli(
            "--base-url", url, "-q", "--no-schemathesis",
            "--report-json", str(jpath), "--junit-xml", str(xpath),
        )  # fmt: skip
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr
    out = done.stdout
    assert "operation" not in out.splitlines()[0]  # no table
    assert " ok\n" not in out and out.startswith("[ERROR] batch.communication-number-reuse")
    data = json.loads(jpath.read_text())
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("FAILED: ") and f"seed {data['seed']}" in summary
    assert isinstance(data["seed"], int)
    root = ET.parse(xpath).getroot()
    assert {p.get("name"): p.get("value") for p in root.iter("property")}["seed"] == str(
        data["seed"]
    )
    seconds = {(c["operation"], c["rule"]): c["seconds"] for c in data["checks"]}
    times = {
        (c.get("classname"), c.get("name")): float(c.get("time") or -1)
        for c in root.iter("testcase")
    }
    assert times and all(t >= 0 for t in times.values())
    assert len({round(t, 3) for t in times.values()}) > 3  # each testcase its own time
    for key, value in times.items():
        assert value == pytest.approx(seconds[key], abs=0.002)
    assert sum(times.values()) > 0


@pytest.mark.slow
def test_plugin_reports_flaky_as_a_warning_and_the_seed(tmp_path: Path) -> None:
    seen: set[tuple[str, str]] = set()

    async def first_time(scope: Scope, body: bytes) -> tuple[int, Any] | None:
        key = (scope["method"], scope["path"])
        if key not in seen and b'"communicationNumber"' in body:
            seen.add(key)
            return 500, {"error": "cold start"}
        return None

    with serve(Wrapped(first_time)) as url:
        done = run_pytest(
            tmp_path, "--amlyze-base-url", url, "--amlyze-max-examples", "3",
            "--amlyze-seed", "5", "--amlyze-only", "batchAccounts",
        )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    assert "ContractFlaky" in done.stdout and "server.no-5xx" in done.stdout
    assert "seed 5 (replay: --amlyze-seed 5)" in done.stdout
    assert TOKEN not in done.stdout + done.stderr
