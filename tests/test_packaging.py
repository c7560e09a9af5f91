"""The wheel works outside the repository: specs and rules are package data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import SAMPLES

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_wheel_installs_and_runs_outside_the_repo(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = dist.glob("amlyze_contracts-*.whl")

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True, system_site_packages=False)
    python = env_dir / "bin" / "python"
    # Dependencies come from this venv's wheels cache / PyPI as for any user.
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    clean_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AMLYZE_CONTRACTS"))
    }
    clean_env["AMLYZE_CONTRACTS_CACHE_DIR"] = ""
    script = env_dir / "bin" / "amlyze-contracts"

    listed = subprocess.run([str(script), "specs", "list", "--format", "json"], cwd=elsewhere,
                            capture_output=True, text=True, timeout=60, env=clean_env)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    specs = json.loads(listed.stdout)["specs"]
    assert {entry["name"] for entry in specs} == {
        "batch-accounts",
        "batch-account-balances",
        "accumulated-balance",
    }
    assert all("site-packages" in entry["source"] for entry in specs)

    sample = elsewhere / "closed.json"
    sample.write_bytes((SAMPLES / "closedFullPayload.json").read_bytes())
    checked = subprocess.run([str(script), "validate", "--format", "json", str(sample)], cwd=elsewhere,
                             capture_output=True, text=True, timeout=60, env=clean_env)  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert report["files"][0]["operation"] == "batchAccounts"

    library = subprocess.run(
        [str(python), "-c",
         "import amlyze_contracts, amlyze_contracts.specs as s;"
         "from amlyze_contracts import validate_request;"
         "assert 'site-packages' in s.bundled_dir().as_posix(), s.bundled_dir();"
         "r = validate_request('batchAccounts', b'{\"accounts\": [{\"isOtherFinInstAccount\": true}]}');"
         "print(sorted(r.rules()))"],
        cwd=elsewhere, capture_output=True, text=True, timeout=60, env=clean_env,
    )  # fmt: skip
    assert library.returncode == 0, library.stderr
    assert (
        "accounts.bic-required-for-external" in library.stdout
        and "schema.required" in library.stdout
    )

    # A base install: every command answers, a missing extra is one line and exit 2.
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(script), *args], cwd=elsewhere, capture_output=True,
                              text=True, timeout=60, env=clean_env)  # fmt: skip

    for args, extra in (
        (("serve",), "server"),
        (("serve", "--list-bugs"), "server"),
        (("test", "--base-url", "http://127.0.0.1:9"), "contract"),
    ):
        done = cli(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
        assert f"needs the '{extra}' extra" in done.stderr
        assert f"pip install 'amlyze-contracts[{extra}]'" in done.stderr
    # The vendor revisions are package data too (specs/revisions.yaml and its documents).
    diffed = cli("specs", "diff", "2024-11-05", "latest")
    assert diffed.returncode == 1, diffed.stderr
    assert "api-method-changed                method changed from PUT to POST" in diffed.stdout
    lint = cli("specs", "lint")
    assert lint.returncode == 2 and lint.stderr.count("\n") == 1, lint.stderr
    assert "pip install 'amlyze-contracts[lint]'" in lint.stderr
    examples_only = cli("specs", "lint", "--examples-only")
    assert examples_only.returncode == 0, examples_only.stderr

    # The pytest plugin: a usage error naming the extra, not INTERNALERROR.
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "pytest>=8,<10"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    plugin = subprocess.run(
        [str(python), "-m", "pytest", "--amlyze-base-url", "http://127.0.0.1:9"],
        cwd=elsewhere, capture_output=True, text=True, timeout=120, env=clean_env,
    )  # fmt: skip
    output = plugin.stdout + plugin.stderr
    assert plugin.returncode == 4, output  # pytest's exit code for a usage error
    assert "INTERNALERROR" not in output and "Traceback" not in output, output
    assert "ERROR: pytest --amlyze-base-url needs the 'contract' extra" in output
    assert "pip install 'amlyze-contracts[contract]'" in output
