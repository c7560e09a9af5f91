"""Independent oracles: the validator's schema verdicts equal openapi-core's and
jsonschema's on generated request bodies and responses of every bundled operation.

The fast path relies on msgspec and jsonschema-rs, and the column diagnosis is held
equal to jsonschema-rs; these two oracles share neither. For each generated body
both sides give a set of JSON pointers of schema violations (empty: valid):

* the validator: the pointers of its ``schema.*`` violations (a missing member is
  pointed at where it should be);
* jsonschema (Draft 2020-12, with its format checker) and openapi-core
  (``unmarshal_request`` / ``unmarshal_response`` of the whole spec): each error's
  instance path, a ``required`` error turned into the pointers of the missing
  members the same way.

Bodies come from the operation's own schema: every member drawn valid, or, at a
rate drawn per example, replaced by a value of another type, dropped when required,
or pushed past its enum, length or format. Known, documented differences stay out
of the draw (README "Decisions"): date-times are drawn where every RFC 3339 reading
agrees (upper-case ``T``/``Z``, no leap second, year 1 or later: rfc3339-validator,
which both oracles use, refuses the others), and integers stay inside int32 (the
OpenAPI ``int32``/``int64`` formats are annotations here, range checks in
openapi-core).
"""

from __future__ import annotations

import functools
import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amlyze_contracts import validate_request, validate_response
from amlyze_contracts.domain import join_pointer
from amlyze_contracts.specs import Operation, operation, operation_ids

VALID_DATE_TIMES = (
    "2024-01-31T00:00:00Z",
    "2023-09-05T08:07:34.123+02:00",
    "2020-02-29T23:59:59.5-05:30",
    "1999-12-31T12:00:00.000000Z",
)
BAD_DATE_TIMES = (
    "2023-13-01T00:00:00Z",
    "2023-02-29T00:00:00Z",
    "2023-09-05",
    "2023-09-05T08:07:34",
    "05.09.2023 08:07",
    "2023-09-05 08:07:34Z",
    "",
)
OTHER_VALUES: tuple[Any, ...] = (None, True, 7, 2.5, "text", [], {})
INT32 = (-(2**31), 2**31 - 1)
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)


def _types(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, list):
        return [str(k) for k in kind]
    return [str(kind)] if kind else ["object"] if "properties" in schema else ["string"]


@st.composite
def instances(draw: st.DrawFn, schema: Mapping[str, Any], rate: float, depth: int = 0) -> Any:
    """A value for ``schema``: valid, or at ``rate`` broken somewhere."""
    if rate and draw(st.floats(0, 1)) < rate:
        return draw(st.sampled_from(OTHER_VALUES))
    kind = draw(st.sampled_from(_types(schema)))
    broken = rate > 0 and draw(st.floats(0, 1)) < rate  # one keyword of this node
    if kind == "object":
        props: Mapping[str, Any] = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        out: dict[str, Any] = {}
        for name, sub in props.items():
            keep = name in required or draw(st.booleans())
            if name in required and broken and draw(st.booleans()):
                keep = False  # a required member missing
            if keep and depth < 4:
                out[name] = draw(instances(sub, rate, depth + 1))
        return out
    if kind == "array":
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        size = draw(st.integers(0 if broken else low, min(3, high) if high is not None else 3))
        items = schema.get("items") or {}
        return [draw(instances(items, rate, depth + 1)) for _ in range(size)]
    if kind == "string":
        if "enum" in schema:
            return draw(st.sampled_from(["NOT_ALLOWED"] if broken else list(schema["enum"])))
        if schema.get("format") == "date-time":
            return draw(st.sampled_from(BAD_DATE_TIMES if broken else VALID_DATE_TIMES))
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        if broken and (high is not None or low > 0):
            if high is not None:
                return draw(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)),
                                    min_size=high + 1, max_size=high + 3))  # fmt: skip
            return ""
        top = min(high, low + 8) if high is not None else low + 8
        return draw(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)),
                            min_size=low, max_size=top))  # fmt: skip
    if kind == "integer":
        whole = draw(st.integers(*INT32))
        return float(whole) if draw(st.integers(0, 9)) == 0 else whole  # 3.0 is an integer
    if kind == "number":
        return draw(st.one_of(st.integers(*INT32), st.floats(-1e9, 1e9, allow_nan=False)))
    if kind == "boolean":
        return draw(st.booleans())
    return None  # "null"


# ------------------------------------------------------------------ the pointers


