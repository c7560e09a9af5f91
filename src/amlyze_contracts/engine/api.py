"""validate_request / validate_response: the library's front door.

Every request is first offered to the fast path (:mod:`engine.fast`: msgspec decode
into generated Structs + the compiled rules); it can only say "no violation at all".
Any doubt sends the body to the slow path (:mod:`engine.slow`), which parses with
positions, runs jsonschema-rs, the column diagnosis and the rules' diagnose
functions, and attaches line/column. So a valid body never pays for diagnostics.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .. import rule_functions
from ..catalogue import RuleSet
from ..specs import Operation, Spec, operation
from ..violations import InputError, Report, Violation
from .compiler import Body, Classifiers, compiled_for, freeze_snapshot, ruleset_of
from .fast import VALID, fast_check
from .jsoninput import read_input
from .schema import SlowValidator
from .slow import (
    RequestCall,
    collector_paused,
    diagnose_request,
    json_like,
    positioned,
    with_severity,
)


def validate_request(
    operation_id: str | None,
    body: Body,
    *,
    rules: Iterable[str | Path] | RuleSet | None = None,
    severities: Mapping[str, str] | None = None,
    classifiers: Classifiers = None,
    item: bool | None = None,
    spec: Spec | None = None,
    positions: bool = True,
    revision: str | None = None,
) -> Report:
    """Validate a request body (bytes, str, or parsed JSON) for one operation.

    ``item=True`` validates one element of a batch against the item schema;
    ``None`` decides from the shape. ``operation_id=None`` detects the operation
    from the shape (``input.operation-unknown`` when nothing fits).
    ``rules`` adds rule files; ``severities`` maps rule ids to error|warning|off;
    ``classifiers`` maps classifier names to codes (or names a JSON snapshot file).
    ``positions=False`` skips line/column for callers that never show them (a server),
    and the revision hint below (a server answers for the revision it implements).
    ``revision`` (a date of ``revisions.yaml`` or ``latest``) validates against the
    vendor's pages of that date; without it, the bundled specs (``2024-11-04``). A
    body with errors that another revision accepts gets a hint naming that revision.
    """
    return _validate_request(
        operation_id, body, rules, severities, classifiers, item, spec, positions, revision, True
    )


def _validate_request(
    operation_id: str | None,
    body: Body,
    rules: Iterable[str | Path] | RuleSet | None,
    severities: Mapping[str, str] | None,
    classifiers: Classifiers,
    item: bool | None,
    spec: Spec | None,
    positions: bool,
    revision: str | None,
    hint: bool,
) -> Report:
    if not isinstance(body, (bytes, bytearray, memoryview)) and not json_like(body):
        raise InputError(f"body must be bytes, str or parsed JSON, not {type(body).__name__}")
    if isinstance(body, (bytearray, memoryview)):
        body = bytes(body)
    ruleset = ruleset_of(rules, severities)
    snapshot = freeze_snapshot(classifiers)
    tried: dict[bool, int] = {}
    detect_in: tuple[Spec, ...] | None = None
    if revision is not None:
        spec, detect_in = _revision_specs(revision, operation_id, spec)
    if operation_id is not None:
        comp = compiled_for(operation_id, ruleset, snapshot, spec)
        as_item = item is True
        proven = tried[as_item] = fast_check(comp, body, as_item=as_item)
        if proven == VALID:
            return Report(operation_id, [], "item" if as_item else "request")

    # Slow path: parse with diagnostics (the schema too, unless the fast path proved it).
    call = RequestCall(operation_id, item, ruleset, snapshot, spec, positions, tried, detect_in)
    with collector_paused():
        report = diagnose_request(body, call)
    if (
        hint
        and positions
        and not report.valid
        and report.operation_id
        and (revision or spec is None)
    ):
        fits = _other_revisions(report, body, ruleset, classifiers, revision)
        if fits:
            _add_hint(report, fits)
    return report


def _revision_specs(
    revision: str, operation_id: str | None, spec: Spec | None
) -> tuple[Spec | None, tuple[Spec, ...] | None]:
    """``spec`` for a named operation, or the documents to detect one among."""
    from .. import revisions
    from ..specs import SpecError, load

    if spec is not None:
        raise InputError("give spec= or revision=, not both")
    rev = revisions.resolve(revision)
    if operation_id is None:
        return None, tuple(rev.specs())
    path = rev.documents.get(operation_id)
    if path is None:
        known = ", ".join(rev.documents)
        raise SpecError(f"revision {rev.name} has no operation {operation_id!r} (known: {known})")
    return load(path), None


def _other_revisions(
    report: Report,
    body: Body,
    ruleset: RuleSet,
    classifiers: Classifiers,
    revision: str | None,
) -> list[str]:
    """The revisions (other than the one used) whose document for the operation accepts
    the body; each distinct document is tried once, and only for a body with errors."""
    from .. import revisions
    from ..specs import load

    # The rules are the same under every revision: only a schema error can be one
    # that another revision's document does not make.
    if not any(v.rule.startswith("schema.") for v in report.errors):
        return []
    table = revisions.table()
    operation_id = report.operation_id
    assert operation_id is not None
    used = table.resolve(revision or table.default).documents.get(operation_id)
    others = [
        (name, path)
        for name, rev in table.revisions.items()
        if (path := rev.documents.get(operation_id)) is not None and path != used
    ]
    if not others:  # one document in every revision (batchAccounts): nothing to try
        return []
    value = body
    if isinstance(body, (bytes, str)):
        parsed = read_input(body)  # a second parse: only for a body with schema errors
        if not parsed.ok:
            return []
        value = parsed.value
    as_item = report.kind == "item"
    snapshot = freeze_snapshot(classifiers)
    verdicts: dict[Path, bool] = {}
    fits: list[str] = []
    for name, path in others:
        if path not in verdicts:
            comp = compiled_for(operation_id, ruleset, snapshot, load(path))
            target = comp.item if as_item else comp.body
            # A cheap refusal first (jsonschema-rs stops at the first error); the full
            # validation (rules too) only for a body that document's schema accepts.
            verdicts[path] = (
                target is not None
                and target.slow.is_valid(value)
                and _validate_request(
                    operation_id, value, ruleset, None, classifiers, as_item, None, False,
                    name, False,
                ).valid
            )  # fmt: skip
        if verdicts[path]:
            fits.append(name)
    return fits


def _add_hint(report: Report, fits: list[str]) -> None:
    import msgspec

    first = report.errors[0]
    also = f" (also {', '.join(fits[1:])})" if len(fits) > 1 else ""
    hint = f"; the body fits vendor revision {fits[0]}{also}: use --revision {fits[0]}"
    index = report.violations.index(first)
    report.violations[index] = msgspec.structs.replace(first, message=first.message + hint)


def validate_response(
    operation_id: str,
    status: int,
    body: Body,
    *,
    headers: Mapping[str, str] | None = None,
    request: Any = None,
    rules: Iterable[str | Path] | RuleSet | None = None,
    severities: Mapping[str, str] | None = None,
    spec: Spec | None = None,
    revision: str | None = None,
) -> Report:
    """Validate a response body for one operation and status.

    ``request``: for the AMLYZE batch operations the request body that was sent
    (bytes, str or parsed); for the BRM read, the request parameters
    ``{"id": ..., "@type": ..., "fields": ...}``. With it, the request/response
    rules of the contract run too. ``revision`` as for :func:`validate_request`.
    """
    ruleset = ruleset_of(rules, severities)
    if revision is not None:
        spec = _revision_specs(revision, operation_id, spec)[0]
    op = operation(operation_id, [spec] if spec else None)
    report = Report(operation_id, [], "response")
    text: str | None = None
    value: Any = body

    def run(
        registry: Mapping[str, rule_functions.ExchangeRule], ex: rule_functions.Exchange
    ) -> None:
        for rule in ruleset.rules:
            fn = registry.get(rule.function or "")
            if fn is None or rule.severity == "off":
                continue
            for finding in fn(ex):
                severity = finding.severity or rule.severity
                message = rule.render(**finding.values)
                report.violations.append(
                    Violation(rule.id, severity, finding.pointer, message, rule.code)
                )

    # The response rules read the status and headers only: they run before the body
    # is read (a text/html error page is a content-type failure too).
    empty = isinstance(body, (bytes, bytearray, memoryview, str)) and len(body) == 0
    # No body (None, or no bytes) is not checked against the schema; a JSON null is.
    has_body = body is not None and not empty
    response = rule_functions.Exchange(
        op.operation_id,
        status,
        None,
        headers=headers,
        documented=tuple(op.statuses),
        status_known=op.response(status) is not None,
        has_body=has_body,
    )
    run(rule_functions.RESPONSE_RULES, response)
    if isinstance(body, (bytes, bytearray, memoryview, str)):
        raw = bytes(body) if isinstance(body, (bytearray, memoryview)) else body
        if len(raw) == 0:
            value = None
        else:
            parsed = read_input(raw)
            report.extend(with_severity(parsed.violations, ruleset))
            if not parsed.ok:
                return report.sorted()
            value, text = parsed.value, parsed.text

    schema = op.response_schema(status)
    if schema is not None and has_body:
        validator = _response_validator(op.operation_id, str(status), op.spec.source)
        for error in validator.iter_errors(value):
            severity = ruleset.severity(error.rule)
            if severity != "off":
                report.violations.append(
                    Violation(error.rule, severity, error.pointer, error.message)
                )
    if request is not None:
        run(rule_functions.EXCHANGE_RULES, _exchange(op, status, value, request))
    return positioned(report, text, value)


@functools.lru_cache(maxsize=64)
def _response_validator(operation_id: str, status: str, source: str) -> SlowValidator:
    from ..specs import load

    spec = load(source)
    schema = spec.operations[operation_id].response_schema(status)
    assert schema is not None
    return SlowValidator(schema)


def _exchange(op: Operation, status: int, value: Any, request: Any) -> rule_functions.Exchange:
    batch = op.batch_item
    if batch:
        request_body = request
        if isinstance(request, (bytes, bytearray, str)):
            parsed = read_input(bytes(request) if isinstance(request, bytearray) else request)
            request_body = parsed.value if parsed.ok else None
        return rule_functions.Exchange(
            op.operation_id, status, value, request_body=request_body, item_key=batch[0]
        )
    params = dict(request) if isinstance(request, Mapping) else {}
    return rule_functions.Exchange(op.operation_id, status, value, request_params=params)
