"""The suite tests a vendor revision: against small independent servers, one per
revision (tests/contract/revision_servers.py), explicitly and with ``--revision auto``;
a server of another revision, or one missing an operation, is a misconfigured run."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from amlyze_contracts.contract.config import ConfigError, Fixtures, Misconfigured, Options, brm_base
from amlyze_contracts.contract.runner import Runner, RunResult
from amlyze_contracts.contract.suite import run
from tests.contract.revision_servers import CUSTOMERS, TOKEN, server_for
from tests.contract.servers import cli, run_pytest
from tests.httpd import serving

pytestmark = [pytest.mark.network, pytest.mark.slow, pytest.mark.timeout(180)]

# The AMLYZE operations (these servers have no BRM read).
AMLYZE = (
    "batchAccounts",
    "registerBatchAccountBalances",
    "validateBatchAccounts",
    "createAccount",
    "registerAccountBalance",
)


@contextlib.contextmanager
def _server(revision: str, **changes: Any) -> Iterator[str]:
    with serving(server_for(revision, **changes)) as url:
        yield url


def _options(url: str, revision: str | None, **changes: Any) -> Options:
    base: dict[str, Any] = {
        "base_url": url,
        "brm_base_url": brm_base(url, None),
        "token": TOKEN,
        "only": AMLYZE,
        "max_examples": 6,
        "time_budget": 90,
        "seed": 1,
        "revision": revision,
        "fixtures": Fixtures(customers=CUSTOMERS),  # this server's own known data
        "fail_on": "warning",
    }
    return Options(**{**base, **changes})


def _run(url: str, revision: str | None, **changes: Any) -> RunResult:
    return run(_options(url, revision, **changes), progress=None)


@pytest.mark.parametrize(
    ("served", "asked"),
    [("2024-11-04", "2024-11-04"), ("2024-11-05", "2024-11-05"), ("2024-12-12", "latest")],
)
def test_an_independent_server_of_each_revision_passes(served: str, asked: str) -> None:
    with _server(served) as url:
        result = _run(url, asked)
    assert result.ok, [f.to_dict() for f in result.failures()]
    assert not result.failures()  # not even a warning
    assert result.options.revision == served
    assert set(result.options.operations) == set(AMLYZE)
    exercised = {key for key, stat in result.stats.items() if stat.examples}
    assert {
        ("createAccount", "batch.rejection-has-error"),
        ("registerAccountBalance", "batch.result-type-values"),
        ("validateBatchAccounts", "batch.valid-item-rejected"),
    } <= exercised


@pytest.mark.parametrize(
    ("served", "detected", "evidence"),
    [
        ("2024-11-04", "2024-11-04", "an item with updateAt accepted, with balanceAt rejected"),
        ("2024-11-05", "2024-11-05", "an item with updateAt rejected, with balanceAt accepted"),
        ("2024-11-28", "2024-12-12", "2024-11-28 fits too"),
        ("2024-12-12", "2024-12-12", "answers POST (PUT: 405)"),
    ],
)
def test_auto_detects_the_revision_from_the_answers(
    served: str, detected: str, evidence: str
) -> None:
    with _server(served) as url:
        runner = Runner(_options(url, "auto"), progress=None)
        runner.preflight()
    assert runner.options.revision == detected
    line = runner.result.detected or ""
    assert line.startswith(f"revision auto: detected {detected} (")
    assert evidence in line
    assert "createAccount" in line and "\n" not in line
    # Bounded: the classifiers, one probe per method and path, at most two items, the
    # preflight of each operation.
    assert runner.result.requests <= 4 + 6 + 2 + len(AMLYZE)


def test_a_validate_batch_accounts_that_saves_is_caught() -> None:
    with _server("2024-11-04", validate_saves=True) as url:
        result = _run(
            url,
            "2024-11-04",
            only=("batchAccounts", "validateBatchAccounts", "createAccount"),
            schemathesis=False,
        )
    assert "batch.valid-item-rejected" in result.failed_rules("error")
    record = next(
        f
        for f in result.failures()
        if "only to validate-batch-accounts, which saves nothing" in f.message
    )
    assert record.rule == "batch.valid-item-rejected"
    assert {record.operation} <= {"batchAccounts", "validateBatchAccounts", "createAccount"}


def test_a_missing_operation_under_an_explicit_revision_is_misconfiguration() -> None:
    with _server("2024-11-04", single_operations=False) as url:
        with pytest.raises(Misconfigured) as caught:
            Runner(_options(url, "2024-11-04"), progress=None).preflight()
        # Without a revision: the seeds' operations, which it has.
        Runner(_options(url, None, only=None), progress=None).preflight()
    message = str(caught.value)
    assert message.startswith("revision 2024-11-04: validateBatchAccounts not found: POST ")
    assert "answered 404" in message and "--revision auto" in message


def test_another_revisions_server_is_misconfiguration() -> None:
    with _server("2024-11-28") as url, pytest.raises(Misconfigured) as caught:
        Runner(_options(url, "2024-11-05"), progress=None).preflight()
    assert str(caught.value).startswith(
        "revision 2024-11-05: registerBatchAccountBalances not with this method: PUT "
    )


def test_auto_with_nothing_that_fits_is_misconfiguration() -> None:
    with (
        _server("2024-11-04", single_operations=False) as url,
        pytest.raises(Misconfigured) as caught,
    ):
        Runner(_options(url, "auto"), progress=None).preflight()
    message = str(caught.value)
    assert message.startswith("revision auto: no revision fits the server's answers: ")
    assert "POST /amlyze-ws-rest/account answered 404" in message
    assert "without --revision" in message


def test_auto_with_rejected_credentials_says_so() -> None:
    with (
        _server("2024-11-28") as url,
        pytest.raises(Misconfigured) as caught,
    ):
        Runner(_options(url, "auto", token="not-the-token"), progress=None).preflight()
    message = str(caught.value)
    assert message.startswith("credentials rejected: POST ") and "got 401" in message
    assert "not-the-token" not in message


def test_an_unknown_revision_is_a_usage_error() -> None:
    with pytest.raises(ConfigError, match="unknown revision '2024-13-01'"):
        Runner(_options("http://127.0.0.1:9", "2024-13-01"), progress=None)


# ------------------------------------------------------------------ the command and the plugin


def test_cli_revision_auto_says_what_it_found_then_tests_it(tmp_path: Path) -> None:
    config = tmp_path / "suite.toml"
    config.write_text(f"[fixtures]\ncustomers = {list(CUSTOMERS)!r}\n".replace("'", '"'))
    with _server("2024-11-05") as url:
        done = cli(
            "--base-url", url, "--revision", "auto", "--only", *AMLYZE, "--config", str(config),
            "--max-examples", "3", "--no-schemathesis", "--seed", "1",
            "--report-json", str(tmp_path / "r.json"), "--junit-xml", str(tmp_path / "j.xml"),
            token=TOKEN,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["revision"] == "2024-11-05"
    assert data["revision_detected"].startswith("revision auto: detected 2024-11-05 (")
    assert '<property name="revision" value="2024-11-05"' in (tmp_path / "j.xml").read_text()
    lines = done.stdout.splitlines()
    # What it found, first; then the table and the summary of that revision.
    assert lines[0].startswith("revision auto: detected 2024-11-05 (registerBatchAccountBalances ")
    assert lines[1].split() == ["operation", "rule", "sent", "failed", "result"]
    assert any(line.startswith("createAccount ") for line in lines)
    assert lines[-1].startswith("PASSED: ") and "revision 2024-11-05, " in lines[-1]


def test_cli_usage_errors_are_one_line(tmp_path: Path) -> None:
    done = cli("--base-url", "http://127.0.0.1:9", "--revision", "2024-13-01")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "unknown revision '2024-13-01' (known: 2024-11-04, " in done.stderr
    assert "latest, auto)" in done.stderr
    done = cli("--base-url", "http://127.0.0.1:9", "--only", "createAccounts")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "unknown operations for any revision: createAccounts" in done.stderr
    with _server("2024-11-04", single_operations=False) as url:
        done = cli("--base-url", url, "--revision", "2024-11-04", "--only", *AMLYZE, token=TOKEN)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(
        "amlyze-contracts test: revision 2024-11-04: validateBatchAccounts not found: "
    )
    assert done.stderr.count("\n") == 1


def test_pytest_plugin_takes_the_revision(tmp_path: Path) -> None:
    with _server("2024-12-12") as url:
        done = run_pytest(
            tmp_path, "--collect-only", "--amlyze-base-url", url, "--amlyze-revision", "auto",
            "--amlyze-only", *AMLYZE,
            token=TOKEN,
        )  # fmt: skip
        bad = run_pytest(
            tmp_path, "--amlyze-base-url", url, "--amlyze-revision", "2024-11-04",
            token=TOKEN,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    assert "createAccount::batch.rejection-has-error" in done.stdout
    assert "validateBatchAccounts::batch.valid-item-rejected" in done.stdout
    assert "revision auto: detected 2024-12-12" in done.stdout
    assert bad.returncode == 2
    assert "revision 2024-11-04: registerBatchAccountBalances not with this method" in bad.stdout
