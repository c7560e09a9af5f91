"""Options and fixtures of one contract-suite run.

Fixtures default to the default profile of CONTRACT.md section 4 (the reference
server's own data, imported so the two never disagree); a TOML file describes a
real deployment instead. Classifiers come from the server when it serves them.
"""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..classifiers import KNOWN_CLASSIFIERS
from ..commands.options import AUTO as AUTO  # --revision auto: contract/detect.py
from ..domain import (
    ACCUMULATED_BALANCE,
    BATCH_ACCOUNT_BALANCES,
    BATCH_ACCOUNTS,
    CREATE_ACCOUNT,
    REGISTER_ACCOUNT_BALANCE,
    VALIDATE_BATCH_ACCOUNTS,
)
from ..domain import OPERATIONS as OPERATIONS  # re-exported: commands.test_cmd reads it here
from ..engine.schema import closest
from ..server import fixtures
from ..specs import Operation, SpecError

TOKEN_ENV = "AMLYZE_CONTRACTS_TOKEN"
BATCH_OPERATIONS = (BATCH_ACCOUNTS, BATCH_ACCOUNT_BALANCES, VALIDATE_BATCH_ACCOUNTS)
SINGLE_OPERATIONS = frozenset({CREATE_ACCOUNT, REGISTER_ACCOUNT_BALANCE})
BRM_OPERATION = ACCUMULATED_BALANCE
# Every operation the suite can test, in the order it tests them: the seeds' three
# (the default run), then the account flow of the vendor's revisions.
ALL_OPERATIONS = (*OPERATIONS, VALIDATE_BATCH_ACCOUNTS, CREATE_ACCOUNT, REGISTER_ACCOUNT_BALANCE)
# Operations whose items are accounts (the others' are balances).
ACCOUNT_OPERATIONS = frozenset({BATCH_ACCOUNTS, VALIDATE_BATCH_ACCOUNTS, CREATE_ACCOUNT})
DEFAULT_BRM_PATH = "/brm/prepayBalanceManagement/v1"


class ConfigError(Exception):
    """The config file or an option is unusable (exit code 2)."""


class Misconfigured(Exception):
    """The run cannot judge the server: unreachable, credentials rejected, or none of
    the operations at the base URL (exit code 2, one message naming the cause)."""


NO_TOKEN = f"no token: pass --token or set {TOKEN_ENV} (the suite never guesses one)"


@dataclass(frozen=True)
class Fixtures:
    """What the server under test knows (CONTRACT.md section 4)."""

    customers: tuple[str, ...] = tuple(sorted(fixtures.CUSTOMERS))
    # Used for the ownership probe: a second customer must exist.
    brm_ids: tuple[str, ...] = tuple(sorted(fixtures.BRM_IDS))
    brm_types: tuple[str, ...] = ("AccumulatedBalance", "AccumulatedBalanceOracle")
    # Fallback when the server does not serve GET /classifier/{name}.
    classifiers: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: dict(fixtures.FIXTURE_CLASSIFIERS)
    )


@dataclass(frozen=True)
class Options:
    base_url: str
    brm_base_url: str
    token: str | None = None
    # None: every operation of the run (the seeds' three without a revision, else the
    # revision's); the runner replaces it with the operations it tests.
    only: tuple[str, ...] | None = None
    max_examples: int = 25
    time_budget: float = 50.0
    timeout: float = 10.0
    seed: int | None = None  # None: the run picks one (printed and reported)
    read_only: bool = False
    # A failed check of at least this severity fails the run. Warnings (an interop
    # value rejected, an input.* item accepted, CONTRACT.md 3.1) are reported, not fatal.
    fail_on: str = "error"
    schemathesis: bool = True  # the generic fuzzing phase
    max_response_bytes: int = 8 * 1024 * 1024
    fixtures: Fixtures = field(default_factory=Fixtures)
    # A vendor revision (a date of specs/revisions.yaml, ``latest``, or ``auto``: detected
    # from the server's answers). None: the default revision's documents and the seeds'
    # three operations (the behaviour before revisions). The runner resolves it to a
    # date (or keeps None).
    revision: str | None = None

    @property
    def writes(self) -> bool:
        return not self.read_only

    @property
    def operations(self) -> tuple[str, ...]:
        """The operations tested (``only``, else every operation of the run)."""
        if self.only is not None:
            return self.only
        if self.revision is None:
            return OPERATIONS
        return tuple(op for op in ALL_OPERATIONS if op in revision_operations(self.revision))

    def with_(self, **changes: Any) -> Options:
        return replace(self, **changes)


