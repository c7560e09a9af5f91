"""Item checks: the project's rule set (the validator) and the server's known data.

The validator is called once per request on the raw bytes (its fast path for valid
bodies); this module is the only place the server talks to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..domain import BATCH_ACCOUNTS
from ..violations import Report, Violation
from .fixtures import CUSTOMERS, FIXTURE_CLASSIFIERS
from .state import Rejection

if TYPE_CHECKING:
    from .routes import Route

FALLBACK_CODE = "001"  # the vendor's generic "mandatory/invalid field" code
UNKNOWN_CUSTOMER = Rejection("404", "BusinessEntity with given extId does not exist in amlyze")


def validate(route: Route, raw: bytes) -> Sequence[Violation]:
    """All violations of the project's rule set for one request body, against the
    document of the route's revision."""
    from ..engine.api import validate_request  # lazily: keeps `import server` cheap

    # Positions are never shown to a client: skip computing them (and the revision
    # hint: a server answers for the revision it implements).
    report: Report = validate_request(
        route.operation_id, raw, classifiers=FIXTURE_CLASSIFIERS, positions=False,
        spec=route.spec,
    )  # fmt: skip
    return report.violations


def _item_index(pointer: str, prefix: str) -> int | None:
    """``/accounts/3/bic`` -> 3 (for prefix ``/accounts/``); None outside any item."""
    if not pointer.startswith(prefix):
        return None
    head = pointer[len(prefix) :].split("/", 1)[0]
    return int(head) if head.isdigit() else None


def rejection_for(violation: Violation) -> Rejection:
    return Rejection(violation.code or FALLBACK_CODE, f"{violation.rule}: {violation.message}")


def reject_items(
    violations: Iterable[Violation], item_key: str | None, count: int
) -> dict[int, Rejection]:
    """Item index -> rejection, from the first error-severity violation of each item.

    Warnings never reject. An error outside every item (e.g. a duplicated top-level
    member) makes every item invalid, so it rejects them all. ``item_key`` None: the
    body is the one item of a single operation.
    """
    prefix = f"/{item_key}/"
    rejected: dict[int, Rejection] = {}
    for violation in violations:
        if violation.severity != "error":
            continue
        index = None if item_key is None else _item_index(violation.pointer, prefix)
        targets: Iterable[int] = range(count) if index is None else (index,)
        for i in targets:
            if 0 <= i < count and i not in rejected:
                rejected[i] = rejection_for(violation)
    return rejected


def check_known_data(operation_id: str, item: Any) -> Rejection | None:
    """Checks against the server's own data that the rule set cannot know
    (``operation_id``: the operation whose state the request uses)."""
    if operation_id == BATCH_ACCOUNTS and isinstance(item, dict):
        customer = item.get("businessEntityExtId")
        if isinstance(customer, str) and customer not in CUSTOMERS:
            return UNKNOWN_CUSTOMER
    return None
