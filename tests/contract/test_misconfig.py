"""A misconfigured run is not a failing server (CONTRACT.md section 3.1): no token,
credentials rejected (at start or later), none of the operations at the base URL,
a misspelt config key. Each ends with exit code 2 and one line on stderr naming the
cause, before any violation is listed: via the real CLI and the pytest plugin."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from amlyze_contracts.contract.config import ConfigError, load_config

from .servers import TOKEN, Scope, Wrapped, answering, cli, passing, run_pytest, serve

pytestmark = [pytest.mark.network, pytest.mark.timeout(120)]


def _cli(*args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess[str]:
    return cli("--max-examples", "3", *args, token=token)


def _one_line(done: subprocess.CompletedProcess[str], *cause: str) -> str:
    """Exit 2, exactly one stderr line naming the cause, nothing on stdout."""
    assert done.returncode == 2, (done.returncode, done.stdout[-2000:], done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("amlyze-contracts test: "), lines
    for word in cause:
        assert word in lines[0], lines[0]
    assert done.stdout == "", done.stdout[-2000:]  # no violation table, no summary
    assert "Traceback" not in done.stderr and TOKEN not in done.stderr
    return lines[0]


def test_no_token_is_not_replaced_by_a_default() -> None:
    # Unreachable port: the token is missing before anything is sent.
    done = _cli("--base-url", "http://127.0.0.1:9", token=None)
    _one_line(done, "no token", "AMLYZE_CONTRACTS_TOKEN")


def test_credentials_rejected_everywhere_but_the_classifiers() -> None:
    with serve(answering(401, {"error": "unauthorized"}, classifiers=True)) as url:
        done = _cli("--base-url", url)
    line = _one_line(done, "credentials rejected", "401", url)
    assert "--token" in line


def test_credentials_revoked_during_the_run() -> None:
    """The token works for the preflight and the first requests, then gets 401."""
    authenticated = 0

    async def revoke(scope: Scope, body: bytes) -> tuple[int, Any] | None:
        nonlocal authenticated
        headers = dict(scope["headers"])
        if headers.get(b"authorization") == f"Bearer {TOKEN}".encode():
            authenticated += 1
            if authenticated > 12:
                return 401, {"timestamp": "x", "status": 401, "error": "expired", "path": "/"}
        return None

    with serve(Wrapped(revoke)) as url:
        done = _cli("--base-url", url, "--no-schemathesis")
    _one_line(done, "credentials rejected during the run", "401")


def test_nothing_found_names_the_url_that_answered_404() -> None:
    with serve(answering(404, b"<html>Not Found</html>")) as url:
        done = _cli("--base-url", url + "/amlyze")
    line = _one_line(done, "none of the operations found", "404")
    assert f"{url}/amlyze/amlyze-ws-rest/batch-accounts answered 404" in line
    assert "did you mean" not in line  # no base URL there answers either


def test_wrong_prefix_suggests_the_root() -> None:
    """The reference server at the root, --base-url .../api: did you mean the root?"""
    with serve(Wrapped(passing)) as url:
        done = _cli("--base-url", url + "/api")
    line = _one_line(done, "none of the operations found", f"--base-url {url}/api")
    assert line.endswith(f"did you mean --base-url {url}?"), line


@pytest.mark.slow
def test_missing_prefix_suggests_it() -> None:
    """The reference server mounted under /api, --base-url the root."""
    with serve(Wrapped(passing, prefix="/api")) as url:
        done = _cli("--base-url", url)
        assert done.returncode == 2
        line = _one_line(done, "none of the operations found")
        assert line.endswith(f"did you mean --base-url {url}/api?"), line
        # ... and the suggestion is right: the run then passes.
        fixed = _cli("--base-url", url + "/api", "--no-schemathesis")
    assert fixed.returncode == 0, fixed.stdout[-3000:]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[runn]\nmax_examples = 3\n", "unknown table '[runn]' (did you mean '[run]'?)"),
        (
            "[run]\nmax_exampels = 3\n",
            "unknown key 'run.max_exampels' (did you mean 'run.max_examples'?)",
        ),
        (
            '[server]\nbase_ulr = "http://x"\n',
            "unknown key 'server.base_ulr' (did you mean 'server.base_url'?)",
        ),
        (
            '[fixtures]\ncustomer = ["A", "B"]\n',
            "unknown key 'fixtures.customer' (did you mean 'fixtures.customers'?)",
        ),
        (
            '[classifiers]\ncurency = ["EUR"]\n',
            "unknown key 'classifiers.curency' (did you mean 'classifiers.currency'?)",
        ),
        (
            '[run]\nonly = ["batchAccount"]\n',
            "run.only: unknown operation 'batchAccount' (did you mean 'batchAccounts'?)",
        ),
        ('[run]\nmax_examples = "3"\n', "run.max_examples must be an integer of at least 1"),
        ("[run]\nread_only = 1\n", "run.read_only must be true or false"),
        (
            '[server]\ntoken = "x"\n',
            "a token does not belong in a config file; use AMLYZE_CONTRACTS_TOKEN",
        ),
    ],
)
def test_config_keys_are_checked_at_every_level(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: {message}"


def test_misspelt_config_key_via_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[run]\nmax_exampels = 3\n")
    done = _cli("--base-url", "http://127.0.0.1:9", "--config", str(path))
    _one_line(done, "run.max_exampels", "did you mean 'run.max_examples'?")


# ------------------------------------------------------------------ pytest plugin


def _plugin_stopped(done: subprocess.CompletedProcess[str], cause: str) -> None:
    everything = done.stdout + done.stderr
    assert done.returncode == 2, everything[-3000:]
    lines = [line for line in everything.splitlines() if "amlyze-contracts:" in line]
    assert len(lines) == 1 and cause in lines[0], everything[-3000:]
    assert "INTERNALERROR" not in everything and "Traceback" not in everything
    assert " failed" not in everything and " passed" not in everything
    assert TOKEN not in everything


@pytest.mark.slow
def test_plugin_stops_on_rejected_credentials(tmp_path: Path) -> None:
    with serve(answering(403, {"error": "forbidden"})) as url:
        done = run_pytest(tmp_path, "--amlyze-base-url", url)
    _plugin_stopped(done, "credentials rejected")


@pytest.mark.slow
def test_plugin_stops_without_a_token(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, "--amlyze-base-url", "http://127.0.0.1:9", token=None)
    _plugin_stopped(done, "no token")


@pytest.mark.slow
def test_plugin_stops_on_a_misspelt_config_key(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text("[fixtures]\nbrm_id = []\n")
    done = run_pytest(
        tmp_path, "--amlyze-base-url", "http://127.0.0.1:9", "--amlyze-config", "c.toml"
    )
    _plugin_stopped(done, "did you mean 'fixtures.brm_ids'?")


@pytest.mark.slow
def test_plugin_stops_when_nothing_is_found(tmp_path: Path) -> None:
    with serve(Wrapped(passing)) as url:
        done = run_pytest(tmp_path, "--amlyze-base-url", url + "/api")
    _plugin_stopped(done, f"did you mean --base-url {url}?")


def test_a_streak_of_403_to_some_payloads_is_judged_not_a_misconfiguration() -> None:
    """A WAF refusing every write with items (403) while the preflight's empty batch
    and BRM reads still pass: the run goes on and judges those answers."""
    from amlyze_contracts.contract.config import Options, brm_base
    from amlyze_contracts.contract.suite import run

    async def waf(scope: Scope, body: bytes) -> tuple[int, Any] | None:
        if b'"communicationNumber"' in body:
            return 403, {"timestamp": "t", "status": 403, "error": "Forbidden", "path": "/"}
        return None

    with serve(Wrapped(waf)) as url:
        options = Options(
            base_url=url, brm_base_url=brm_base(url, None), token=TOKEN, max_examples=3,
            time_budget=30, seed=1, schemathesis=False, only=("batchAccounts",),
        )  # fmt: skip
        result = run(options, progress=None)  # no Misconfigured raised
    assert result.requests > 30
    assert not result.ok  # the 403s are judged (e.g. no per-item O005)
