"""The embedded reference server: a correct implementation of the three bundled
operations (CONTRACT.md sections 3 and 4), or of a vendor revision's operations
(``revision=``, see ``routes.py``), plus a catalogue of injectable bugs.

    from amlyze_contracts.server import app, running, BUGS
    with running(bugs=["no-o005"], profile="production", revision="latest") as base_url:
        ...

Names are imported lazily, so ``amlyze_contracts.server.fixtures`` (the known data
the contract suite also uses) can be imported without the ``server`` extra.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["BUGS", "PROFILES", "Bug", "ReferenceServer", "app", "running", "serve"]

if TYPE_CHECKING:
    from .asgi import ReferenceServer, app
    from .bugs import BUGS, Bug
    from .fixtures import PROFILES
    from .runner import running, serve

_HOMES = {
    "app": "asgi",
    "PROFILES": "fixtures",
    "ReferenceServer": "asgi",
    "BUGS": "bugs",
    "Bug": "bugs",
    "running": "runner",
    "serve": "runner",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'amlyze_contracts.server' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
