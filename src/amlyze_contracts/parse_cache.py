"""A cache of parsed YAML documents (specs, rule files) as JSON, for cold starts.

Parsing the bundled YAML costs more than the rest of a one-file ``validate`` run;
reading the same document back with orjson costs about a millisecond. Entries are
keyed by path, size, modification time and package version, written atomically,
and every failure (read-only home, corrupt entry) silently falls back to parsing.
Set ``AMLYZE_CONTRACTS_CACHE_DIR`` to move it, or to an empty string to disable it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import orjson

from . import __version__


def cache_dir() -> Path | None:
    configured = os.environ.get("AMLYZE_CONTRACTS_CACHE_DIR")
    if configured is not None:
        return Path(configured) if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "amlyze-contracts"


def _entry(path: Path) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{__version__}"
    return folder / f"{path.name}.{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def get(path: Path) -> Any | None:
    entry = _entry(path)
    if entry is None:
        return None
    try:
        return orjson.loads(entry.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None


def put(path: Path, document: Any) -> None:
    entry = _entry(path)
    if entry is None:
        return
    try:
        data = orjson.dumps(document)
    except TypeError:
        return  # YAML gave something JSON cannot hold (dates): keep parsing it
    import tempfile  # only when writing: most runs only read

    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, entry)
    except OSError:
        pass
