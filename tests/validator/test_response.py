"""validate_response: schemas per status, and the request/response rules of one exchange."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amlyze_contracts import validate_response

from .builders import account, accounts_body, dumps

OP = "batchAccounts"
BRM = "retrieveAccumulatedBalance"
JSON = {"Content-Type": "application/json;charset=utf-8"}


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """A correct 200 answer to a batch: one result per item, in order."""
    results = []
    for i, item in enumerate(body["accounts"]):
        result = {
            "resultType": "REQUEST_ACCEPTED",
            "communicationNumber": item["communicationNumber"],
            "accountExtId": item["accountExtId"],
            "timeElapsedMs": 3 + i,
        }
        if "businessUnit" in item:
            result["businessUnit"] = item["businessUnit"]
        results.append(result)
    return {"results": results, "timeElapsedMs": 3 + len(results)}


REQUEST = accounts_body(account(0), account(1, businessUnit=None), account(2))
del REQUEST["accounts"][1]["businessUnit"]

BRM_OK: dict[str, Any] = {
    "id": "0.0.0.1+-account+102879",
    "href": "http://localhost:8080/brm/prepayBalanceManagement/v1/accumulatedBalance/0.0.0.1+-account+102879",
    "name": "James Kurup",
    "description": None,
    "bucket": [
        {
            "id": "0.0.0.1+-balance_group+106463",
            "href": None,
            "name": "Account Level Balance Group",
            "@baseType": None,
            "@schemaLocation": None,
            "@type": "BucketRef",
            "@referredType": None,
        }
    ],
    "totalBalance": {
        "amount": 45.0,
        "units": "EUR",
        "@baseType": None,
        "@schemaLocation": None,
        "@type": "Quantity",
    },
    "relatedParty": None,
    "@baseType": "AccumulatedBalance",
    "@schemaLocation": None,
    "@type": "AccumulatedBalance",
}


def test_correct_exchange_is_clean() -> None:
    report = validate_response(OP, 200, dumps(answer(REQUEST)), headers=JSON, request=REQUEST)
    assert report.violations == [], [v.to_dict() for v in report]


def mutate(fn: Any) -> dict[str, Any]:
    body = answer(REQUEST)
    fn(body)
    return body


@pytest.mark.parametrize(
    ("rule", "change", "pointer", "severity"),
    [
        ("batch.result-per-item", lambda b: b["results"].pop(), "/results", "error"),
        (
            "batch.result-correlation",
            lambda b: b["results"].reverse(),
            "/results/0/communicationNumber",
            "error",
        ),
        (
            "batch.result-correlation",
            lambda b: b["results"][0].update(communicationNumber="comm-000000"),
            "/results/0/communicationNumber",
            "error",
        ),
        (
            "batch.result-correlation",
            lambda b: b["results"][0].update(businessUnit="BU_1"),
            "/results/0/businessUnit",
            "error",
        ),
        (
            "batch.result-correlation",
            lambda b: b["results"][2].pop("businessUnit"),
            "/results/2/businessUnit",
            "error",
        ),
        (
            "batch.result-type-values",
            lambda b: b["results"][0].update(resultType="ACCEPTED"),
            "/results/0/resultType",
            "error",
        ),
        (
            "batch.rejection-has-error",
            lambda b: b["results"][0].update(resultType="REQUEST_REJECTED"),
            "/results/0/errorCode",
            "error",
        ),
        (
            "batch.rejection-has-error",
            lambda b: b["results"][0].update(errorCode="001"),
            "/results/0/errorCode",
            "error",
        ),
        (
            "batch.time-elapsed",
            lambda b: b["results"][0].update(timeElapsedMs=-1),
            "/results/0/timeElapsedMs",
            "error",
        ),
        ("batch.time-elapsed", lambda b: b.update(timeElapsedMs=1), "/timeElapsedMs", "warning"),
    ],
)
def test_exchange_rules(rule: str, change: Any, pointer: str, severity: str) -> None:
    body = mutate(change)
    report = validate_response(OP, 200, body, request=REQUEST)
    hits = [v for v in report if v.rule == rule]
    assert hits, [v.to_dict() for v in report]
    assert (pointer, severity) in {(v.pointer, v.severity) for v in hits}
    # Without the request, only what the response alone shows is checked.
    assert "batch.result-correlation" not in validate_response(OP, 200, body).rules()


def test_legacy_result_types_are_accepted() -> None:
    body = answer(REQUEST)
    body["results"][0]["resultType"] = "OK"
    body["results"][1].update(resultType="ERROR", errorCode="005", errorDescription="bic missing")
    assert validate_response(OP, 200, body, request=REQUEST).violations == []


def test_published_balances_404_and_500_bodies() -> None:
    not_found = {
        "timestamp": "2024-05-26T16:49:50.237+00:00",
        "status": 404,
        "error": "Not Found",
        "path": "/amlyze-ws-rest/batch-account-balances",
    }
    assert validate_response("registerBatchAccountBalances", 404, not_found).valid
    crash = {"resultType": "REQUEST_REJECTED", "status": 500, "error": "Internal Server Error"}
    assert validate_response("registerBatchAccountBalances", 500, crash).valid


def test_status_and_content_type() -> None:
    report = validate_response(OP, 418, b'{"x": 1}', headers={"Content-Type": "text/plain"})
    assert report.rules() == {"response.status-documented", "response.content-type"}
    schema_broken = validate_response(OP, 200, {"results": "none", "timeElapsedMs": 1.5})
    assert {v.rule for v in schema_broken} == {"schema.type"}


def test_response_syntax_errors_have_positions() -> None:
    report = validate_response(OP, 200, b'{"results": [],\n}')
    (hit,) = report.violations
    assert (hit.rule, hit.line, hit.column) == ("input.json-syntax", 1, 15)


def brm(body: dict[str, Any], **params: str) -> set[str]:
    return validate_response(
        BRM, 200, body, headers=JSON, request={"id": BRM_OK["id"], **params}
    ).rules()


def test_brm_correct_answer_and_fields() -> None:
    assert brm(BRM_OK) == set()
    assert (
        brm(
            {**BRM_OK, "@type": "AccumulatedBalanceOracle"}, **{"@type": "AccumulatedBalanceOracle"}
        )
        == set()
    )
    trimmed = {k: BRM_OK[k] for k in ("id", "href", "@type", "@baseType", "name")}
    assert brm(trimmed, fields="name") == set()


def test_brm_rules() -> None:
    assert brm({**BRM_OK, "id": "0.0.0.1 -account 102879"}) == {
        "brm.id-echo",
        "brm.href-consistent",
    } - {"brm.href-consistent"}
    assert brm(
        {**BRM_OK, "href": BRM_OK["href"].replace("accumulatedBalance/", "accumulatedBalances/")}
    ) == {"brm.href-consistent"}
    encoded = {**BRM_OK, "href": BRM_OK["href"].replace("+", "%2B")}
    assert brm(encoded) == set()  # percent-decoded comparison
    assert brm(BRM_OK, **{"@type": "AccumulatedBalanceOracle"}) == {"brm.type-echo"}
    assert brm(BRM_OK, fields="bucket") == {"brm.fields-honored"}


def test_brm_schema_rules() -> None:
    empty_bucket = copy.deepcopy(BRM_OK)
    empty_bucket["bucket"] = []
    assert "schema.minItems" in validate_response(BRM, 200, empty_bucket).rules()
    assert "schema.required" in validate_response(BRM, 404, {"reason": "no such id"}).rules()
    assert validate_response(BRM, 404, {"code": "404", "reason": "Not Found"}).valid


def test_content_type_and_status_even_when_the_body_is_not_json() -> None:
    report = validate_response(
        OP, 502, b"<html>Bad gateway</html>", headers={"Content-Type": "text/html"}
    )
    assert report.rules() == {
        "response.content-type",
        "response.status-documented",
        "input.json-syntax",
    }


def test_non_string_identifiers_are_not_required_in_the_echo() -> None:
    request = accounts_body(account(0, accountExtId=12345))
    body = answer(accounts_body(account(0)))
    del body["results"][0]["accountExtId"]
    assert (
        "batch.result-correlation" not in validate_response(OP, 200, body, request=request).rules()
    )


def test_over_long_communication_number_is_echoed_in_a_rejection() -> None:
    number = "C" * 300
    request = accounts_body(account(0, communicationNumber=number))
    body = {"results": [{"resultType": "REQUEST_REJECTED", "communicationNumber": number, "accountExtId": "ACC-000000",
                         "businessUnit": "sandbox", "errorCode": "001", "errorDescription": "too long", "timeElapsedMs": 1}],
            "timeElapsedMs": 1}  # fmt: skip
    assert validate_response(OP, 200, body, request=request).violations == []


def test_a_json_null_body_is_checked_but_no_body_is_not() -> None:
    # Found by the openapi-core/jsonschema oracles: b"null" is a body (JSON null),
    # which the documented object schema refuses; no bytes at all is no body.
    null = validate_response(OP, 200, b"null")
    assert [(v.rule, v.pointer) for v in null.errors] == [("schema.type", "")]
    assert validate_response(OP, 401, b"").valid
    assert validate_response(OP, 401, None).valid


@pytest.mark.parametrize("sent", [[], {}, ["REQUEST_ACCEPTED"], 5, None, True])
def test_any_json_as_result_type_is_reported_not_crashed_on(sent: Any) -> None:
    # A list or object is unhashable: looked up in the result-type sets, it raised
    # TypeError (the proxy logged an internal error, the suite lost the exchange).
    body = mutate(lambda b: b["results"][0].update(resultType=sent, errorCode=sent))
    report = validate_response(OP, 200, body, request=REQUEST)
    assert ("batch.result-type-values", "/results/0/resultType") in {
        (v.rule, v.pointer) for v in report
    }
    # Neither accepted nor rejected: no errorCode rule applies to it.
    assert "batch.rejection-has-error" not in report.rules()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2) | st.sampled_from(["", "x", "OK", "ERROR"]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.just("k"), inner, max_size=1),
    max_leaves=3,
)
RESULT_MEMBERS = ("resultType", "errorCode", "errorDescription", "communicationNumber",
                  "accountExtId", "businessUnit", "timeElapsedMs")  # fmt: skip


@given(
    result=st.dictionaries(st.sampled_from(RESULT_MEMBERS), JSON_VALUES),
    item=st.dictionaries(st.sampled_from(RESULT_MEMBERS[3:]), JSON_VALUES),
    total=JSON_VALUES,
)
def test_any_json_in_a_result_is_judged_without_an_exception(
    result: dict[str, Any], item: dict[str, Any], total: Any
) -> None:
    report = validate_response(
        OP, 200, {"results": [result], "timeElapsedMs": total}, request={"accounts": [item]}
    )
    kind = result.get("resultType")
    valid_kind = isinstance(kind, str) and kind in {
        "REQUEST_ACCEPTED",
        "REQUEST_REJECTED",
        "OK",
        "ERROR",
    }
    assert ("batch.result-type-values" in report.rules()) == (not valid_kind)
