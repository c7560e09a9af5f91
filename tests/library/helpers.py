"""Shared by the library tests."""

from __future__ import annotations

import subprocess
import sys


def python_output(code: str) -> str:
    """What ``code`` prints in a fresh interpreter (imports are measured there)."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
