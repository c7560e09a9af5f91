"""Every request rule of CONTRACT.md section 2: a passing and a failing case each."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from amlyze_contracts import Report, validate_request

from .builders import (
    DELETE,
    SAMPLES,
    account,
    accounts_body,
    balance,
    balances_body,
    dumps,
)


@dataclass(frozen=True)
class Case:
    rule: str
    operation: str
    body: Any  # the failing body (parsed or bytes)
    pointer: str
    severity: str = "error"
    code: str | None = None
    passing: Any = None  # a body that must not trigger the rule (default: the valid batch)
    classifiers: dict[str, list[str]] | None = None


SNAPSHOT = {
    "currency": ["EUR", "USD", "GBP", "CHF", "PLN", "SEK"],
    "accountType": ["IND_B2B", "ORG_B2B"],
    "businessUnit": ["sandbox", "BU_1"],
    "accountBalanceType": ["DAILY_BALANCE", "STATEMENT_BALANCE"],
}


def acc(**changes: Any) -> dict[str, Any]:
    """A batch of one valid account and one changed account (item 1)."""
    return accounts_body(account(0), account(1, **changes))


CASES: list[Case] = [
    # schema rules, from the spec
    Case(
        "schema.required",
        "batchAccounts",
        acc(accountStatus=DELETE),
        "/accounts/1/accountStatus",
        code="002",
    ),
    Case(
        "schema.required",
        "batchAccounts",
        acc(openingDate=DELETE),
        "/accounts/1/openingDate",
        code="007",
    ),
    Case(
        "schema.required",
        "batchAccounts",
        acc(communicationNumber=DELETE),
        "/accounts/1/communicationNumber",
        code="001",
    ),
    Case(
        "schema.type",
        "batchAccounts",
        acc(isOtherFinInstAccount="true"),
        "/accounts/1/isOtherFinInstAccount",
    ),
    Case(
        "schema.enum",
        "batchAccounts",
        acc(accountStatus="OPEN"),
        "/accounts/1/accountStatus",
        code="002",
    ),
    Case(
        "schema.maxLength",
        "batchAccounts",
        acc(requester="R" * 101),
        "/accounts/1/requester",
        code="001",
        passing=acc(requester="R" * 100),
    ),
    Case(
        "schema.format",
        "batchAccounts",
        acc(openingDate="2023-09-05"),
        "/accounts/1/openingDate",
        code="007",
    ),
    Case(
        "schema.format",
        "registerBatchAccountBalances",
        balances_body(balance(0, updateAt="2023-02-29T00:00:00Z")),
        "/accountBalances/0/updateAt",
        passing=balances_body(balance(0, updateAt="2024-02-29T00:00:00Z")),
    ),
    Case(
        "schema.type",
        "registerBatchAccountBalances",
        balances_body(balance(0, value="12.50")),
        "/accountBalances/0/value",
    ),
    # supplementary rules
    Case(
        "accounts.bic-required-for-external",
        "batchAccounts",
        acc(bic=DELETE),
        "/accounts/1/bic",
        code="005",
        passing=acc(bic=DELETE, isOtherFinInstAccount=False),
    ),
    Case(
        "accounts.bic-required-for-external",
        "batchAccounts",
        acc(bic=""),
        "/accounts/1/bic",
        code="005",
    ),
    Case(
        "accounts.closing-date-required",
        "batchAccounts",
        acc(accountStatus="CLOSED"),
        "/accounts/1/closingDate",
        code="002",
        passing=acc(accountStatus="CLOSED", closingDate="2024-01-31T00:00:00Z"),
    ),
    Case(
        "accounts.closing-date-only-when-closed",
        "batchAccounts",
        acc(closingDate="2024-01-31T00:00:00Z"),
        "/accounts/1/closingDate",
        code="002",
    ),
    Case(
        "accounts.suspension-reasons-only-when-suspended",
        "batchAccounts",
        acc(suspensionReasons="fraud check"),
        "/accounts/1/suspensionReasons",
        passing=acc(accountStatus="SUSPENDED", suspensionReasons="fraud check"),
    ),
    # 10:30+02:00 is 08:30Z, before the 09:00Z opening, though its text sorts later.
    Case(
        "accounts.closing-after-opening",
        "batchAccounts",
        acc(
            accountStatus="CLOSED",
            openingDate="2023-11-10T09:00:00Z",
            closingDate="2023-11-10T10:30:00+02:00",
        ),
        "/accounts/1/closingDate",
        severity="warning",
        passing=acc(
            accountStatus="CLOSED",
            openingDate="2023-11-10T09:00:00Z",
            closingDate="2023-11-10T10:30:00-02:00",
        ),
    ),
    Case(
        "accounts.bic-format",
        "batchAccounts",
        acc(bic="BICXX22"),
        "/accounts/1/bic",
        severity="warning",
        passing=acc(bic="SANDLT22"),
    ),
    Case(
        "accounts.iban-checksum",
        "batchAccounts",
        acc(accountNumber="LT121000011101001001"),
        "/accounts/1/accountNumber",
        severity="warning",
        passing=acc(accountNumber="LT121000011101001000"),
    ),
    Case(
        "accounts.iban-checksum",
        "batchAccounts",
        acc(accountNumber="LT1210000111010010000"),
        "/accounts/1/accountNumber",
        severity="warning",
        passing=acc(accountNumber="ACC-7781-22"),
    ),  # wrong length for LT / not IBAN-shaped
    Case(
        "common.currency-code",
        "batchAccounts",
        acc(currencyCode="EUX"),
        "/accounts/1/currencyCode",
        severity="warning",
        code="001",
        passing=acc(currencyCode="SEK"),
    ),
    Case(
        "common.currency-code",
        "batchAccounts",
        acc(currencyCode="JPY"),
        "/accounts/1/currencyCode",
        code="001",
        classifiers=SNAPSHOT,
        passing=acc(currencyCode="CHF"),
    ),
    Case(
        "common.classifier",
        "batchAccounts",
        acc(accountType="RETAIL"),
        "/accounts/1/accountType",
        code="006",
        classifiers=SNAPSHOT,
    ),
    Case(
        "common.classifier",
        "registerBatchAccountBalances",
        balances_body(balance(0, balanceType="HOURLY")),
        "/accountBalances/0/balanceType",
        classifiers=SNAPSHOT,
    ),
    Case(
        "common.unknown-field",
        "batchAccounts",
        acc(acountType="IND_B2B"),
        "/accounts/1/acountType",
        severity="warning",
    ),
    Case(
        "balances.balance-at-renamed",
        "registerBatchAccountBalances",
        balances_body(balance(0, balanceAt="2024-05-26T23:59:59Z")),
        "/accountBalances/0/balanceAt",
        severity="warning",
    ),
    Case("batch.not-empty", "batchAccounts", {"accounts": []}, "/accounts", severity="warning"),
    Case(
        "batch.communication-number-unique",
        "batchAccounts",
        accounts_body(account(0), account(1, communicationNumber="COMM-000000")),
        "/accounts/1/communicationNumber",
        severity="warning",
        code="O005",
    ),
    # input rules
    Case("input.json-syntax", "batchAccounts", b'{"accounts": [],}', ""),
    Case(
        "input.encoding",
        "batchAccounts",
        '{"accounts": [{"bankTitle": "Šiaulių"}]}'.encode("cp1257"),
        "",
    ),
    Case("input.bom", "batchAccounts", b"\xef\xbb\xbf" + dumps(acc()), "", severity="warning"),
    Case("input.duplicate-key", "batchAccounts", b'{"accounts": [], "accounts": []}', "/accounts"),
    Case(
        "input.non-finite",
        "registerBatchAccountBalances",
        b'{"accountBalances": [{"value": NaN}]}',
        "",
    ),
    Case("input.too-deep", "batchAccounts", b"[" * 5000 + b"]" * 5000, ""),
]

CASE_IDS = [f"{c.rule}-{i}" for i, c in enumerate(CASES)]


def _validate(case: Case, body: Any) -> Report:
    return validate_request(case.operation, body, classifiers=case.classifiers)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_rule_fails(case: Case) -> None:
    report = _validate(case, case.body)
    hits = [v for v in report.violations if v.rule == case.rule]
    assert hits, f"{case.rule} not reported; got {[(v.rule, v.pointer) for v in report]}"
    hit = hits[0]
    assert hit.severity == case.severity
    if case.pointer:
        assert hit.pointer == case.pointer
    assert hit.code == case.code
    assert hit.message
    if case.severity == "error":
        assert not report.valid


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_rule_passes(case: Case) -> None:
    body = (
        case.passing
        if case.passing is not None
        else (
            balances_body(balance(0)) if case.operation == "registerBatchAccountBalances" else acc()
        )
    )
    report = _validate(case, body)
    assert case.rule not in report.rules(), [v.to_dict() for v in report]
    assert report.valid


def test_mutations_report_exactly_their_rule() -> None:
    """Each supplementary-rule case is a single change: no other rule may fire."""
    for case in CASES:
        if case.rule.startswith(("input.", "schema.")) or case.rule in ("batch.not-empty",):
            continue
        found = _validate(case, case.body).rules()
        assert found == {case.rule}, (case.rule, found)


# --------------------------------------------------------------------------- samples


def _iban_ok(value: str) -> bool:
    """Independent of the library: rebuild the check digits and compare."""
    from .builders import iban

    return iban(value[:2], value[4:]) == value and len(value) == {"LT": 20, "LI": 21}[value[:2]]


def test_vendor_samples_as_items() -> None:
    """The published samples, as they are: valid for errors; the sample BIC warns."""
    expected = {
        "activeMinPayload.json": ({"accounts.iban-checksum"}, True),
        "activeOtherFinancialInstitution.json": (
            {"accounts.iban-checksum", "accounts.bic-format"},
            True,
        ),
        "closedFullPayload.json": ({"accounts.iban-checksum", "accounts.bic-format"}, True),
        "suspendedFullPayload.json": ({"accounts.iban-checksum", "accounts.bic-format"}, True),
        "dailyBalance.json": (set(), False),
    }
    for name, (rules, valid) in expected.items():
        data = (SAMPLES / name).read_bytes()
        number = json.loads(data).get("accountNumber")
        if number is not None and _iban_ok(number):
            rules = rules - {"accounts.iban-checksum"}
        if name == "dailyBalance.json":
            rules = {"schema.required", "balances.balance-at-renamed"}
        report = validate_request(None, data)
        assert report.kind == "item", name
        assert report.valid is valid, (name, [v.to_dict() for v in report])
        assert report.rules() == rules, name
        for v in report:
            assert v.line is not None and v.column is not None, (name, v)


def test_sample_bic_warning_has_position() -> None:
    data = (SAMPLES / "activeOtherFinancialInstitution.json").read_bytes()
    report = validate_request("batchAccounts", data, item=True)
    (bic,) = [v for v in report if v.rule == "accounts.bic-format"]
    assert bic.severity == "warning" and bic.pointer == "/bic"
    line = data.decode().splitlines()[bic.line - 1]  # type: ignore[operator]
    assert line[bic.column - 1 :].startswith('"BICXX22"')  # type: ignore[operator]


def test_daily_balance_sample_suggests_the_rename() -> None:
    report = validate_request(
        "registerBatchAccountBalances", (SAMPLES / "dailyBalance.json").read_bytes(), item=True
    )
    (missing,) = [v for v in report if v.rule == "schema.required"]
    assert missing.pointer == "/updateAt"
    assert "balanceAt" in missing.message
    assert missing.line == 1 and missing.column == 1  # the object that lacks it


def test_single_item_forced_and_batch_forced() -> None:
    item = dumps(account(0))
    assert validate_request("batchAccounts", item).kind == "item"
    as_batch = validate_request("batchAccounts", item, item=False)
    assert as_batch.kind == "request" and "schema.required" in as_batch.rules()
    assert any(v.pointer == "/accounts" for v in as_batch)


def test_unknown_operation_shape() -> None:
    report = validate_request(None, b'{"payments": []}')
    assert report.rules() == {"input.operation-unknown"} and not report.valid


def test_published_seed_request_example_gets_the_documented_warnings() -> None:
    """The vendor's own batch example, kept verbatim in the bundled spec (ERRATA E6-E8)."""
    from amlyze_contracts.specs import operation

    media = operation("batchAccounts").definition["requestBody"]["content"]["application/json"]
    example = media["examples"]["mandatory_fields_as_published"]["value"]
    report = validate_request("batchAccounts", example)
    assert report.valid
    assert {(v.rule, v.pointer) for v in report} == {
        ("batch.communication-number-unique", "/accounts/1/communicationNumber"),
        ("accounts.bic-format", "/accounts/0/bic"),
        ("accounts.iban-checksum", "/accounts/1/accountNumber"),
    }
    corrected = media["examples"]["mandatory_fields"]["value"]
    assert validate_request("batchAccounts", corrected).violations == []
