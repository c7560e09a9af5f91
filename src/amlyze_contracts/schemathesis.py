"""The contract in a team's own Schemathesis tests: the bundled specs as Schemathesis
schemas, and the contract suite's exchange checks as Schemathesis checks.

    import amlyze_contracts.schemathesis as amlyze   # registers the checks

    schema = amlyze.load_schema(revision="latest", base_url=BASE_URL)

    @schema.parametrize()
    def test_api(case):
        case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"})

Importing this module registers, with ``@schemathesis.check``:

* ``amlyze_response_rules``: ``validate_response(..., request=...)`` on every
  exchange: response.status-documented, response.content-type, response.schema, the
  batch.result-* rules (one result per item, correlation, result types, rejections
  with a code, timeElapsedMs) and the brm.* echo rules;
* ``amlyze_invalid_item_accepted``: an item of a batch that the validator finds
  invalid (rules independent of the server's known data) is never accepted: the
  suite's own ``batch.invalid-item-accepted`` check, on the request Schemathesis sent.

Each failure is titled with the contract's rule id. Failures of warning severity
(CONTRACT.md 3.1: an input.* item read leniently) do not fail a test. The checks
judge only operations of the bundled specs (by operationId), so a schema of another
API in the same process is left alone; a schema not loaded here is judged under the
default revision.

:func:`load_schema` enables the Schemathesis checks the contract suite runs
(``not_a_server_error``, ``status_code_conformance``, ``content_type_conformance``,
``response_schema_conformance``) and ours, and no other: the others contradict the
contract (a schema-breaking item gets 200 with a per-item rejection, a schema-valid
item may still meet unknown data, ...) or judge what it leaves open (``Allow``
headers, CORS answers). A schema loaded elsewhere keeps its own configuration.
"""

from __future__ import annotations

import copy
import functools
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from . import extras
from .engine.api import validate_request, validate_response

try:  # the contract extra: one line naming it, not a traceback, when it is missing
    import schemathesis
    from schemathesis.core.failures import Failure, FailureGroup

    from .contract.checks import (
        OTHER_METHOD,
        Case,
        CheckFailure,
        CheckFailures,
        Context,
        _from_violation,
        brm_id_segment,
        firewall_sensitive,
        invalid_item_accepted,
        item_expectations,
        outside_the_spec,
    )
    from .contract.client import Received, Sent
    from .contract.fuzz import CHECK_RULES
except ModuleNotFoundError as exc:
    if extras.extra_of(exc.name) != "contract":
        raise
    raise extras.MissingExtra(
        "contract", "amlyze_contracts.schemathesis", extras.missing("contract") or (str(exc.name),)
    ) from None

if TYPE_CHECKING:
    from schemathesis import BaseSchema

    from .specs import Spec

__all__ = [
    "CHECKS",
    "REVISION_KEY",
    "ContractViolation",
    "amlyze_invalid_item_accepted",
    "amlyze_response_rules",
    "load_schema",
]

StCase = schemathesis.Case[Any]
# The loaded document records its revision here, for the checks to validate against.
REVISION_KEY = "x-amlyze-revision"


class ContractViolation(Failure):
    """A contract rule broken by one exchange; ``title`` is the rule id."""

    kind_title: ClassVar[str] = "AMLYZE contract rule broken"
    __slots__ = ()

    @property
    def _unique_key(self) -> str:
        return self.title  # one finding per rule and operation


# ------------------------------------------------------------------ the schema


