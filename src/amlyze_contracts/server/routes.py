"""What the server serves, and where: the AMLYZE operations of one vendor revision.

Method and path come from the revision's documents (``specs/revisions.yaml``, read by
``revisions.py``), never from a copy here: under ``2024-11-04`` the balances batch is
``PUT``, from ``2024-11-28`` it is ``POST``. What the documents leave to the server is
written down here, once: which state an operation shares, and which one saves nothing.
The Oracle BRM read is routed by ``asgi.py`` (the same document in every revision).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ..domain import (
    ACCUMULATED_BALANCE,
    BATCH_ACCOUNT_BALANCES,
    BATCH_ACCOUNTS,
    CREATE_ACCOUNT,
    REGISTER_ACCOUNT_BALANCE,
    REQUEST_ACCEPTED,
    VALIDATE_BATCH_ACCOUNTS,
)

if TYPE_CHECKING:
    from ..specs import Operation, Spec

# The operation whose state an operation reads and writes (accepted communicationNumbers,
# account owners, known customers): one account flow and one balance flow, so a number
# used for a single account is used for the batch too (README, "Decisions").
STATE_OF: Final[Mapping[str, str]] = {
    CREATE_ACCOUNT: BATCH_ACCOUNTS,
    VALIDATE_BATCH_ACCOUNTS: BATCH_ACCOUNTS,
    REGISTER_ACCOUNT_BALANCE: BATCH_ACCOUNT_BALANCES,
}
# Checked exactly as if saved, nothing recorded (the vendor: "without saving").
DRY_RUNS: Final = frozenset({VALIDATE_BATCH_ACCOUNTS})
# The name of the vendor's own example among a document's 200 examples.
PUBLISHED_EXAMPLE: Final = "published"


@dataclass(frozen=True, slots=True, eq=False)
class Route:
    """One AMLYZE operation as one revision documents it, with what the server derives
    from it computed once (``Route.of``), not per request."""

    operation: Operation
    revision: str  # a date of revisions.yaml (``latest`` already resolved)
    item_key: str | None  # the batch's item array; None: a single operation (one item)
    item_schema: Mapping[str, Any]  # one item (the whole body of a single operation)
    state_operation: str  # whose numbers, owners and known data it reads and writes
    saves: bool  # False: decided as if saved, nothing recorded
    accepted_type: str  # a single operation's resultType on 200

    @classmethod
    def of(cls, operation: Operation, revision: str) -> Route:
        batch = operation.batch_item
        op_id = operation.operation_id
        return cls(
            operation,
            revision,
            batch[0] if batch else None,
            (batch[1] if batch else operation.request_schema) or {},
            STATE_OF.get(op_id, op_id),
            op_id not in DRY_RUNS,
            _published_result_type(operation),
        )

    @property
    def operation_id(self) -> str:
        return self.operation.operation_id

    @property
    def method(self) -> str:
        return self.operation.method.upper()

    @property
    def path(self) -> str:
        return self.operation.path

    @property
    def spec(self) -> Spec:
        return self.operation.spec


def _published_result_type(operation: Operation) -> str:
    """The ``resultType`` of the vendor's own 200 example (``OK`` for an account,
    ``REQUEST_ACCEPTED`` for a balance); ``REQUEST_ACCEPTED`` without one."""
    response = operation.response(200) or {}
    media = (response.get("content") or {}).get("application/json") or {}
    example = (media.get("examples") or {}).get(PUBLISHED_EXAMPLE) or {}
    value = example.get("value") if isinstance(example, Mapping) else None
    found = value.get("resultType") if isinstance(value, Mapping) else None
    return found if isinstance(found, str) else REQUEST_ACCEPTED


def revision_name(revision: str | None) -> str:
    """A revision date (``latest`` resolved; None is the default). Unknown: SpecError."""
    from .. import revisions

    table = revisions.table()
    return table.resolve(revision or table.default).name


def routes(revision: str | None = None) -> dict[str, dict[str, Route]]:
    """path -> method -> route, for the AMLYZE operations of a revision."""
    from .. import revisions

    name = revision_name(revision)
    out: dict[str, dict[str, Route]] = {}
    for operation_id, op in revisions.resolve(name).operations().items():
        if operation_id != ACCUMULATED_BALANCE:
            route = Route.of(op, name)
            out.setdefault(route.path, {})[route.method] = route
    return out


def route(operation_id: str, revision: str | None = None) -> Route:
    """One operation's route under a revision (KeyError when the revision lacks it)."""
    for by_method in routes(revision).values():
        for found in by_method.values():
            if found.operation_id == operation_id:
                return found
    raise KeyError(operation_id)
