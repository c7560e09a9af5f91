"""Credentials never leave the process unredacted: the one list of secret headers,
used by the contract suite's reports and by the proxy's HAR file and log lines."""

from __future__ import annotations

from collections.abc import Mapping

REDACTED = "***"
# Request credentials and the cookies a server sets.
SECRET_HEADERS = frozenset(("authorization", "proxy-authorization", "cookie", "set-cookie"))


def redact_value(name: str, value: str) -> str:
    """``value`` of header ``name`` with any credential replaced (the scheme kept)."""
    if name.lower() not in SECRET_HEADERS:
        return value
    scheme = value.split(" ", 1)[0] if " " in value else ""
    return f"{scheme} {REDACTED}" if scheme and "=" not in scheme else REDACTED


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: redact_value(name, value) for name, value in headers.items()}
