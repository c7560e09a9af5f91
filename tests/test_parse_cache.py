"""The parsed-YAML cache: used when fresh, ignored when stale or corrupt."""

from __future__ import annotations

from pathlib import Path

import pytest

from amlyze_contracts import parse_cache
from amlyze_contracts.specs import read_document


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("AMLYZE_CONTRACTS_CACHE_DIR", str(folder))
    return folder


def test_cache_round_trip_and_staleness(tmp_path: Path, cache: Path) -> None:
    doc = tmp_path / "a.yaml"
    doc.write_text("openapi: 3.1.0\nx: 1\n", encoding="utf-8")
    assert read_document(doc) == {"openapi": "3.1.0", "x": 1}
    assert len(list(cache.iterdir())) == 1  # one entry written
    assert parse_cache.get(doc) == {"openapi": "3.1.0", "x": 1}
    doc.write_text("openapi: 3.1.0\nx: 22\n", encoding="utf-8")  # new size and mtime
    assert read_document(doc) == {"openapi": "3.1.0", "x": 22}


def test_entry_for_another_key_is_not_trusted(tmp_path: Path, cache: Path) -> None:
    doc = tmp_path / "b.yaml"
    doc.write_text("openapi: 3.1.0\n", encoding="utf-8")
    read_document(doc)
    (entry,) = cache.iterdir()
    entry.write_bytes(b'{"key": "someone else", "document": {"openapi": "evil"}}')
    assert parse_cache.get(doc) is None
    assert read_document(doc) == {"openapi": "3.1.0"}
    entry.write_bytes(b"not json")
    assert read_document(doc) == {"openapi": "3.1.0"}


def test_cache_can_be_disabled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMLYZE_CONTRACTS_CACHE_DIR", "")
    doc = tmp_path / "c.yaml"
    doc.write_text("openapi: 3.1.0\n", encoding="utf-8")
    assert read_document(doc) == {"openapi": "3.1.0"}
    assert parse_cache.cache_dir() is None
