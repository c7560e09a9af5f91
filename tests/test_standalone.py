"""The repository stands alone: no tracked file reads or names the folder beside it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, SAMPLE_NAMES, SAMPLES

# Spelt in pieces so this file does not match itself.
OUTSIDE = re.compile(r"\.\./" + "shared" + r"|parents\[\d\]\s*/\s*['\"]" + "shared")


def test_no_tracked_file_names_the_folder_beside_the_repository() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, timeout=60, check=True
    ).stdout.split(b"\0")
    offenders = []
    for name in filter(None, listed):
        path = REPO / name.decode()
        if not path.is_file() or name.startswith(b"tests/data/vendor/"):
            continue  # vendor copies are data as published
        text = path.read_bytes().decode("utf-8", "replace")
        offenders += [
            f"{name.decode()}:{n}"
            for n, line in enumerate(text.splitlines(), 1)
            if OUTSIDE.search(line)
        ]
    assert not offenders, offenders


def test_the_vendor_samples_are_in_the_repository() -> None:
    assert sorted(p.name for p in SAMPLES.glob("*.json")) == sorted(SAMPLE_NAMES)


def test_demo_fails_when_a_step_cannot_read_its_input(tmp_path: Path) -> None:
    """A step that cannot do what it announces ends the demo non-zero (not a note)."""
    done = subprocess.run(
        ["bash", str(REPO / "docs" / "demo.sh"), str(Path(sys.executable).parent), str(tmp_path / "no-samples")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0, done.stdout
    assert "the vendor samples folder is missing" in done.stderr
    assert "=== 3." not in done.stdout  # nothing after the failing step ran
