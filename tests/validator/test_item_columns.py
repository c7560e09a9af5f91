"""The column diagnosis of batch items (engine.slow_columns) reports exactly what
jsonschema-rs reports: the same rules, pointers and messages, for the bundled item
schemas and a synthetic one that reaches every keyword it supports."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amlyze_contracts import validate_request
from amlyze_contracts.domain import join_pointer
from amlyze_contracts.engine.compiler import compiled
from amlyze_contracts.engine.schema import SlowValidator
from amlyze_contracts.engine.slow_columns import ItemColumns, flat_item_schema, schema_findings
from amlyze_contracts.specs import operation, operation_ids

from .builders import account

SYNTHETIC: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "count"],
    "properties": {
        "name": {"type": "string", "minLength": 2, "maxLength": 5},
        "count": {"type": "integer", "format": "int32"},
        "ratio": {"type": "number"},
        "flag": {"type": "boolean"},
        "kind": {"type": "string", "enum": ["A", "B"]},
        "anyKind": {"enum": ["X", "Y"]},
        "note": {"type": ["string", "null"], "maxLength": 3},
        "at": {"type": "string", "format": "date-time"},
        "free": {"description": "no type at all"},
    },
}

VALUES = st.one_of(
    st.sampled_from(
        [
            "A", "B", "X", "Y", "a", "ab", "abcdef", "", "2023-09-05T08:07:34.605Z",
            "2023-02-30T00:00:00Z", "2023-09-05", "ACTIVE", "OPEN", "closed", "EUR",
            "ünï", 0, 1, -7, 1.0, 2.5, True, False, None, [], ["A"], {}, {"a": 1},
        ]
    ),
    st.text(max_size=8),
    st.integers(),
)  # fmt: skip


def _item_schemas() -> list[dict[str, Any]]:
    schemas = [SYNTHETIC]
    for op_id in operation_ids():
        batch = operation(op_id).batch_item
        if batch:
            schemas.append(batch[1])
    return schemas


@st.composite
def items_for(draw: st.DrawFn, schema: dict[str, Any]) -> list[dict[str, Any]]:
    names = [*schema["properties"], "unknownMember", "bicc"]
    count = draw(st.integers(1, 12))
    return [
        draw(st.dictionaries(st.sampled_from(names), VALUES, max_size=len(names)))
        for _ in range(count)
    ]


def _by_jsonschema_rs(schema: dict[str, Any], items: list[Any]) -> list[tuple[str, str, str]]:
    validator = SlowValidator({"type": "array", "items": schema})
    return sorted((e.pointer, e.rule, e.message) for e in validator.iter_errors(items))


def _by_columns(schema: dict[str, Any], items: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    flat = flat_item_schema(schema)
    assert flat is not None
    return sorted(
        (join_pointer([i, member]), rule, message)
        for i, rule, member, message in schema_findings(ItemColumns(items, flat.required), flat)
    )


@pytest.mark.parametrize(
    "schema", _item_schemas(), ids=lambda s: s.get("x-schema-name", "synthetic")
)
def test_every_bundled_item_schema_has_the_column_form(schema: dict[str, Any]) -> None:
    assert flat_item_schema(schema) is not None


@given(data=st.data())
def test_columns_report_what_jsonschema_rs_reports(data: st.DataObject) -> None:
    schema = data.draw(st.sampled_from(_item_schemas()))
    items = data.draw(items_for(schema))
    assert _by_columns(schema, items) == _by_jsonschema_rs(schema, items)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"type": "object"}}},
        {"type": "object", "properties": {"a": {"type": "string", "pattern": "^x"}}},
        {"type": "object", "properties": {"a": {"enum": [1, 2]}}},
        {"type": "object", "properties": {"a": {"type": "string", "format": "email"}}},
        {"type": "object", "properties": {"a": {"type": "string"}}, "minProperties": 1},
        {"type": "object", "properties": {}, "required": ["b"]},
        {"type": "object", "properties": {"a": {}}, "additionalProperties": {"type": "string"}},
    ],
)
def test_schemas_outside_the_subset_are_left_to_jsonschema_rs(schema: dict[str, Any]) -> None:
    assert flat_item_schema(schema) is None


def test_a_whole_body_reads_the_same_by_either_engine() -> None:
    """validate_request on a batch (column diagnosis) against the same body with one
    non-object item, which sends the whole body to jsonschema-rs."""
    items: list[Any] = [
        account(i, **changes)
        for i, changes in enumerate(
            [
                {"accountStatus": "OPEN"},
                {"requester": None},
                {"openingDate": "2024-13-01T00:00:00Z"},
                {"communicationNumber": "x" * 300},
                {"accountNumbr": "LT0000"},
                {},
            ]
        )
    ]
    del items[2]["requester"]
    by_columns = validate_request("batchAccounts", {"accounts": items})
    assert compiled("batchAccounts").flat_items is not None
    by_rs = validate_request("batchAccounts", {"accounts": [*items, 5]})
    expected = [v for v in by_rs.violations if not v.pointer.startswith("/accounts/6")]
    assert by_columns.violations == expected
    assert {"schema.enum", "schema.type", "schema.required", "schema.format",
            "schema.maxLength"} <= by_columns.rules()  # fmt: skip


RULE_VALUES: dict[str, list[Any]] = {
    "isOtherFinInstAccount": [True, False, None, "true", 1],
    "bic": ["SANDLT22XXX", "BICXX22", "", None, 7, "sandlt22"],
    "accountStatus": ["ACTIVE", "CLOSED", "SUSPENDED", "OPEN", None],
    "closingDate": ["2024-01-01T00:00:00Z", "2001-01-01T00:00:00+02:00", "2024-01-01", 5],
    "openingDate": ["2023-09-05T08:07:34.605Z", "2023-09-05", "2030-01-01T00:00:00Z", None],
    "suspensionReasons": ["Security breach", "", None],
    "accountNumber": [
        account(0)["accountNumber"], "LT000000000000000000", "NOT-AN-IBAN", "", 12, None,
    ],
    "currencyCode": ["EUR", "XXX", "eur", None, 978],
}  # fmt: skip


@given(
    changes=st.lists(
        st.dictionaries(
            st.sampled_from(sorted(RULE_VALUES)),
            st.sampled_from(range(6)) | st.just(-1),  # -1: remove the member
            max_size=4,
        ),
        min_size=1,
        max_size=12,
    )
)
def test_rules_over_columns_find_what_the_one_item_form_finds(
    changes: list[dict[str, int]],
) -> None:
    """diagnose_many (the columns, failing-value sets, sets computed only when needed)
    against diagnose (one item at a time, each test called per value)."""
    items = []
    for i, change in enumerate(changes):
        item = account(i)
        for member, choice in change.items():
            if choice < 0:
                item.pop(member, None)
            else:
                options = RULE_VALUES[member]
                item[member] = options[choice % len(options)]
        items.append(item)
    comp = compiled("batchAccounts")
    assert comp.item_schema is not None and comp.body is not None
    checker = comp.body.checkers[id(comp.item_schema)]
    flat = flat_item_schema(comp.item_schema)
    assert flat is not None
    by_columns = sorted(checker.diagnose_many(ItemColumns(items, flat.required)))
    one_by_one = sorted((i, r) for i, item in enumerate(items) for r in checker.diagnose(item))
    assert by_columns == one_by_one


@pytest.mark.parametrize("indent", [None, 2])
def test_positions_found_per_member_match_the_json_walk(indent: int | None) -> None:
    """Batch items' violations get line/column from FlatBatchText (member by member);
    the general walk over the text (no parsed value) must agree with each one."""
    import json

    from amlyze_contracts.engine.jsoninput import locate

    items: list[Any] = [account(i) for i in range(7)]
    items[1]["accountStatus"] = "OPEN"
    del items[2]["requester"]
    items[3]["isOtherFinInstAccount"] = True
    del items[3]["bic"]
    items[4]["note"] = "requester"  # a value spelt like a member name
    items[4]["openingDate"] = "2023-09-05"
    items[6]["accountStatus"] = "CLOSED"  # the last item: bounded by its own "}"
    text = json.dumps({"accounts": items}, indent=indent)
    report = validate_request("batchAccounts", text)
    assert len(report.violations) >= 6
    walked = locate(text, [v.pointer for v in report.violations])
    for v in report.violations:
        assert (v.line, v.column) == walked[v.pointer], v


def test_equal_values_of_other_types_keep_their_own_message() -> None:
    # 1, 1.0 and True are equal and hash alike: a message cached by value named
    # them all "1" (found by the property test above).
    items = [account(i, accountStatus=value) for i, value in enumerate((1, 1.0, True, 0.0, -0.0))]
    report = validate_request("batchAccounts", json.dumps({"accounts": items}).encode())
    enum = [v.message.rsplit("got ", 1)[1] for v in report if v.rule == "schema.enum"]
    assert enum == ["1", "1.0", "True", "0.0", "-0.0"]
