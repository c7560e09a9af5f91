"""Optional extras: which modules each needs, and the one line that says how to
install a missing one (exit code 2), instead of a ``ModuleNotFoundError`` traceback.

The base install is the validator; the reference server, the contract suite and the
structural spec lint are extras (``pyproject.toml``), so a bank's payload pipeline
does not pull in a web server or a fuzzer.
"""

from __future__ import annotations

import importlib.util

# extra -> the top-level modules it installs (pyproject.toml [project.optional-dependencies]).
EXTRAS: dict[str, tuple[str, ...]] = {
    "server": ("starlette", "uvicorn"),
    "contract": ("httpx", "hypothesis", "schemathesis"),
    "lint": ("openapi_spec_validator",),
    # After "contract": extra_of("httpx") names the extra of the commands.
    "clients": ("httpx", "requests"),
}


class MissingExtra(Exception):
    """A feature's optional dependencies are not installed."""

    def __init__(self, extra: str, what: str, modules: tuple[str, ...]) -> None:
        self.extra = extra
        self.modules = modules
        names = ", ".join(m.replace("_", "-") for m in modules)
        verb = "is" if len(modules) == 1 else "are"
        super().__init__(
            f"{what} needs the '{extra}' extra ({names} {verb} not installed): "
            f"pip install 'amlyze-contracts[{extra}]'"
        )


def missing(extra: str, modules: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The modules of ``extra`` (or those of them given) that cannot be imported here."""
    return tuple(m for m in modules or EXTRAS[extra] if importlib.util.find_spec(m) is None)


def require(extra: str, what: str, modules: tuple[str, ...] | None = None) -> None:
    """Raise :class:`MissingExtra` naming ``what`` when ``extra`` is not installed
    (``modules``: only these of its modules are needed, e.g. one of two clients)."""
    absent = missing(extra, modules)
    if absent:
        raise MissingExtra(extra, what, absent)


def extra_of(module_name: str | None) -> str | None:
    """The extra that installs ``module_name`` (a ModuleNotFoundError's ``name``)."""
    top = (module_name or "").split(".", 1)[0]
    return next((extra for extra, modules in EXTRAS.items() if top in modules), None)
