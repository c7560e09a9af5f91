"""Exchanges checked inside other people's code: what the HTTP client hooks
(:mod:`.clients`) and the ASGI middleware (:mod:`.asgi`) share.

Which operation an exchange is, and its validation, are the proxy's
(:class:`.proxy.exchange.ExchangeValidator`): one rule set, one way to match an
operation by method and path. Here: that validator for a revision, the bound on the
bodies read, and the one line a violation is told in (the proxy's log too),
credentials scrubbed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from .redact import scrub
from .violations import Report, Violation

if TYPE_CHECKING:
    from .catalogue import RuleSet
    from .proxy.exchange import Classifiers, ExchangeValidator

Rules = Iterable[str | Path] | None


def check_mode(mode: str, modes: Sequence[str]) -> None:
    if mode not in modes:
        raise ValueError(f"mode must be one of {', '.join(modes)}, not {mode!r}")


def exchange_validator(
    revision: str | None,
    rules: Rules | RuleSet,
    severities: Mapping[str, str] | None,
    classifiers: Classifiers,
) -> ExchangeValidator:
    """The proxy's validator over the documents of ``revision`` (None: the bundled
    specs); an unknown revision, rule file or snapshot fails here, not per exchange."""
    from . import revisions
    from .engine.compiler import ruleset_of
    from .proxy.exchange import ExchangeValidator

    specs = revisions.resolve(revision).specs() if revision is not None else None
    return ExchangeValidator(
        rules=ruleset_of(rules, severities), classifiers=classifiers, specs=specs
    )


def max_bytes(given: int | None) -> int:
    """The largest body validated: the proxy's ``--max-validate-bytes`` default."""
    from .proxy.server import Options

    return Options.max_validate_bytes if given is None else given


def scrubbed(report: Report, secrets: tuple[str, ...]) -> Report:
    """``report`` with the request's credentials replaced in every message (a peer
    may echo them in a body a message quotes)."""
    if not secrets:
        return report
    violations = [
        v
        if not any(s in v.message for s in secrets)
        else msgspec.structs.replace(v, message=scrub(v.message, secrets))
        for v in report.violations
    ]
    return Report(report.operation_id, violations, report.kind)


def line(kind: str, v: Violation, message: str | None = None) -> str:
    """A violation as the proxy logs it, after the exchange's method, path and operation:
    ``response error batch.result-per-item /results: ... [code]`` (``kind``: request or
    response; ``message``: the violation's own, scrubbed, when given)."""
    code = f" [{v.code}]" if v.code else ""
    text = v.message if message is None else message
    return f"{kind} {v.severity} {v.rule} {v.pointer or '/'}: {text}{code}"