def _pointers(errors: Any) -> set[str]:
    """jsonschema errors as the validator points: a required member where it should be."""
    found: set[str] = set()
    for error in errors:
        path = list(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            found.update(
                join_pointer([*path, name])
                for name in error.validator_value
                if name not in error.instance
            )
        else:
            found.add(join_pointer(path))
    return found


def _ours(report: Any) -> set[str]:
    return {v.pointer for v in report.violations if v.rule.startswith("schema.")}


@functools.cache
def _jsonschema(operation_id: str, status: str | None) -> Any:
    import jsonschema

    op = operation(operation_id)
    schema = op.request_schema if status is None else op.response_schema(status)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@functools.cache
def _openapi(operation_id: str) -> Any:
    from openapi_core import OpenAPI

    # A plain-JSON copy: openapi-core walks the document itself ($refs included).
    return OpenAPI.from_dict(json.loads(json.dumps(operation(operation_id).spec.document)))


def _server(op: Operation) -> tuple[str, str]:
    """(scheme and host, base path) of the spec's first server, variables defaulted."""
    server = op.spec.document["servers"][0]
    url = str(server["url"])
    for name, variable in (server.get("variables") or {}).items():
        url = url.replace(f"{{{name}}}", str(variable["default"]))
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")


def _mock_request(op: Operation, body: bytes | None) -> Any:
    from openapi_core.testing import MockRequest

    host, base = _server(op)
    return MockRequest(
        host,
        op.method.lower(),
        base + op.path.replace("{id}", "acc-1"),
        data=body,
        headers={"Authorization": "Bearer token"},
        content_type="application/json" if body is not None else None,
        view_args={"id": "acc-1"} if "{id}" in op.path else None,
    )


def _openapi_pointers(result: Any, data_error: type[Exception]) -> set[str]:
    from openapi_core.validation.schemas.exceptions import InvalidSchemaValue

    found: set[str] = set()
    for error in result.errors:
        # Anything but the body's schema (server, security, parameters) is a test bug.
        assert isinstance(error, data_error), repr(error)
        cause = error.__cause__
        assert isinstance(cause, InvalidSchemaValue), repr(error)
        found |= _pointers(cause.schema_errors)
    return found


REQUEST_OPERATIONS = [o for o in operation_ids() if operation(o).request_schema is not None]
RESPONSES = [
    (o, status)
    for o in operation_ids()
    for status in operation(o).statuses
    if operation(o).response_schema(status) is not None
]
RATES = st.sampled_from((0.0, 0.0, 0.02, 0.1, 0.3))


def test_every_operation_is_covered() -> None:
    assert set(REQUEST_OPERATIONS) | {o for o, _ in RESPONSES} == set(operation_ids())
    assert len(REQUEST_OPERATIONS) >= 2 and len(RESPONSES) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("operation_id", REQUEST_OPERATIONS)
@given(data=st.data(), rate=RATES)
def test_request_verdicts_equal_the_oracles(operation_id: str, data: Any, rate: float) -> None:
    from openapi_core.validation.request.exceptions import InvalidRequestBody

    op = operation(operation_id)
    assert op.request_schema is not None
    body = data.draw(instances(op.request_schema, rate), label="body")
    raw = json.dumps(body).encode()
    ours = _ours(validate_request(operation_id, raw))
    assert ours == _pointers(_jsonschema(operation_id, None).iter_errors(body))
    result = _openapi(operation_id).unmarshal_request(_mock_request(op, raw))
    assert ours == _openapi_pointers(result, InvalidRequestBody)


@pytest.mark.slow
@pytest.mark.parametrize(("operation_id", "status"), RESPONSES)
@given(data=st.data(), rate=RATES)
def test_response_verdicts_equal_the_oracles(
    operation_id: str, status: str, data: Any, rate: float
) -> None:
    from openapi_core.testing import MockResponse
    from openapi_core.validation.response.exceptions import InvalidData

    op = operation(operation_id)
    schema = op.response_schema(status)
    assert schema is not None
    body = data.draw(instances(schema, rate), label="response")
    raw = json.dumps(body).encode()
    ours = _ours(validate_response(operation_id, int(status), raw))
    assert ours == _pointers(_jsonschema(operation_id, status).iter_errors(body))
    request = _mock_request(op, b"{}" if op.request_schema is not None else None)
    response = MockResponse(raw, status_code=int(status), content_type="application/json")
    result = _openapi(operation_id).unmarshal_response(request, response)
    assert ours == _openapi_pointers(result, InvalidData)
