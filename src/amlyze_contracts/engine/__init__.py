"""The validator engine, in layers (docs/ARCHITECTURE.md walks one request through):

* :mod:`.api`: the front door, ``validate_request`` / ``validate_response``;
* :mod:`.shapes`: which operation and shape a body is (the CLI uses it too);
* :mod:`.compiler`: an operation's schemas and rules compiled once, cached;
* :mod:`.codegen`: the rules as generated Python source, with its sentinels;
* :mod:`.schema`: the schema as msgspec Structs (fast) and jsonschema-rs (slow);
* :mod:`.fast`, :mod:`.fast_columns`: the fast path, "no violation at all" or doubt;
* :mod:`.slow`, :mod:`.slow_columns`, :mod:`.jsoninput`: the slow path, every
  violation with its position.

The rule catalogue it compiles is :mod:`amlyze_contracts.catalogue`; the rule
language's conditions are :mod:`amlyze_contracts.conditions`. Names are imported on
first use, so ``import amlyze_contracts.engine`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["compiled", "detect_bytes", "detect_operation", "validate_request", "validate_response"]

if TYPE_CHECKING:
    from .api import validate_request, validate_response
    from .compiler import compiled
    from .shapes import detect_bytes, detect_operation

_HOMES = {
    "validate_request": "api",
    "validate_response": "api",
    "compiled": "compiler",
    "detect_operation": "shapes",
    "detect_bytes": "shapes",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'amlyze_contracts.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
