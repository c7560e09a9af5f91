"""Vendor revisions: which spec document implements each operation, revision by revision.

The data is ``revisions.yaml`` beside the bundled specs: a revision is named by the
date of the vendor's page commit (``2024-11-04`` is the default, ``latest`` an alias of
the newest) and maps every operationId to a document, relative to the specs folder.
Two dates name the same document where the operation did not change between them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .specs import Operation, Spec, SpecError, bundled_dir, load, read_document

REVISIONS_FILE = "revisions.yaml"
LATEST = "latest"


@dataclass(frozen=True)
class Revision:
    name: str
    commit: str
    changes: str
    documents: Mapping[str, Path]  # operationId -> spec file

    def specs(self) -> list[Spec]:
        """The documents of this revision, each once, in the data file's order."""
        unique = dict.fromkeys(self.documents.values())
        return [load(path) for path in unique]

    def operation(self, operation_id: str) -> Operation:
        """One operation as this revision's document defines it (only that document is
        read); SpecError naming the revision's operations when it has no such one."""
        path = self.documents.get(operation_id)
        if path is None:
            known = ", ".join(self.documents)
            raise SpecError(
                f"revision {self.name} has no operation {operation_id!r} (known: {known})"
            )
        found = load(path).operations.get(operation_id)
        if found is None:
            raise SpecError(
                f"{REVISIONS_FILE}: revision {self.name} names {path.name} "
                f"for {operation_id}, which that document does not define"
            )
        return found

    def operations(self) -> dict[str, Operation]:
        return {operation_id: self.operation(operation_id) for operation_id in self.documents}


@dataclass(frozen=True)
class RevisionTable:
    default: str
    latest: str
    revisions: Mapping[str, Revision]

    def names(self) -> list[str]:
        return list(self.revisions)

    def resolve(self, name: str) -> Revision:
        key = self.latest if name == LATEST else name
        if key not in self.revisions:
            known = ", ".join([*self.revisions, LATEST])
            raise SpecError(f"unknown revision {name!r} (known: {known})")
        return self.revisions[key]


def _text(node: Mapping[str, Any], key: str, where: str) -> str:
    value = node.get(key)
    if not isinstance(value, str) or not value:
        # An unquoted date is read as a date, not a string: say how to write it.
        raise SpecError(f"{where}: '{key}' must be a non-empty string (quote dates)")
    return value


def parse_table(document: Any, folder: Path, source: str = REVISIONS_FILE) -> RevisionTable:
    """Check the data file's shape and turn it into a table; paths are made absolute."""
    if not isinstance(document, dict) or not isinstance(document.get("revisions"), dict):
        raise SpecError(f"{source}: expected a mapping with a 'revisions' mapping")
    revisions: dict[str, Revision] = {}
    for name, entry in document["revisions"].items():
        where = f"{source}: revision {name}"
        if not isinstance(name, str):
            raise SpecError(f"{where}: revision names must be quoted strings")
        if not isinstance(entry, dict) or not isinstance(entry.get("operations"), dict):
            raise SpecError(f"{where}: expected 'commit', 'changes' and an 'operations' mapping")
        documents = {
            str(op): folder / _text(entry["operations"], op, f"{where}, operation {op}")
            for op in entry["operations"]
        }
        revisions[name] = Revision(
            name, _text(entry, "commit", where), _text(entry, "changes", where), documents
        )
    table = RevisionTable(
        _text(document, "default", source), _text(document, "latest", source), revisions
    )
    for alias in (table.default, table.latest):
        if alias not in revisions:
            raise SpecError(f"{source}: {alias!r} is not one of its revisions")
    return table


@functools.lru_cache(maxsize=4)
def _table(folder: Path) -> RevisionTable:
    path = folder / REVISIONS_FILE
    return parse_table(read_document(path), folder, str(path))


def table() -> RevisionTable:
    """The bundled revision table (read once per specs folder)."""
    return _table(bundled_dir())


def names() -> list[str]:
    return table().names()


def resolve(name: str) -> Revision:
    """A revision by date, or ``latest``."""
    return table().resolve(name)


def is_revision(name: str) -> bool:
    return name == LATEST or name in table().revisions
