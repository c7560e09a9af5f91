"""Each contract check as a plain function: a canned request and response in, the
failures out (no server). Includes how a server the suite has never seen is judged
(CONTRACT.md section 3.1)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from amlyze_contracts.contract import checks
from amlyze_contracts.contract.checks import (
    OPTIONS_HEAD,
    OTHER_METHOD,
    OUTSIDE,
    RULES,
    Case,
    CheckFailure,
    Context,
    ItemExpect,
    Rule,
    check,
    hygiene_only,
    item_expectations,
    rules_applied,
    rules_for_operation,
    run_checks,
)
from amlyze_contracts.contract.client import Received, Sent
from amlyze_contracts.contract.config import Options
from amlyze_contracts.contract.generate import Uniques
from amlyze_contracts.contract.scenarios import (
    Endpoints,
    base_item,
    batch_case,
    brm_case,
    interop_items,
)
from amlyze_contracts.engine.api import validate_request
from amlyze_contracts.violations import Violation

BASE = "http://api.test"
OPTIONS = Options(base_url=BASE, brm_base_url=f"{BASE}/brm/prepayBalanceManagement/v1", token="t")
ENDPOINTS = Endpoints(OPTIONS.base_url, OPTIONS.brm_base_url)
CTX = Context()
JSON = {"Content-Type": "application/json"}
HTML = {"Content-Type": "text/html"}
NGINX_404 = b"<html><head><title>404 Not Found</title></head><body>nginx</body></html>"
KNOWN = "0.0.0.1+-account+102879"


def _judge(case: Case, received: Received) -> tuple[list[str], list[CheckFailure]]:
    applied, failures = run_checks(CTX, received, case)
    return rules_applied(applied, case), failures


def _found(failures: list[CheckFailure]) -> set[tuple[str, str]]:
    return {(f.rule, f.severity) for f in failures}


def _accepting(case: Case, rejected: frozenset[int] = frozenset()) -> Received:
    """A correct-looking 200 for a batch: every item accepted but ``rejected``."""
    results = []
    for i, item in enumerate(case.items()):
        result: dict[str, Any] = {
            "resultType": "REQUEST_REJECTED" if i in rejected else "REQUEST_ACCEPTED",
            "communicationNumber": item["communicationNumber"],
            "accountExtId": item["accountExtId"],
            "timeElapsedMs": 0,
        }
        if i in rejected:
            result.update(errorCode="001", errorDescription="rejected")
        results.append(result)
    body = orjson.dumps({"results": results, "timeElapsedMs": 1})
    return Received(200, JSON, body)


def _items(n: int, op: str = "batchAccounts") -> list[dict[str, Any]]:
    uniques = Uniques("unit00")
    return [base_item(OPTIONS, op, uniques) for _ in range(n)]


# ------------------------------------------------------------------ the registry


def test_every_rule_has_one_declaration_with_a_description() -> None:
    assert set(RULES) == set(checks.RULE_INFO)
    assert all(RULES[r] for r in RULES)
    assert checks.RULE_INFO["batch.rejection-code"].severity == "warning"
    # A failure takes its rule's severity unless a check softens it.
    assert CheckFailure("batch.rejection-code", "x").severity == "warning"
    assert CheckFailure("batch.valid-item-rejected", "x").severity == "error"
    assert CheckFailure("batch.valid-item-rejected", "x", "warning").severity == "warning"


def test_rules_per_operation_come_from_the_registry() -> None:
    brm = rules_for_operation("retrieveAccumulatedBalance")
    batch = rules_for_operation("batchAccounts")
    assert "brm.not-found" in brm and "brm.not-found" not in batch
    assert "batch.result-correlation" in batch and "batch.result-correlation" not in brm
    read_only = rules_for_operation("batchAccounts", read_only=True)
    assert "batch.invalid-item-accepted" not in read_only
    assert {"server.no-5xx", "errors.auth-required", "response.schema"} <= set(read_only)
    assert rules_for_operation("retrieveAccumulatedBalance", read_only=True) == brm


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(checks, "REGISTRY", list(checks.REGISTRY))
    monkeypatch.setattr(checks, "RULE_INFO", dict(checks.RULE_INFO))
    monkeypatch.setattr(checks, "RULES", dict(checks.RULES))
    yield


@pytest.mark.usefixtures("scratch_registry")
def test_adding_a_check_is_one_decorated_function() -> None:
    @check(
        Rule("brm.example", "a BRM answer names its server", "warning", frozenset({"brm"})),
        applies=lambda case: case.probe == "brm-known",
    )
    def names_its_server(ctx: Context, received: Received, case: Case) -> bool | None:
        if "server" not in {k.lower() for k in received.headers}:
            raise CheckFailure("brm.example", "no Server header")
        return True

    case = brm_case(OPTIONS, ENDPOINTS, "known", KNOWN, probe="brm-known")
    applied, failures = run_checks(CTX, Received(500, JSON, b"{}"), case)
    assert "names_its_server" in applied
    assert ("brm.example", "warning") in _found(failures)
    assert "brm.example" in checks.rules_for_operation("retrieveAccumulatedBalance")
    assert "brm.example" in rules_applied(applied, case)
    other = brm_case(OPTIONS, ENDPOINTS, "unknown", "nope", probe="brm-unknown")
    assert "names_its_server" not in run_checks(CTX, Received(404, JSON, b"{}"), other)[0]
    with pytest.raises(ValueError, match="declared twice"):
        check(Rule("brm.example", "something else"))(names_its_server)


# ------------------------------------------------------------------ outside the spec


def _v999(status: int, headers: dict[str, str], body: bytes) -> tuple[list[str], list[Any]]:
    case = brm_case(
        OPTIONS, ENDPOINTS, "v999", KNOWN, base=f"{BASE}/brm/prepayBalanceManagement/v999",
        scope=OUTSIDE,
    )  # fmt: skip
    return _judge(case, Received(status, headers, body))


def test_a_v999_404_html_page_passes() -> None:
    rules, failures = _v999(404, HTML, NGINX_404)
    assert failures == []
    assert "response.schema" not in rules and "response.content-type" not in rules
    assert "brm.not-found" not in rules
    for status in (400, 405, 403, 301):
        assert _v999(status, HTML, b"")[1] == []


def test_a_2xx_outside_the_spec_fails() -> None:
    balance = orjson.dumps({"id": KNOWN})
    _, failures = _v999(200, JSON, balance)
    assert _found(failures) == {("response.status-documented", "error")}
    _, failures = _v999(502, HTML, b"bad gateway")
    assert _found(failures) == {("server.no-5xx", "error")}


def test_another_method_on_an_amlyze_path_must_get_a_4xx() -> None:
    url = ENDPOINTS.batch_url("batchAccounts")
    case = Case("batchAccounts", "GET", Sent("GET", url), scope=OTHER_METHOD)
    assert _judge(case, Received(405, HTML, b"<html>Method Not Allowed</html>"))[1] == []
    assert _judge(case, Received(404, {}, b""))[1] == []
    assert _found(_judge(case, Received(200, JSON, b"{}"))[1]) == {
        ("response.status-documented", "error")
    }
    assert _found(_judge(case, Received(500, JSON, b"{}"))[1]) == {("server.no-5xx", "error")}


@pytest.mark.parametrize("method", ["OPTIONS", "HEAD"])
def test_options_and_head_may_get_anything_but_a_5xx(method: str) -> None:
    url = ENDPOINTS.brm_url(KNOWN)
    case = Case("retrieveAccumulatedBalance", method, Sent(method, url), scope=OPTIONS_HEAD)
    for status in (200, 204, 401, 403, 404, 405):
        rules, failures = _judge(case, Received(status, {}, b""))
        assert failures == [] and rules == ["server.no-5xx"]
    assert _found(_judge(case, Received(503, {}, b""))[1]) == {("server.no-5xx", "error")}


# ------------------------------------------------------------------ BRM ids


def test_an_unknown_id_under_a_supported_version_needs_a_tmf_404() -> None:
    case = brm_case(OPTIONS, ENDPOINTS, "unknown", "0.0.0.1+-account+9", probe="brm-unknown")
    tmf = orjson.dumps({"code": "404", "reason": "Not Found"})
    assert _judge(case, Received(404, JSON, tmf))[1] == []
    found = _found(_judge(case, Received(404, HTML, NGINX_404))[1])
    assert ("brm.not-found", "error") in found and ("response.content-type", "error") in found


@pytest.mark.parametrize("raw_id", ["100%-sure", "unknown/with/slashes", "%2B", "a;b"])
def test_an_id_firewalls_refuse_is_an_interop_case(raw_id: str) -> None:
    case = brm_case(OPTIONS, ENDPOINTS, "unknown", raw_id, probe="brm-unknown")
    assert checks.interop_request(case)
    rules, failures = _judge(case, Received(400, HTML, b"<html>HTTP Status 400</html>"))
    assert _found(failures) == {("brm.not-found", "warning")}
    assert "response.schema" not in rules
    tmf = orjson.dumps({"code": "404", "reason": "Not Found"})
    assert _judge(case, Received(404, JSON, tmf))[1] == []
    found = _found(_judge(case, Received(200, JSON, orjson.dumps({"id": raw_id})))[1])
    assert found == {("brm.not-found", "error")}


def test_plain_ids_are_not_interop() -> None:
    for raw_id in (KNOWN, "Žydrūnė-1", "what?is#this&", "0.0.0.1 -account 102879"):
        case = brm_case(OPTIONS, ENDPOINTS, "x", raw_id, probe="brm-unknown")
        assert not checks.interop_request(case), raw_id


# ------------------------------------------------------------------ items


def test_an_accepted_duplicate_member_item_is_a_warning() -> None:
    sibling, item = (orjson.dumps(i) for i in _items(2))
    raw = b'{"accounts": [' + sibling + b", " + item[:-1] + b', "requester": "SECOND"}]}'
    case = batch_case(
        OPTIONS, ENDPOINTS, "batchAccounts", "duplicate member", [], raw=raw,
        valid=frozenset({0}), invalid={1: ItemExpect("input.duplicate-key", soft=True)},
    )  # fmt: skip
    _, failures = _judge(case, _accepting(case))
    assert _found(failures) == {("batch.invalid-item-accepted", "warning")}
    assert "last member wins" in failures[0].message
    # Rejected (per item or as a whole) is fine too; only a 5xx is an error.
    assert _judge(case, _accepting(case, frozenset({1})))[1] == []
    spring_400 = orjson.dumps(
        {"timestamp": "t", "status": 400, "error": "Bad Request", "path": "/"}
    )
    assert _judge(case, Received(400, JSON, spring_400))[1] == []
    assert ("server.no-5xx", "error") in _found(_judge(case, Received(500, JSON, b"{}"))[1])


def test_an_accepted_invalid_item_is_an_error() -> None:
    good, bad = _items(2)
    bad["accountStatus"] = "CLOSED"  # no closingDate
    case = batch_case(
        OPTIONS, ENDPOINTS, "batchAccounts", "invalid", [good, bad], valid=frozenset({0}),
        invalid={1: ItemExpect("accounts.closing-date-required", "002")},
    )  # fmt: skip
    _, failures = _judge(case, _accepting(case))
    assert _found(failures) == {("batch.invalid-item-accepted", "error")}


def _interop_case(label: str) -> Case:
    items = dict(interop_items(OPTIONS, "batchAccounts", Uniques("unit01")))
    return batch_case(
        OPTIONS, ENDPOINTS, "batchAccounts", f"interop: {label}", [items[label]],
        valid=frozenset({0}), interop=True,
    )  # fmt: skip


def test_a_rejected_leap_second_in_the_interop_case_is_a_warning() -> None:
    case = _interop_case("leap second")
    assert case.items()[0]["openingDate"].endswith(":60Z")
    _, failures = _judge(case, _accepting(case, frozenset({0})))
    assert _found(failures) == {("batch.valid-item-rejected", "warning")}
    spring_400 = orjson.dumps(
        {"timestamp": "t", "status": 400, "error": "Bad Request", "path": "/"}
    )
    _, failures = _judge(case, Received(400, JSON, spring_400))
    assert _found(failures) == {("batch.valid-item-rejected", "warning")}
    assert _judge(case, _accepting(case))[1] == []
    assert ("server.no-5xx", "error") in _found(_judge(case, Received(500, JSON, b"{}"))[1])


def test_a_rejected_plain_valid_item_is_an_error() -> None:
    case = batch_case(OPTIONS, ENDPOINTS, "batchAccounts", "plain", _items(1), valid=frozenset({0}))
    _, failures = _judge(case, _accepting(case, frozenset({0})))
    assert _found(failures) == {("batch.valid-item-rejected", "error")}


def test_interop_values_are_valid_and_positive_data_is_conservative() -> None:
    for op in ("batchAccounts", "registerBatchAccountBalances"):
        key = "accounts" if op == "batchAccounts" else "accountBalances"
        for label, item in interop_items(OPTIONS, op, Uniques("unit02")):
            report = validate_request(op, {key: [item]}, classifiers=OPTIONS.fixtures.classifiers)
            assert report.valid, (label, report.errors)


# ------------------------------------------------------------------ generated items


def _violation(rule: str, pointer: str) -> Violation:
    return Violation(rule=rule, severity="error", pointer=pointer, message="m")


def test_null_for_an_optional_member_is_hygiene_but_not_for_a_required_one() -> None:
    item = {"bic": None, "requester": None}
    required = ("requester",)
    assert hygiene_only([_violation("schema.type", "/accounts/0/bic")], item, required)
    assert hygiene_only([_violation("input.duplicate-key", "/accounts/0/x")], item, required)
    assert not hygiene_only([_violation("schema.type", "/accounts/0/requester")], item, required)
    mixed = [
        _violation("schema.type", "/accounts/0/bic"),
        _violation("schema.enum", "/accounts/0/a"),
    ]
    assert not hygiene_only(mixed, item, required)


def test_item_expectations_from_the_validator() -> None:
    good, nulled, bad = _items(3)
    nulled["bic"] = None
    bad["accountStatus"] = "closed"
    body = {"accounts": [good, nulled, bad]}
    report = validate_request("batchAccounts", body, classifiers=OPTIONS.fixtures.classifiers)
    expect = item_expectations("batchAccounts", report.errors, body["accounts"])
    assert set(expect) == {1, 2}
    assert expect[1].soft and not expect[2].soft
    outside = [_violation("input.duplicate-key", "/accounts")]
    assert item_expectations("batchAccounts", outside, body["accounts"]) == {}


# ------------------------------------------------------------------ single operations


def _single(op: str = "createAccount", **expect: Any) -> Case:
    item = _items(1, op)[0]
    return batch_case(OPTIONS, ENDPOINTS, op, "single", [item], **expect)


def test_a_single_operation_sends_the_item_itself() -> None:
    case = _single()
    assert case.kind == checks.SINGLE
    assert case.item_key is None
    assert case.sent.method == "POST" and case.sent.url == f"{BASE}/amlyze-ws-rest/account"
    body = orjson.loads(case.sent.body or b"")
    assert body["communicationNumber"] and "accounts" not in body
    assert case.items() == [body]
    # The balance under its revision's member name, by the revision's document.
    later = OPTIONS.with_(revision="2024-12-12")
    ends = Endpoints(BASE, OPTIONS.brm_base_url, "2024-12-12")
    item = base_item(later, "registerAccountBalance", Uniques("unit01"))
    balance = batch_case(later, ends, "registerAccountBalance", "x", [item])
    assert balance.sent.method == "PUT" and "balanceAt" in orjson.loads(balance.sent.body or b"")
    batch = batch_case(later, ends, "registerBatchAccountBalances", "x", [])
    assert batch.sent.method == "POST"


def _answer(status: int, body: Any) -> Received:
    return Received(status, JSON, orjson.dumps(body))


REJECTION = {"resultType": "REQUEST_REJECTED", "errorCode": "O005", "errorDescription": "used"}


@pytest.mark.parametrize(
    ("status", "body", "problem"),
    [
        (200, {"resultType": "OK"}, None),
        (200, {"resultType": "REQUEST_ACCEPTED"}, None),
        (400, REJECTION, None),
        (400, {"timestamp": "t", "status": 400, "error": "Bad Request", "path": "/x"}, None),
        (200, {"resultType": "OK", "errorCode": "001"}, "carries errorCode"),
        (
            400,
            {"resultType": "REQUEST_REJECTED", "errorCode": "", "errorDescription": "x"},
            "without",
        ),
        (400, {"resultType": "REQUEST_REJECTED", "errorDescription": "x"}, "without"),
        (400, {"resultType": "OK", "errorCode": "1", "errorDescription": "x"}, "a 400 rejection"),
        (200, {"resultType": "ACCEPTED"}, "accepted values"),
        # Any JSON a server may send: a list or object is unhashable (it raised
        # TypeError in the set lookups), so it is reported as sent.
        (200, {"resultType": ["OK"]}, "accepted values"),
        (
            400,
            {"resultType": {"a": 1}, "errorCode": "1", "errorDescription": "x"},
            "a 400 rejection",
        ),
    ],
)
def test_single_result_shape(status: int, body: Any, problem: str | None) -> None:
    """A single operation's answer is its one result: the batch's result rules apply."""
    applied, failures = _judge(_single(), _answer(status, body))
    shape = {"batch.result-type-values", "batch.rejection-has-error"}
    assert shape <= set(applied)
    found = [f for f in failures if f.rule in shape]
    if problem is None:
        assert not found
    else:
        assert len(found) == 1 and problem in found[0].message, found
        type_problem = problem in ("a 400 rejection", "accepted values")
        assert found[0].rule == (
            "batch.result-type-values" if type_problem else "batch.rejection-has-error"
        )


def test_an_invalid_single_item_must_not_be_accepted() -> None:
    expect = {0: ItemExpect("accounts.bic-required-for-external", "005")}
    case = _single(invalid=expect)
    _, failures = _judge(case, _answer(200, {"resultType": "OK"}))
    assert ("batch.invalid-item-accepted", "error") in _found(failures)
    # Rejected with another code: the vendor code is a warning.
    wrong = {**REJECTION, "errorCode": "001"}
    _, failures = _judge(case, _answer(400, wrong))
    assert _found(failures) == {("batch.rejection-code", "warning")}
    # "O005" ends with "005": as in the batch, the code's tail decides.
    assert not _judge(case, _answer(400, {**REJECTION, "errorCode": "005"}))[1]
    # A 400 without a resultType (Spring's body): refused as a whole, no code to judge.
    spring = {"timestamp": "t", "status": 400, "error": "Bad Request", "path": "/x"}
    assert not _judge(case, _answer(400, spring))[1]


def test_a_valid_single_item_must_be_accepted_and_a_reused_number_rejected() -> None:
    valid = _single(valid=frozenset({0}))
    assert not _judge(valid, _answer(200, {"resultType": "OK"}))[1]
    _, failures = _judge(valid, _answer(400, REJECTION))
    assert ("batch.valid-item-rejected", "error") in _found(failures)
    reused = _single(reused=frozenset({0}))
    assert not _judge(reused, _answer(400, REJECTION))[1]
    _, failures = _judge(reused, _answer(200, {"resultType": "OK"}))
    assert ("batch.communication-number-reuse", "error") in _found(failures)


@pytest.mark.parametrize("kind", [[], {}, ["REQUEST_ACCEPTED"]])
def test_a_result_type_of_any_json_is_judged_not_crashed_on(kind: Any) -> None:
    valid = _single(valid=frozenset({0}))
    _, failures = _judge(valid, _answer(200, {"resultType": kind}))
    assert ("batch.valid-item-rejected", "error") in _found(failures)
    assert ("batch.result-type-values", "error") in _found(failures)
    invalid = _single(invalid={0: ItemExpect("accounts.bic-required-for-external", "005")})
    _, failures = _judge(invalid, _answer(200, {"resultType": kind}))
    assert ("batch.invalid-item-accepted", "error") not in _found(failures)


def test_validate_saves_nothing() -> None:
    single = _single(valid=frozenset({0}), free=frozenset({0}))
    assert not _judge(single, _answer(200, {"resultType": "OK"}))[1]
    _, failures = _judge(single, _answer(400, REJECTION))
    assert ("batch.valid-item-rejected", "error") in _found(failures)
    items = _items(2)
    batch = batch_case(
        OPTIONS,
        ENDPOINTS,
        "batchAccounts",
        "x",
        items,
        valid=frozenset({0, 1}),
        free=frozenset({1}),
    )
    assert not _judge(batch, _accepting(batch))[1]
    _, failures = _judge(batch, _accepting(batch, rejected=frozenset({1})))
    saves = [f for f in failures if "only to validate-batch-accounts" in f.message]
    assert len(saves) == 1 and "item 1" in saves[0].message
    assert saves[0].rule == "batch.valid-item-rejected"


def test_single_rules_are_listed_for_single_operations() -> None:
    single = rules_for_operation("createAccount")
    assert {"batch.result-type-values", "batch.rejection-has-error"} <= set(single)
    assert "batch.invalid-item-accepted" in single and "batch.valid-item-rejected" in single
    assert "batch.result-per-item" not in single and "brm.id-echo" not in single
    assert "batch.valid-item-rejected" in rules_for_operation("validateBatchAccounts")


# ------------------------------------------------------------------ any answer

ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2) | st.sampled_from(["", "x", "OK", "O005"]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.just("k"), inner, max_size=1),
    max_leaves=3,
)
MEMBERS = ("resultType", "errorCode", "errorDescription", "communicationNumber", "accountExtId",
           "businessUnit", "timeElapsedMs", "results", "id", "href", "@type", "code")  # fmt: skip
# Bodies shaped like answers (a result list, a result, a BRM balance), any JSON inside.
OBJECTS = st.fixed_dictionaries({}, optional=dict.fromkeys(MEMBERS, ANY_JSON))
ANSWER_BODIES = st.one_of(
    ANY_JSON,
    OBJECTS,
    st.builds(
        lambda results, total: {"results": results, "timeElapsedMs": total},
        st.lists(st.one_of(ANY_JSON, OBJECTS), max_size=3),
        ANY_JSON,
    ),
)


def _cases() -> list[Case]:
    two = _items(2)
    return [
        batch_case(OPTIONS, ENDPOINTS, "batchAccounts", "mixed", two, valid=frozenset({0}),
                   invalid={1: ItemExpect("accounts.closing-date-required", "002")}),
        _single(valid=frozenset({0})),
        _single(reused=frozenset({0})),
        brm_case(OPTIONS, ENDPOINTS, "known", KNOWN, probe="brm-known"),
        brm_case(OPTIONS, ENDPOINTS, "unknown", "0.0.0.1+-account+9", probe="brm-unknown"),
    ]  # fmt: skip


@pytest.mark.parametrize("case", _cases(), ids=lambda case: case.label)
@given(status=st.sampled_from([200, 400, 404, 500]), body=ANSWER_BODIES)
def test_any_json_answer_is_judged_without_an_exception(case: Case, status: int, body: Any) -> None:
    # A hostile or broken server can answer anything: the checks judge it, and a
    # 200 whose body is not the documented shape fails something.
    applied, failures = _judge(case, Received(status, JSON, orjson.dumps(body)))
    assert applied
    if status == 500:
        assert ("server.no-5xx", "error") in _found(failures)
