"""The domain's constants, in one place: the operations of the bundled specs, the
batch result types, the identifiers a result echoes, the UTF-8 byte-order mark,
JSON-pointer tokens and the exit codes every command shares.

Nothing here imports anything of the package: the validator, the reference server
and the contract suite all read these names, never their own copies.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

# ------------------------------------------------------------------ operations

BATCH_ACCOUNTS: Final = "batchAccounts"
BATCH_ACCOUNT_BALANCES: Final = "registerBatchAccountBalances"
ACCUMULATED_BALANCE: Final = "retrieveAccumulatedBalance"  # the Oracle BRM read
OPERATIONS: Final = (BATCH_ACCOUNTS, BATCH_ACCOUNT_BALANCES, ACCUMULATED_BALANCE)
# The account flow's other operations, documented by the vendor revisions' pages
# (specs/revisions.yaml), not by the seeds.
CREATE_ACCOUNT: Final = "createAccount"
VALIDATE_BATCH_ACCOUNTS: Final = "validateBatchAccounts"
REGISTER_ACCOUNT_BALANCE: Final = "registerAccountBalance"

# ------------------------------------------------------------------ batch results

REQUEST_ACCEPTED: Final = "REQUEST_ACCEPTED"
REQUEST_REJECTED: Final = "REQUEST_REJECTED"
# What a result's resultType may say: the documented values and the vendor's
# older OK/ERROR spelling (CONTRACT.md section 2, response.result-type).
ACCEPTED: Final = frozenset({REQUEST_ACCEPTED, "OK"})
REJECTED: Final = frozenset({REQUEST_REJECTED, "ERROR"})
RESULT_TYPES: Final = ACCEPTED | REJECTED


def result_type(result: Any) -> str | None:
    """A result's ``resultType`` when it is a string, else None: a server can send any
    JSON there, and a list or object is unhashable, so never looked up in the sets above."""
    value = result.get("resultType") if isinstance(result, dict) else None
    return value if isinstance(value, str) else None


# Item members a batch result echoes (businessUnit only when the item had one).
ECHOED_IDENTIFIERS: Final = ("communicationNumber", "accountExtId", "businessUnit")

# ------------------------------------------------------------------ input

UTF8_BOM: Final = b"\xef\xbb\xbf"
BOM_CHAR: Final = "\ufeff"  # the same mark in decoded text

# ------------------------------------------------------------------ exit codes

EXIT_OK: Final = 0
EXIT_VIOLATIONS: Final = 1
EXIT_USAGE: Final = 2  # usage error, unreadable input, unreachable or misconfigured server

# ------------------------------------------------------------------ JSON pointers (RFC 6901)


def escape_token(token: str | int) -> str:
    """One RFC 6901 reference token: ``~`` and ``/`` escaped."""
    text = str(token)  # the same object for a str
    if "~" not in text and "/" not in text:  # nearly always: no copies
        return text
    return text.replace("~", "~0").replace("/", "~1")


def unescape_token(token: str) -> str:
    """The member name of one reference token (no percent-decoding: that is the
    URI fragment's business, done by the caller where it applies)."""
    return token.replace("~1", "/").replace("~0", "~")


def join_pointer(tokens: Iterable[str | int]) -> str:
    return "".join(f"/{escape_token(t)}" for t in tokens)


def split_pointer(pointer: str) -> list[str]:
    """The unescaped tokens of a JSON pointer (not a URI fragment: no percent-decoding)."""
    if pointer in ("", "/"):
        return []
    return [unescape_token(t) for t in pointer[1:].split("/")]
