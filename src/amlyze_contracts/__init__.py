"""amlyze-contracts: validate AMLYZE / Oracle BRM payloads and contract-test servers.

The public API is imported lazily so that ``import amlyze_contracts`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "InputError",
    "Report",
    "Violation",
    "__version__",
    "validate_request",
    "validate_response",
]

if TYPE_CHECKING:
    from .engine.api import validate_request, validate_response
    from .violations import InputError, Report, Violation


def __getattr__(name: str) -> Any:
    if name in ("InputError", "Report", "Violation"):
        from . import violations

        return getattr(violations, name)
    if name in ("validate_request", "validate_response"):
        from .engine import api

        return getattr(api, name)
    raise AttributeError(f"module 'amlyze_contracts' has no attribute {name!r}")
