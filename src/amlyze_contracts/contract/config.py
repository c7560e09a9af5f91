"""Options and fixtures of one contract-suite run.

Fixtures default to the default profile of CONTRACT.md section 4 (the reference
server's own data, imported so the two never disagree); a TOML file describes a
real deployment instead. Classifiers come from the server when it serves them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..server import fixtures

TOKEN_ENV = "AMLYZE_CONTRACTS_TOKEN"
OPERATIONS = ("batchAccounts", "registerBatchAccountBalances", "retrieveAccumulatedBalance")
BATCH_OPERATIONS = OPERATIONS[:2]
BRM_OPERATION = OPERATIONS[2]
DEFAULT_BRM_PATH = "/brm/prepayBalanceManagement/v1"


class ConfigError(Exception):
    """The config file or an option is unusable (exit code 2)."""


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
    only: tuple[str, ...] = OPERATIONS
    max_examples: int = 25
    time_budget: float = 50.0
    timeout: float = 10.0
    seed: int | None = None
    derandomize: bool = False
    read_only: bool = False
    # A failed check of at least this severity fails the run. Warnings (an interop
    # value rejected, an input.* item accepted, CONTRACT.md 3.1) are reported, not fatal.
    fail_on: str = "error"
    schemathesis: bool = True  # the generic fuzzing phase
    max_response_bytes: int = 8 * 1024 * 1024
    fixtures: Fixtures = field(default_factory=Fixtures)

    @property
    def writes(self) -> bool:
        return not self.read_only

    def with_(self, **changes: Any) -> Options:
        return replace(self, **changes)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings")
    return tuple(value)


def load_config(path: str | Path) -> dict[str, Any]:
    """A TOML config: ``[server]``, ``[fixtures]``, ``[classifiers]``, ``[run]`` tables."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    known = {"server", "fixtures", "classifiers", "run"}
    if unknown := set(data) - known:
        raise ConfigError(f"{path}: unknown tables {', '.join(sorted(unknown))}")
    return data


def fixtures_from(data: Mapping[str, Any], source: str = "config") -> Fixtures:
    base = Fixtures()
    table = data.get("fixtures") or {}
    changes: dict[str, Any] = {}
    if "customers" in table:
        changes["customers"] = _strings(table["customers"], f"{source}: fixtures.customers")
    if "brm_ids" in table:
        changes["brm_ids"] = _strings(table["brm_ids"], f"{source}: fixtures.brm_ids")
    if "brm_types" in table:
        changes["brm_types"] = _strings(table["brm_types"], f"{source}: fixtures.brm_types")
    if unknown := set(table) - {"customers", "brm_ids", "brm_types"}:
        raise ConfigError(f"{source}: unknown fixtures keys {', '.join(sorted(unknown))}")
    classifiers = data.get("classifiers")
    if classifiers is not None:
        if not isinstance(classifiers, dict):
            raise ConfigError(f"{source}: [classifiers] must map names to code lists")
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
