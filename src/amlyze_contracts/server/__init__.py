"""The embedded reference server: a correct implementation of the three bundled
operations (CONTRACT.md sections 3 and 4), plus a catalogue of injectable bugs.

    from amlyze_contracts.server import app, running, BUGS
    with running(bugs=["no-o005"]) as base_url:
        ...
"""

from __future__ import annotations

from .app import ReferenceServer, app
from .bugs import BUGS, Bug
from .runner import running, serve

__all__ = ["BUGS", "Bug", "ReferenceServer", "app", "running", "serve"]
