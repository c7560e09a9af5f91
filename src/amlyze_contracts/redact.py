"""Credentials never leave the process unredacted: the one list of secret headers,
used by the contract suite's reports, the proxy's HAR file and log lines, the client
hooks and the ASGI middleware."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

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


def credentials(headers: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """The credentials a request's headers carry (tokens, cookie values): scrubbed
    from every text written about the exchange, since a peer may echo them in a body."""
    found = []
    for name, value in headers:
        lowered = name.lower()
        if lowered in ("authorization", "proxy-authorization"):
            credential = value.split(" ", 1)[-1].strip()
            if len(credential) >= 4:
                found.append(credential)
        elif lowered == "cookie":
            for part in value.split(";"):
                cookie = part.partition("=")[2].strip()
                if len(cookie) >= 4:
                    found.append(cookie)
    return tuple(found)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each of ``secrets`` (from :func:`credentials`) replaced."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text
