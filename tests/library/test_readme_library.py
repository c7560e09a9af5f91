"""The README's "Hypothesis strategies and Schemathesis checks" section is executed:
its pycon examples as doctests, and its user-style Schemathesis test module with
pytest in a subprocess, against the reference server (passes) and catalogued bugs
(fails, naming the contract's rule id)."""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_readme import README, _examples, _section

SECTION = "### Hypothesis strategies and Schemathesis checks"
TOKEN = "readme-token-5f1c"  # must never appear in the output


def test_strategy_examples_run_as_written() -> None:
    test = doctest.DocTestParser().get_doctest(
        _examples(_section(SECTION)), {}, "README strategies section", str(README), 0
    )
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report: list[str] = []
    runner.run(test, out=report.append)
    assert test.examples and runner.failures == 0, "".join(report)


def _user_module(tmp_path: Path) -> Path:
    blocks = re.findall(r"```python\n(.*?)```", _section(SECTION), re.S)
    assert len(blocks) == 1, "the section has one Schemathesis test module"
    path = tmp_path / "test_amlyze_contract.py"
    path.write_text(blocks[0], encoding="utf-8")
    return path


def _pytest(module: Path, base_url: str, revision: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AMLYZE_BASE_URL": base_url, "AMLYZE_CONTRACTS_TOKEN": TOKEN}
    env.pop("AMLYZE_REVISION", None)
    if revision is not None:
        env["AMLYZE_REVISION"] = revision
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(module)],
        cwd=module.parent,  # no schemathesis.toml, no conftest of ours
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize(
    ("profile", "revision"), [("default", None), ("production", None), ("default", "latest")]
)
def test_the_user_module_passes_against_the_reference_server(
    tmp_path: Path, profile: str, revision: str | None
) -> None:
    from amlyze_contracts.server import running

    with running(token=TOKEN, profile=profile, revision=revision) as base_url:
        done = _pytest(_user_module(tmp_path), base_url, revision)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert re.search(r"\b[67] passed\b", done.stdout), done.stdout[-2000:]


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize(
    ("bug", "revision", "rule", "operation"),
    [
        ("results-reversed", None, "batch.result-correlation", "/amlyze-ws-rest/batch-accounts"),
        ("bad-result-type", None, "batch.result-type-values", "/amlyze-ws-rest/batch-accounts"),
        # createAccount's 400 without errorCode: the revision's document says what it holds
        ("single-account-error-body", "latest", "response.schema", "/amlyze-ws-rest/account"),
    ],
)
def test_the_user_module_fails_a_catalogued_bug_naming_the_rule(
    tmp_path: Path, bug: str, revision: str | None, rule: str, operation: str
) -> None:
    from amlyze_contracts.server import running

    with running(token=TOKEN, bugs=[bug], revision=revision) as base_url:
        done = _pytest(_user_module(tmp_path), base_url, revision)
    assert done.returncode == 1, done.stdout[-4000:] + done.stderr[-2000:]
    assert f"ST901 {rule}" in done.stdout, done.stdout[-4000:]
    assert f" test_amlyze[POST {operation}] " in done.stdout
    assert TOKEN not in done.stdout + done.stderr