def load_schema(
    operation_id: str | None = None,
    revision: str | None = None,
    *,
    base_url: str | None = None,
) -> BaseSchema:
    """A bundled spec as a Schemathesis schema: the document of ``operation_id`` in
    ``revision`` (only that operation), or without one every AMLYZE operation of the
    revision in one schema (the BRM read has its own base URL: load it by its
    operationId). ``revision``: a date of revisions.yaml or ``latest``; without it,
    the default revision (the bundled specs). ``base_url``: where requests go (else
    pass ``base_url`` to ``call_and_validate``)."""
    from . import revisions
    from .specs import load

    table = revisions.table()
    rev = table.resolve(revision or table.default)
    if operation_id is not None:
        specs = [rev.operation(operation_id).spec]
    else:
        specs = [load(path) for op, path in rev.documents.items() if op != _brm_operation()]
    document = _merge(list(dict.fromkeys(specs)))
    document[REVISION_KEY] = rev.name
    # The suite's choice: Schemathesis's checks that agree with the contract, and ours;
    # every other built-in off (CONTRACT.md 3.1 leaves the server room there).
    enabled = [*CHECK_RULES, *(check.__name__ for check in CHECKS)]
    config = schemathesis.Config.from_dict(
        {"checks": {"enabled": False, **{name: {"enabled": True} for name in enabled}}}
    )
    schema: BaseSchema = schemathesis.openapi.from_dict(document, config=config)
    if base_url is not None:
        schema.config.update(base_url=base_url.rstrip("/"))
    if operation_id is not None:
        schema = schema.include(operation_id=operation_id)
    return schema


def _brm_operation() -> str:
    from .domain import ACCUMULATED_BALANCE

    return ACCUMULATED_BALANCE


def _merge(specs: list[Spec]) -> dict[str, Any]:
    """One document of several: paths together; a component defined differently by
    two documents is renamed in the later one (``Name.<spec name>``, refs rewritten)."""
    merged = copy.deepcopy(dict(specs[0].document))
    for spec in specs[1:]:
        document = copy.deepcopy(dict(spec.document))
        components = merged.setdefault("components", {})
        renames: dict[str, str] = {}
        for section, entries in (document.get("components") or {}).items():
            target = components.setdefault(section, {})
            for name, value in entries.items():
                if name in target and target[name] != value:
                    renames[f"#/components/{section}/{name}"] = (
                        f"#/components/{section}/{name}.{spec.name}"
                    )
        document = _rewrite_refs(document, renames)
        for section, entries in (document.get("components") or {}).items():
            for name, value in entries.items():
                old = f"#/components/{section}/{name}"
                key = renames.get(old, old).rsplit("/", 1)[-1]
                components[section].setdefault(key, value)
        merged["paths"].update(document.get("paths") or {})
    return merged


def _rewrite_refs(node: Any, renames: Mapping[str, str]) -> Any:
    if not renames:
        return node
    if isinstance(node, dict):
        ref = node.get("$ref")
        out = {k: _rewrite_refs(v, renames) for k, v in node.items()}
        if isinstance(ref, str) and ref in renames:
            out["$ref"] = renames[ref]
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, renames) for v in node]
    return node


# ------------------------------------------------------------------ the checks


def _operation_id(case: StCase) -> str | None:
    raw = getattr(case.operation.definition, "raw", None)
    op = raw.get("operationId") if isinstance(raw, Mapping) else None
    return op if isinstance(op, str) and op in _known_operations() else None


@functools.lru_cache(maxsize=1)
def _known_operations() -> frozenset[str]:
    from . import revisions

    return frozenset(op for rev in revisions.table().revisions.values() for op in rev.documents)


def _revision(case: StCase) -> str:
    from . import revisions

    raw = case.operation.schema.raw_schema
    name = raw.get(REVISION_KEY) if isinstance(raw, Mapping) else None
    return str(name) if name else revisions.table().default


def _received(response: schemathesis.Response) -> Received:
    return Received(
        status=response.status_code,
        headers={k: ", ".join(v) for k, v in response.headers.items()},
        body=response.content,
        elapsed=response.elapsed,
        truncated=response.content_size > len(response.content),
    )


def _sent_body(response: schemathesis.Response) -> bytes | None:
    body = response.request.body
    if body is None or isinstance(body, bytes):
        return body
    return str(body).encode("utf-8", "surrogatepass")


def _request(case: StCase, response: schemathesis.Response) -> Any:
    """What validate_response reads as the request: the body as sent (a batch or a
    single operation), or the BRM read's parameters."""
    if case.method.upper() == "GET":
        # The id as sent: the URL's last segment, percent-decoded ("+" stays "+").
        segment = brm_id_segment(response.request.url or "") or ""
        params: dict[str, Any] = {"id": urllib.parse.unquote(segment)}
        for name in ("@type", "fields"):
            value = (case.query or {}).get(name)
            if value is not None:
                params[name] = str(value)
        return params
    return _sent_body(response)


