"""amlyze-contracts: validate AMLYZE / Oracle BRM payloads and contract-test servers.

The public API is imported lazily so that ``import amlyze_contracts`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it (imported on first use).
_HOMES: dict[str, str] = {
    "InputError": "report",
    "Report": "report",
    "Violation": "report",
    "validate_request": "validation",
    "validate_response": "validation",
    "RuleFileError": "rules",
    "ClassifierError": "classifiers",
    "SpecError": "specs",
    "MissingExtra": "extras",
}

__all__ = [
    "ClassifierError",
    "InputError",
    "MissingExtra",
    "Report",
    "RuleFileError",
    "SpecError",
    "Violation",
    "__version__",
    "validate_request",
    "validate_response",
]

if TYPE_CHECKING:
    from .classifiers import ClassifierError
    from .extras import MissingExtra
    from .report import InputError, Report, Violation
    from .rules import RuleFileError
    from .specs import SpecError
    from .validation import validate_request, validate_response


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'amlyze_contracts' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