# Every key a --config file may hold, per table: a misspelt key is an error (with a
# did-you-mean), never silently ignored. [classifiers] maps classifier names to codes.
CONFIG_KEYS: dict[str, tuple[str, ...]] = {
    "server": ("base_url", "brm_base_url"),
    "run": ("only", "max_examples", "time_budget", "timeout", "seed", "read_only", "revision"),
    "fixtures": ("customers", "brm_ids", "brm_types"),
    "classifiers": KNOWN_CLASSIFIERS,
}


def _unknown(what: str, name: str, known: Iterable[str]) -> str:
    guess = closest(name, tuple(known))
    return f"unknown {what} {name!r}" + (f" (did you mean {guess!r}?)" if guess else "")


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings")
    return tuple(value)


def _check_value(table: str, key: str, value: Any, source: str) -> None:
    where = f"{source}: {table}.{key}"
    if table == "server" or key == "revision":
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string")
    elif table in ("fixtures", "classifiers") or key == "only":
        _strings(value, where)
        if key == "only":
            for name in value:
                if name not in ALL_OPERATIONS:
                    raise ConfigError(f"{where}: " + _unknown("operation", name, ALL_OPERATIONS))
    elif key in ("max_examples", "seed"):
        least = 1 if key == "max_examples" else 0
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ConfigError(f"{where} must be an integer of at least {least}")
    elif key in ("time_budget", "timeout"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigError(f"{where} must be a number greater than 0")
    elif key == "read_only" and not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false")


def load_config(path: str | Path) -> dict[str, Any]:
    """A TOML config: ``[server]``, ``[fixtures]``, ``[classifiers]``, ``[run]`` tables,
    every key and value checked (:data:`CONFIG_KEYS`)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for table, content in data.items():
        if table not in CONFIG_KEYS:
            raise ConfigError(
                f"{path}: " + _unknown("table", f"[{table}]", [f"[{t}]" for t in CONFIG_KEYS])
            )
        if not isinstance(content, dict):
            raise ConfigError(f"{path}: {table} must be a table ([{table}])")
        for key, value in content.items():
            if table == "server" and key == "token":
                raise ConfigError(
                    f"{path}: a token does not belong in a config file; use {TOKEN_ENV}"
                )
            if key not in CONFIG_KEYS[table]:
                raise ConfigError(
                    f"{path}: "
                    + _unknown(
                        "key", f"{table}.{key}", [f"{table}.{k}" for k in CONFIG_KEYS[table]]
                    )
                )
            _check_value(table, key, value, str(path))
    return data


def fixtures_from(data: Mapping[str, Any], source: str = "config") -> Fixtures:
    """The fixtures of a config checked by :func:`load_config`."""
    base = Fixtures()
    table = data.get("fixtures") or {}
    changes: dict[str, Any] = {
        key: _strings(table[key], f"{source}: fixtures.{key}")
        for key in CONFIG_KEYS["fixtures"]
        if key in table
    }
    if classifiers := data.get("classifiers"):
        merged = dict(base.classifiers)
        for name, codes in classifiers.items():
            merged[name] = frozenset(_strings(codes, f"{source}: classifiers.{name}"))
        changes["classifiers"] = merged
    if len(changes.get("customers", base.customers)) < 2:
        raise ConfigError(f"{source}: fixtures.customers needs at least two known customers")
    if not changes.get("brm_ids", base.brm_ids):
        raise ConfigError(f"{source}: fixtures.brm_ids needs at least one known id")
    return replace(base, **changes)


def token_from(explicit: str | None) -> str | None:
    return explicit or os.environ.get(TOKEN_ENV) or None


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def brm_base(base_url: str, brm_base_url: str | None) -> str:
    return (brm_base_url or base_url.rstrip("/") + DEFAULT_BRM_PATH).rstrip("/")


# ------------------------------------------------------------------ revisions


def resolve_revision(name: str | None) -> str | None:
    """A revision's date (``latest`` resolved); None stays None. An unknown name is a
    :class:`ConfigError` whose one line names the known ones."""
    if name is None:
        return None
    from .. import revisions

    try:
        return revisions.resolve(name).name
    except SpecError as exc:
        known = ", ".join([*revisions.names(), revisions.LATEST, AUTO])
        raise ConfigError(f"unknown revision {name!r} (known: {known})") from exc


@functools.lru_cache(maxsize=8)
def revision_operations(revision: str | None) -> Mapping[str, Operation]:
    """operationId -> Operation of a revision (None: the default revision)."""
    from .. import revisions

    table = revisions.table()
    return table.resolve(revision or table.default).operations()


def operation_of(operation_id: str, revision: str | None) -> Operation:
    """One operation as the revision's document defines it (method, path, schemas)."""
    ops = revision_operations(revision)
    if operation_id not in ops:
        raise ConfigError(
            f"revision {revision}: no operation {operation_id!r} (known: {', '.join(ops)})"
        )
    return ops[operation_id]
