"""``amlyze-contracts validate`` as a real process: lazy imports, exit codes, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import CLI_DATA as DATA
from tests.conftest import SAMPLES

VALID = DATA / "valid-batch-accounts.json"
# The validate path must not pay for the fuzzer, the server or their frameworks.
FORBIDDEN = ("schemathesis", "hypothesis", "openapi_core", "starlette", "uvicorn", "httpx")
FORBIDDEN_OWN = ("amlyze_contracts.server",)


def _cli(
    *argv: str, input: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        input=input,
        env=env,
    )


def _imported(importtime_stderr: str) -> set[str]:
    names = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name and name != "imported package":
                names.add(name)
    return names


def test_validate_imports_no_heavy_modules(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"accounts": [{"requester": 1}]}', encoding="utf-8")
    # Both the fast (valid) and the diagnostic (invalid) paths.
    done = _cli("-X", "importtime", "-m", "amlyze_contracts", "validate", str(VALID), str(bad))
    assert done.returncode == 1, done.stderr[-2000:]
    imported = _imported(done.stderr)
    assert "amlyze_contracts.engine.api" in imported  # the parse worked
    heavy = sorted(
        name
        for name in imported
        if name.split(".")[0] in FORBIDDEN or name.startswith(FORBIDDEN_OWN)
    )
    assert heavy == []


def test_every_format_exits_cleanly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe{")
    for fmt in ("text", "json", "junit", "github"):
        done = _cli("-m", "amlyze_contracts", "validate", "--format", fmt, str(VALID), str(bad))
        assert done.returncode == 1
        assert "Traceback" not in done.stderr


def test_exit_codes() -> None:
    ok = _cli("-m", "amlyze_contracts", "validate", str(VALID))
    assert (ok.returncode, ok.stderr) == (0, "")
    usage = _cli("-m", "amlyze_contracts", "validate", "--format", "yaml", str(VALID))
    assert usage.returncode == 2 and "Traceback" not in usage.stderr
    missing = _cli("-m", "amlyze_contracts", "validate", "/nonexistent/x.json", str(VALID))
    assert missing.returncode == 2
    assert missing.stderr == (
        "amlyze-contracts validate: error: /nonexistent/x.json: no such file or directory\n"
    )


def test_stdin_process() -> None:
    done = _cli(
        "-m",
        "amlyze_contracts",
        "validate",
        "--format",
        "github",
        "-",
        input='{"accounts": []}',
    )
    assert done.returncode == 0
    assert done.stdout.startswith("::warning file=<stdin>,line=1,col=14,title=batch.not-empty::")


def test_output_is_deterministic_across_runs(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONHASHSEED="1")
    samples = str(SAMPLES)
    first = _cli("-m", "amlyze_contracts", "validate", "--format", "json", samples, env=env)
    env["PYTHONHASHSEED"] = "2"
    second = _cli("-m", "amlyze_contracts", "validate", "--format", "json", samples, env=env)
    assert first.stdout == second.stdout and first.stdout
