"""A cache of parsed YAML documents (specs, rule files) as JSON, for cold starts.

Parsing the bundled YAML costs more than the rest of a one-file ``validate`` run;
reading the same document back with orjson costs about a millisecond. Entries are
keyed by path, size, modification time and package version, written atomically,
and every failure (read-only home, corrupt entry) silently falls back to parsing.
Set ``AMLYZE_CONTRACTS_CACHE_DIR`` to move it, or to an empty string to disable it.
"""

from __future__ import annotations

import os
import zlib
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


def _entry(path: Path) -> tuple[Path, str] | None:
    folder = cache_dir()
    if folder is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{__version__}"
    # The file name only spreads entries; the full key inside the entry is what is trusted.
    return folder / f"{path.name}.{zlib.crc32(key.encode()):08x}.json", key


def get(path: Path) -> Any | None:
    entry = _entry(path)
    if entry is None:
        return None
    try:
        stored = orjson.loads(entry[0].read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(stored, dict) or stored.get("key") != entry[1]:
        return None
    return stored.get("document")


def put(path: Path, document: Any) -> None:
    entry = _entry(path)
    if entry is None:
        return
    try:
        data = orjson.dumps({"key": entry[1], "document": document})
    except TypeError:
        return  # YAML gave something JSON cannot hold (dates): keep parsing it
    import tempfile  # only when writing: most runs only read

    try:
        entry[0].parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry[0].parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, entry[0])
    except OSError:
        pass