def _raise(case: StCase, failures: Iterable[CheckFailure]) -> None:
    """Schemathesis failures for the errors; warnings are not failures."""
    errors = [
        ContractViolation(operation=case.operation.label, title=f.rule, message=f.message)
        for f in failures
        if f.severity == "error"
    ]
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise FailureGroup(errors)


Check = Callable[[schemathesis.CheckContext, schemathesis.Response, StCase], bool | None]


@schemathesis.check
def amlyze_response_rules(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: StCase
) -> bool | None:
    """The exchange rules ``validate_response(..., request=...)`` decides."""
    operation_id = _operation_id(case)
    if operation_id is None:
        return None
    received = _received(response)
    method = (response.request.method or case.method).upper()
    if method in ("OPTIONS", "HEAD") and method != case.operation.method.upper():
        return None  # anything but a 5xx (CONTRACT.md 3.1): not_a_server_error's business
    if method != case.operation.method.upper():
        # Another method on the operation's path (Schemathesis's coverage phase): judged
        # by its status class only, as the suite does (CONTRACT.md 3.1).
        sent = Sent(method, response.request.url or "", {}, _sent_body(response))
        outside = Case(operation_id, "schemathesis", sent, scope=OTHER_METHOD)
        return _run(case, outside_the_spec, received, outside)
    if not 200 <= received.status < 300 and firewall_sensitive(response.request.url or ""):
        # An id encoding a firewall may refuse itself (Spring's StrictHttpFirewall: %5C,
        # %2F, ...): its 400 is the stack's, not the API's; the suite only warns
        # (brm.not-found), and a 5xx is not_a_server_error's business (CONTRACT.md 3.1).
        return None
    if received.truncated:
        _raise(case, [CheckFailure("response.schema", "the body was not read whole")])
    report = validate_response(
        operation_id,
        received.status,
        received.body,
        headers=received.headers,
        request=_request(case, response),
        revision=_revision(case),
    )
    failures = [_from_violation(v) for v in report.violations]
    if not received.body and 200 <= received.status < 300:
        failures.append(CheckFailure("response.schema", "an empty body; a JSON body is documented"))
    _raise(case, failures)
    return True


@schemathesis.check
def amlyze_invalid_item_accepted(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: StCase
) -> bool | None:
    """batch.invalid-item-accepted: the items the validator rejects (without the
    server's known data) must not get an accepting result."""
    operation_id = _operation_id(case)
    if operation_id is None or case.method.upper() == "GET":
        return None
    from . import revisions

    rev = revisions.resolve(_revision(case))
    op = rev.operation(operation_id) if operation_id in rev.documents else None
    spec = op.spec if op is not None else None
    batch = op.batch_item if op is not None else None
    body = _sent_body(response)
    if batch is None or body is None:
        return None  # a single operation: its 200/400 bodies are response rules
    import orjson

    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    items = parsed.get(batch[0]) if isinstance(parsed, dict) else None
    if not isinstance(items, list):
        return None
    report = validate_request(operation_id, body, spec=spec)
    invalid = item_expectations(operation_id, report.errors, items, _revision(case))
    if not invalid:
        return None
    ours = Case(
        operation_id,
        "schemathesis",
        Sent(case.method.upper(), response.request.url or "", {}, body),
        phase="schemathesis",
        request=parsed,
        invalid_items=invalid,
        item_key=batch[0],
    )
    return _run(case, invalid_item_accepted, _received(response), ours)


def _run(
    case: StCase,
    check: Callable[[Context, Received, Case], bool | None],
    received: Received,
    ours: Case,
) -> bool | None:
    """One of the contract suite's own checks, its failures as Schemathesis's."""
    try:
        return check(Context(), received, ours)
    except CheckFailures as group:
        _raise(case, group.failures)
    except CheckFailure as failure:
        _raise(case, [failure])
    return True


# For an explicit ``case.call_and_validate(checks=CHECKS)`` (ours only) or
# ``excluded_checks=CHECKS``; registered checks already run by default.
CHECKS: tuple[Check, ...] = (amlyze_response_rules, amlyze_invalid_item_accepted)
