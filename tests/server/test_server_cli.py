"""`amlyze-contracts serve` as a process: listing bugs, usage errors, clean
shutdown on SIGTERM/SIGINT, and the token never showing up in its output."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from amlyze_contracts.server import BUGS

pytestmark = [pytest.mark.network, pytest.mark.timeout(40)]

BRM_ID_URL = "/brm/prepayBalanceManagement/v1/accumulatedBalance/0.0.0.1+-account+102879"
SECRET = "s3cret-token-do-not-print"


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "amlyze_contracts", "serve", *args]


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
