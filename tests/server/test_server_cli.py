"""`amlyze-contracts serve` as a process: listing bugs, usage errors, clean
shutdown on SIGTERM/SIGINT, and the token never showing up in its output."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from amlyze_contracts.server import BUGS

pytestmark = [pytest.mark.network, pytest.mark.timeout(40)]

BRM_ID_URL = "/brm/prepayBalanceManagement/v1/accumulatedBalance/0.0.0.1+-account+102879"
SECRET = "s3cret-token-do-not-print"


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "amlyze_contracts", "serve", *args]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """``serve`` with these arguments, to its end (usage errors, listings)."""
    return subprocess.run(cli(*args), capture_output=True, text=True, timeout=30, check=False)


def test_list_bugs() -> None:
    done = subprocess.run(
        cli("--list-bugs"), capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0
    names = [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
    assert names == sorted(BUGS)
    assert len(names) >= 20
    assert all(len(line.split(None, 1)) == 2 for line in done.stdout.splitlines())


def test_unknown_bug_is_a_usage_error() -> None:
    done = subprocess.run(
        cli("--bug", "no-such-bug", "--port", "0"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "no-such-bug" in done.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_clean_shutdown_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    state = tmp_path / "state.sqlite"
    proc = subprocess.Popen(
        cli("--port", "0", "--token", SECRET, "--state", str(state)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # "serving on http://127.0.0.1:PORT, state in ..."
        assert first.startswith("serving on http://127.0.0.1:"), first
        url = first.split()[2].rstrip(",")
        ok = httpx.get(url + BRM_ID_URL, headers={"Authorization": f"Bearer {SECRET}"}, timeout=10)
        assert ok.status_code == 200
        denied = httpx.get(
            url + BRM_ID_URL, headers={"Authorization": "Bearer wrong-token"}, timeout=10
        )
        assert denied.status_code == 401
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "server stopped" in out
    assert "Traceback" not in err
    assert SECRET not in out + err and "wrong-token" not in out + err
    assert state.exists()


def test_unknown_revision_is_a_usage_error() -> None:
    done = run("--revision", "2023-01-01", "--port", "0")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "amlyze-contracts serve: error: unknown revision '2023-01-01' "
        "(known: 2024-11-04, 2024-11-05, 2024-11-28, 2024-12-12, latest)"
    ]


def test_a_bug_that_shows_nothing_under_the_revision_is_a_usage_error() -> None:
    done = run("--revision", "2024-11-04", "--bug", "single-balance-ignores-revision")
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1
    assert "single-balance-ignores-revision change nothing under revision 2024-11-04" in done.stderr


def test_list_bugs_of_a_revision() -> None:
    def names(*args: str) -> list[str]:
        done = run("--list-bugs", *args)
        assert done.returncode == 0, done.stderr
        return [line.split()[0] for line in done.stdout.splitlines()]

    seeds, latest = names("--revision", "2024-11-04"), names("--revision", "latest")
    assert latest == sorted(BUGS)
    assert seeds == sorted(set(BUGS) - {"single-balance-ignores-revision"})


def test_serve_a_revision() -> None:
    proc = subprocess.Popen(
        cli("--port", "0", "--revision", "latest"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("serving on http://127.0.0.1:"), first
        assert first.rstrip().endswith("(revision 2024-12-12)"), first
        url = first.split()[2]
        headers = {"Authorization": "Bearer dev-token"}
        balances = url + "/amlyze-ws-rest/batch-account-balances"
        body: dict[str, list[Any]] = {"accountBalances": []}
        put = httpx.put(balances, json=body, headers=headers, timeout=10)
        assert put.status_code == 405 and put.headers["allow"] == "POST"
        assert httpx.post(balances, json=body, headers=headers, timeout=10).status_code == 200
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0


def test_revision_is_the_shared_option() -> None:
    import argparse

    from amlyze_contracts.cli import build_parser
    from amlyze_contracts.commands.options import REVISION_HELP

    (commands,) = [
        a for a in build_parser("serve")._actions if isinstance(a, argparse._SubParsersAction)
    ]
    serve = commands.choices["serve"]
    (action,) = [a for a in serve._actions if "--revision" in a.option_strings]
    assert action.dest == "revision" and action.default is None
    assert action.help == REVISION_HELP
