"""The spec loader on the bundled specs: listing, loading, operations, batches, BRM paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml

from amlyze_contracts import specs
from amlyze_contracts.specs import SpecError
from tests.conftest import SAMPLES

BUNDLED = {"batch-accounts", "batch-account-balances", "accumulated-balance"}
OPERATIONS = {
    "batchAccounts": ("POST", "/amlyze-ws-rest/batch-accounts"),
    "registerBatchAccountBalances": ("PUT", "/amlyze-ws-rest/batch-account-balances"),
    "retrieveAccumulatedBalance": ("GET", "/accumulatedBalance/{id}"),
}
AMLYZE_STATUSES = ["200", "400", "401", "403", "404", "413", "500"]
BRM_STATUSES = ["200", "400", "401", "403", "404", "405", "409", "500"]


def _validator(schema: dict[str, Any]) -> jsonschema_rs.Draft202012Validator:
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=True)


def _contains_ref(node: Any) -> bool:
    if isinstance(node, dict):
        return "$ref" in node or any(_contains_ref(v) for v in node.values())
    if isinstance(node, list):
        return any(_contains_ref(v) for v in node)
    return False


def test_list_bundled_names_the_three_specs() -> None:
    assert set(specs.list_bundled()) == BUNDLED
    assert all(p.name.endswith(".openapi.yaml") for p in specs.bundled_spec_files())


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_load_by_name_and_by_path_give_the_same_spec(name: str) -> None:
    by_name = specs.load(name)
    path = next(p for p in specs.bundled_spec_files() if specs.spec_name(p) == name)
    by_path = specs.load(path)
    assert by_name.name == by_path.name == name
    assert by_name.resolved == by_path.resolved
    assert by_name.document["openapi"] == "3.1.0"


@pytest.mark.parametrize(("operation_id", "expected"), sorted(OPERATIONS.items()))
def test_operation_lookup_by_operation_id(operation_id: str, expected: tuple[str, str]) -> None:
    op = specs.operation(operation_id)
    assert (op.method, op.path) == expected
    assert op.operation_id == operation_id


def test_operation_ids_are_exactly_the_bundled_ones() -> None:
    assert sorted(specs.operation_ids()) == sorted(OPERATIONS)


def test_refs_are_resolved_and_schema_names_kept() -> None:
    for spec in specs.load_bundled():
        assert not _contains_ref(spec.resolved), spec.name
        assert _contains_ref(spec.document), spec.name
    op = specs.operation("batchAccounts")
    schema = op.request_schema
    assert schema is not None
    assert schema[specs.SCHEMA_NAME] == "BatchAccountsRequestDataApi"
    result = op.response_schema(200)
    assert result is not None
    assert result["properties"]["results"]["items"][specs.SCHEMA_NAME] == "BatchAccountResultApi"


@pytest.mark.parametrize(
    ("operation_id", "member", "item_schema"),
    [
        ("batchAccounts", "accounts", "AmlyzeAccountApi"),
        ("registerBatchAccountBalances", "accountBalances", "AccountBalance"),
    ],
)
def test_batch_item_detection(operation_id: str, member: str, item_schema: str) -> None:
    batch = specs.operation(operation_id).batch_item
    assert batch is not None
    name, item = batch
    assert name == member
    assert item[specs.SCHEMA_NAME] == item_schema


def test_brm_is_not_a_batch_and_has_its_base_path() -> None:
    op = specs.operation("retrieveAccumulatedBalance")
    assert op.batch_item is None
    assert op.request_schema is None
    assert op.base_path == "/brm/prepayBalanceManagement/{version}"
    assert op.server_variables == {"host": "localhost:8080", "version": "v1"}
    params = {(p["name"], p["in"]): p for p in op.parameters}
    assert set(params) == {("id", "path"), ("@type", "query"), ("fields", "query")}
    assert params[("@type", "query")]["schema"]["enum"] == [
        "AccumulatedBalance",
        "AccumulatedBalanceOracle",
    ]
    assert params[("@type", "query")]["schema"]["default"] == "AccumulatedBalance"
    assert _validator(params[("id", "path")]["schema"]).is_valid("0.0.0.1+-account+102879")


def test_amlyze_specs_have_no_base_path() -> None:
    assert specs.operation("batchAccounts").base_path == ""
    assert specs.operation("registerBatchAccountBalances").base_path == ""


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_every_operation_has_bearer_security_and_401(operation_id: str) -> None:
    op = specs.operation(operation_id)
    assert op.security_required
    assert op.spec.resolved["security"] == [{"bearerAuth": []}]
    scheme = op.spec.resolved["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {"type": "http", "scheme": "bearer"}
    assert op.response(401) is not None
    error_schema = op.response_schema(401)
    assert error_schema is not None
    expected = (
        "Error" if operation_id == "retrieveAccumulatedBalance" else "ApiAdapterErrorResponse"
    )
    assert error_schema[specs.SCHEMA_NAME] == expected


def test_documented_statuses() -> None:
    assert specs.operation("batchAccounts").statuses == AMLYZE_STATUSES
    assert specs.operation("registerBatchAccountBalances").statuses == AMLYZE_STATUSES
    assert specs.operation("retrieveAccumulatedBalance").statuses == BRM_STATUSES


@pytest.mark.parametrize(
    ("operation_id", "field", "path"),
    [
        ("batchAccounts", "accountType", "/classifier/accountType"),
        ("batchAccounts", "businessUnit", "/classifier/businessUnit"),
        ("batchAccounts", "currencyCode", "/classifier/currency"),
        ("registerBatchAccountBalances", "balanceType", "/classifier/accountBalanceType"),
        ("registerBatchAccountBalances", "businessUnit", "/classifier/businessUnit"),
    ],
)
def test_dynamic_enum_on_classifier_fields(operation_id: str, field: str, path: str) -> None:
    batch = specs.operation(operation_id).batch_item
    assert batch is not None
    prop = batch[1]["properties"][field]
    assert prop["x-dynamic-enum"] == {"path": path, "valueField": "code"}


def test_dynamic_enum_nowhere_else() -> None:
    marked: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if "x-dynamic-enum" in node:
                marked.append(where)
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}")

    for spec in specs.load_bundled():
        walk(spec.document.get("components", {}), spec.name)
    assert sorted(marked) == [
        "batch-account-balances/schemas/AccountBalance/properties/balanceType",
        "batch-account-balances/schemas/AccountBalance/properties/businessUnit",
        "batch-accounts/schemas/AmlyzeAccountApi/properties/accountType",
        "batch-accounts/schemas/AmlyzeAccountApi/properties/businessUnit",
        "batch-accounts/schemas/AmlyzeAccountApi/properties/currencyCode",
    ]


def test_account_item_constraints_follow_the_contract() -> None:
    batch = specs.operation("batchAccounts").batch_item
    assert batch is not None
    item = batch[1]
    assert set(item["required"]) == {
        "communicationNumber",
        "requester",
        "businessEntityExtId",
        "accountExtId",
        "accountNumber",
        "accountStatus",
        "currencyCode",
        "openingDate",
    }
    props = item["properties"]
    assert props["communicationNumber"]["maxLength"] == 255
    assert props["requester"]["maxLength"] == 100
    assert props["businessUnit"]["maxLength"] == 255
    assert set(props["accountStatus"]["enum"]) == {"ACTIVE", "SUSPENDED", "CLOSED"}
    assert set(props["action"]["enum"]) == {"CREATE", "UPDATE"}
    assert props["openingDate"]["format"] == props["closingDate"]["format"] == "date-time"
    assert "additionalProperties" not in item
    result = specs.operation("batchAccounts").response_schema(200)
    assert result is not None
    result_type = result["properties"]["results"]["items"]["properties"]["resultType"]
    assert result_type["enum"] == ["REQUEST_ACCEPTED", "REQUEST_REJECTED", "OK", "ERROR"]


def test_balance_item_constraints_follow_the_contract() -> None:
    batch = specs.operation("registerBatchAccountBalances").batch_item
    assert batch is not None
    item = batch[1]
    assert set(item["required"]) == {
        "communicationNumber",
        "requester",
        "balanceType",
        "accountExtId",
        "updateAt",
        "value",
    }
    validator = _validator(item)
    base = {
        "communicationNumber": "BAL-1",
        "requester": "CORE_BANKING",
        "balanceType": "DAILY_BALANCE",
        "accountExtId": "ACC-1",
        "updateAt": "2024-05-26T23:59:59Z",
    }
    for value in (11111111111.00, -312.4, 0, 25000):
        assert validator.is_valid({**base, "value": value})
    assert not validator.is_valid({**base, "value": "12.5"})
    assert not validator.is_valid({**base, "value": 1, "updateAt": "2024-05-26"})
    assert not validator.is_valid({**base, "value": 1, "requester": "x" * 101})


def test_vendor_samples_match_the_item_schemas() -> None:
    accounts = specs.operation("batchAccounts").batch_item
    balances = specs.operation("registerBatchAccountBalances").batch_item
    assert accounts is not None and balances is not None
    account_validator = _validator(accounts[1])
    for name in (
        "activeMinPayload.json",
        "activeOtherFinancialInstitution.json",
        "closedFullPayload.json",
        "suspendedFullPayload.json",
    ):
        payload = json.loads((SAMPLES / name).read_text(encoding="utf-8"))
        assert account_validator.is_valid(payload), name
    # The balance sample uses the later name balanceAt, so this spec's updateAt is missing.
    daily = json.loads((SAMPLES / "dailyBalance.json").read_text(encoding="utf-8"))
    errors = [e.message for e in _validator(balances[1]).iter_errors(daily)]
    assert errors == ['"updateAt" is a required property']


def test_brm_nullable_fields_accept_null() -> None:
    schema = specs.operation("retrieveAccumulatedBalance").response_schema(200)
    assert schema is not None
    validator = _validator(schema)
    body: dict[str, Any] = {
        "id": "0.0.0.1+-account+102879",
        "href": None,
        "description": None,
        "name": "James Kurup",
        "bucket": [
            {"id": "0.0.0.1+-balance_group+106463", "@baseType": None, "@referredType": None}
        ],
        "logicalResource": None,
        "partyAccount": {"id": "0.0.0.1+-account+102879", "href": None, "status": "active"},
        "product": [{"id": "p1", "href": None, "@schemaLocation": None}],
        "relatedParty": None,
        "totalBalance": {"amount": 45.0, "units": "EUR", "@baseType": None, "@type": "Quantity"},
        "@baseType": None,
        "@schemaLocation": None,
        "@type": "AccumulatedBalance",
    }
    assert validator.is_valid(body)
    # Not everything is nullable: the bucket list, its minimum and the total are typed.
    assert not validator.is_valid({**body, "bucket": None})
    assert not validator.is_valid({**body, "bucket": []})
    assert not validator.is_valid({**body, "totalBalance": {"amount": "45.0", "units": "EUR"}})
    assert not validator.is_valid({**body, "id": None})
    for name in ("description", "logicalResource", "relatedParty", "@baseType"):
        assert schema["properties"][name]["type"][-1] == "null", name
        assert "nullable" not in schema["properties"][name]


def test_brm_error_schema_requires_code_and_reason() -> None:
    schema = specs.operation("retrieveAccumulatedBalance").response_schema(404)
    assert schema is not None
    validator = _validator(schema)
    assert validator.is_valid({"code": "404", "reason": "Not Found", "message": None})
    assert not validator.is_valid({"code": "404"})
    assert not validator.is_valid({"code": 404, "reason": "Not Found"})


def test_user_spec_overrides_the_bundled_operation(tmp_path: Path) -> None:
    bundled = specs.load("batch-accounts")
    document = yaml.safe_load(Path(bundled.source).read_text(encoding="utf-8"))
    document["info"]["version"] = "v9-user"
    user_file = tmp_path / "vendor-batch-accounts.openapi.yaml"
    user_file.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")

    user = specs.load(user_file)
    assert user.name == "vendor-batch-accounts"
    assert user.version == "v9-user"
    assert bundled.version != "v9-user"
    op = specs.operation("batchAccounts", [user, *specs.load_bundled()])
    assert op.spec is user
    batch = op.batch_item
    assert batch is not None
    assert batch[0] == "accounts"
    assert batch[1][specs.SCHEMA_NAME] == "AmlyzeAccountApi"
    # Passed last, the bundled spec wins.
    assert specs.operation("batchAccounts", [*specs.load_bundled(), user]).spec is not user


def test_unknown_spec_name_lists_the_known_ones() -> None:
    with pytest.raises(SpecError) as info:
        specs.load("no-such-spec")
    message = str(info.value)
    assert "no-such-spec" in message
    for name in BUNDLED:
        assert name in message


def test_unknown_operation_lists_the_known_ones() -> None:
    with pytest.raises(SpecError, match="batchAccounts"):
        specs.operation("noSuchOperation")
