"""The published pre-commit hook, run the way a user tries it: ``pre-commit try-repo``.

The project is snapshotted (the files the package build needs, as they are on disk,
so the test checks the working tree and not the last commit) into a temporary git
repository; a second temporary repository holds one good and one bad payload.

Caching: ``try-repo`` builds its hook environment in a fresh temporary store every
time (``Store(tempdir)`` in pre-commit's ``try_repo.py``), so PRE_COMMIT_HOME cannot
make it reuse one; a shared cache dir (``.venv/pre-commit-cache``) would buy nothing.
PRE_COMMIT_HOME points into tmp_path only so the run leaves nothing in ~/.cache.
What keeps repeated runs quick is pip's own wheel cache; the first run downloads
hatchling and the runtime dependencies from PyPI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DATA = Path(__file__).parent / "data"
# What `pip install <repo>` needs: the build config, the package and its data.
SNAPSHOT = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "src", "specs")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        env={**os.environ, **GIT_ENV},
        timeout=60,
    )


def _snapshot_project(dest: Path) -> None:
    dest.mkdir()
    for name in SNAPSHOT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy2(source, dest / name)
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "snapshot")


def _payload_repo(tmp_path: Path, extra: dict[str, str]) -> Path:
    """A git repository with one good and one bad payload, plus ``extra`` files."""
    work = tmp_path / "payloads"
    work.mkdir()
    shutil.copy(DATA / "valid-batch-accounts.json", work / "good.json")
    shutil.copy(DATA / "invalid-batch-accounts.json", work / "bad.json")
    for name, text in extra.items():
        (work / name).write_text(text, encoding="utf-8")
    _git(work, "init", "-q")
    _git(work, "add", "-A")
    return work


def _precommit_env(tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        **GIT_ENV,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "PRE_COMMIT_COLOR": "never",
        # One hook process for both files, so there is one summary line to check.
        "PRE_COMMIT_NO_CONCURRENCY": "1",
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def test_manifest_declares_the_hook() -> None:
    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    hook = next(h for h in hooks if h["id"] == "amlyze-validate")
    assert hook["entry"] == "amlyze-contracts validate"
    assert hook["language"] == "python"
    assert hook["types"] == ["json"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_try_repo_good_and_bad_payload(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    project = tmp_path / "project"
    _snapshot_project(project)

    work = _payload_repo(tmp_path, {"notes.txt": "not json, not passed to the hook\n"})
    env = _precommit_env(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pre_commit",
            "try-repo",
            str(project),
            "amlyze-validate",
            "--all-files",
            "--verbose",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        timeout=290,
        check=False,
    )
    output = done.stdout + done.stderr
    print(output)  # shown by pytest on failure
    assert done.returncode == 1, output
    assert "amlyze-contracts validate" in output and "Failed" in output, output
    assert "bad.json:3:5: error accounts.bic-required-for-external" in output, output
    assert "bad.json:3:5: error accounts.closing-date-required" in output, output
    assert "good.json:" not in output, output  # the good payload raised nothing
    assert "2 files checked: 2 errors, 0 warnings in 1 file" in output, output


def _readme_snippet() -> dict[str, object]:
    import re

    import yaml

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(# \.pre-commit-config\.yaml\n.*?)```", text, re.S)
    assert block, "the README has no .pre-commit-config.yaml snippet"
    config: dict[str, object] = yaml.safe_load(block.group(1))
    return config


def test_readme_snippet_names_a_revision_that_carries_the_hook() -> None:
    (repo,) = _readme_snippet()["repos"]  # type: ignore[misc]
    rev = str(repo["rev"])
    manifest = subprocess.run(
        ["git", "show", f"{rev}:.pre-commit-hooks.yaml"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert manifest.returncode == 0, (
        f"rev {rev} is not a revision of this repository: {manifest.stderr}"
    )
    import yaml

    published = {hook["id"] for hook in yaml.safe_load(manifest.stdout)}
    assert {hook["id"] for hook in repo["hooks"]} <= published


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_readme_snippet_runs_when_copied(tmp_path: Path) -> None:
    """The snippet as a user copies it, with `repo:` pointing at this repository."""
    import yaml

    config = _readme_snippet()
    config["repos"][0]["repo"] = str(ROOT)  # type: ignore[index]
    config["repos"][0]["hooks"][0]["files"] = r"\.json$"  # type: ignore[index]
    work = _payload_repo(tmp_path, {".pre-commit-config.yaml": yaml.safe_dump(config)})
    env = _precommit_env(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "--all-files", "--verbose"],
        cwd=work, capture_output=True, text=True, env=env, timeout=290, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "bad.json:3:5: error accounts.bic-required-for-external" in output, output
    assert "good.json:" not in output, output
