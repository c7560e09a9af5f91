"""What the server remembers between requests: accepted communicationNumbers per
operation and which customer owns which account.

A store decides a whole batch at once (``claim``), atomically, so concurrent batches
can neither both accept one communicationNumber nor lose a registration. Only
claims that end up accepted are recorded, and nothing at all for a dry run
(``record=False``: validate-batch-accounts), which is decided exactly as if recorded,
so a batch's second use of a number is rejected there too.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one item was rejected: the vendor code and its description."""

    code: str
    description: str


REUSED = Rejection("O005", "CommunicationNumber already used in amlyze")
FOREIGN_ACCOUNT = Rejection("003", "Account with given extId belongs to another BusinessEntity")


@dataclass(frozen=True, slots=True)
class Claim:
    """What one item would record. ``customer`` is None when the operation does not
    register account ownership; ``eligible`` is False when the item was already
    rejected (it is then neither checked nor recorded)."""

    communication_number: str | None
    account_ext_id: str | None
    customer: str | None
    eligible: bool = True


class StateStore(Protocol):
    def claim(
        self, operation_id: str, claims: Sequence[Claim], *, record: bool = True
    ) -> list[Rejection | None]:
        """Check and record a batch atomically; one entry per claim, None = accepted.
        ``record=False``: the same decisions, nothing kept."""
        ...

    def close(self) -> None: ...


def _decide(
    claim: Claim,
    number_used: bool,
    owner: str | None,
) -> Rejection | None:
    """The state rules, in the contract's order: reuse first, then ownership."""
    if number_used:
        return REUSED
    if claim.customer is not None and owner is not None and owner != claim.customer:
        return FOREIGN_ACCOUNT
    return None


class MemoryStore:
    """The default store: lost on restart."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._numbers: dict[str, set[str]] = {}
        self._owners: dict[str, str] = {}

    def claim(
        self, operation_id: str, claims: Sequence[Claim], *, record: bool = True
    ) -> list[Rejection | None]:
        out: list[Rejection | None] = []
        with self._lock:
            numbers = self._numbers.setdefault(operation_id, set())
            owners = self._owners
            if not record:  # decide on copies: the batch sees its own items, nobody else does
                numbers, owners = set(numbers), dict(owners)
            for claim in claims:
                if not claim.eligible:
                    out.append(None)
                    continue
                number, account = claim.communication_number, claim.account_ext_id
                owner = owners.get(account) if account is not None else None
                rejection = _decide(claim, number in numbers, owner)
                out.append(rejection)
                if rejection is None:
                    if number is not None:
                        numbers.add(number)
                    if claim.customer is not None and account is not None:
                        owners.setdefault(account, claim.customer)
        return out

    def close(self) -> None:
        pass


_SCHEMA = """
CREATE TABLE IF NOT EXISTS communication_numbers (
    operation TEXT NOT NULL,
    number TEXT NOT NULL,
    PRIMARY KEY (operation, number)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS account_owners (
    account TEXT PRIMARY KEY,
    customer TEXT NOT NULL
) WITHOUT ROWID;
"""


class SqliteStore:
    """State kept in a SQLite file, so a restart keeps it.

    One connection guarded by a lock serialises batches within the process;
    ``BEGIN IMMEDIATE`` takes the database write lock up front, so two processes
    sharing the file cannot interleave their check-then-insert either.
    """

    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(path), timeout=30.0, isolation_level=None, check_same_thread=False
        )
        # WAL + NORMAL: durable across a process crash, one fsync per checkpoint only.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def claim(
        self, operation_id: str, claims: Sequence[Claim], *, record: bool = True
    ) -> list[Rejection | None]:
        out: list[Rejection | None] = []
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                for claim in claims:
                    out.append(
                        self._claim_one(cur, operation_id, claim) if claim.eligible else None
                    )
                # A dry run records as a batch does, then takes it all back.
                cur.execute("COMMIT" if record else "ROLLBACK")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        return out

    @staticmethod
    def _claim_one(cur: sqlite3.Cursor, operation_id: str, claim: Claim) -> Rejection | None:
        number, account = claim.communication_number, claim.account_ext_id
        used = number is not None and (
            cur.execute(
                "SELECT 1 FROM communication_numbers WHERE operation = ? AND number = ?",
                (operation_id, number),
            ).fetchone()
            is not None
        )
        owner = None
        if claim.customer is not None and account is not None:
            row = cur.execute(
                "SELECT customer FROM account_owners WHERE account = ?", (account,)
            ).fetchone()
            owner = row[0] if row else None
        rejection = _decide(claim, used, owner)
        if rejection is None:
            if number is not None:
                cur.execute(
                    "INSERT INTO communication_numbers (operation, number) VALUES (?, ?)",
                    (operation_id, number),
                )
            if claim.customer is not None and account is not None and owner is None:
                cur.execute(
                    "INSERT INTO account_owners (account, customer) VALUES (?, ?)",
                    (account, claim.customer),
                )
        return rejection

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_store(state: str | Path | None) -> StateStore:
    return SqliteStore(state) if state is not None else MemoryStore()
