"""The fast path's whole-column checks (engine.fast_columns, formats.all_*) agree with the
one-value forms and with the slow path, on batches shaped to reach every branch."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from amlyze_contracts import validate_request
from amlyze_contracts.engine.compiler import compiled
from amlyze_contracts.formats import (
    all_date_times,
    all_ibans,
    failing_date_times,
    is_date_time,
    is_iban,
    parse_date_times,
)

from .builders import account, accounts_body, iban

OP = "batchAccounts"

VALID_IBANS = [
    iban("LT", "1000011101001000"),
    iban("DE", "370400440532013000"),
    iban("GB", "WEST12345698765432"),  # letters in the BBAN
    iban("NO", "86011117947"),
    iban("LT", "7300010112345678"),
]
DATE_TIMES = [
    "2023-09-05T08:07:34.605Z",
    "2024-02-29T23:59:59+02:00",
    "2000-02-29T00:00:00-05:30",
    "2016-12-31T23:59:60Z",  # leap second: fromisoformat refuses, the regex decides
    "2024-01-01t10:00:00z",
    "0000-01-01T00:00:00Z",
    "2024-01-01T00:00:00.123456789+23:59",
]


def mutate(value: str, position: int, char: str) -> str:
    position %= len(value)
    return value[:position] + char + value[position + 1 :]


@given(
    st.lists(st.sampled_from(VALID_IBANS), min_size=1, max_size=6),
    st.lists(st.tuples(st.integers(0, 40), st.sampled_from("0179AZaz ٢\n")), max_size=2),
)
def test_all_ibans_agrees_with_is_iban(values: list[str], edits: list[tuple[int, str]]) -> None:
    for n, (position, char) in enumerate(edits):
        values[n % len(values)] = mutate(values[n % len(values)], position, char)
    assert all_ibans(values) == all(map(is_iban, values))


@given(
    st.lists(st.sampled_from(DATE_TIMES), min_size=1, max_size=6),
    st.lists(st.tuples(st.integers(0, 40), st.sampled_from("0169:+-TtZz ٢\n")), max_size=2),
)
def test_date_time_columns_agree_with_is_date_time(
    values: list[str], edits: list[tuple[int, str]]
) -> None:
    for n, (position, char) in enumerate(edits):
        values[n % len(values)] = mutate(values[n % len(values)], position, char)
    expected = all(map(is_date_time, values))
    assert all_date_times(values) == expected
    failing = failing_date_times(values)
    if failing is not None:  # None: a value spans lines; the caller tests one by one
        assert failing == {v for v in values if not is_date_time(v)}
    else:
        assert any("\n" in v for v in values)
    parsed = parse_date_times(values)
    if parsed is not None:  # only ever a proof of validity, with the instants
        assert expected
        assert parsed == [datetime.fromisoformat(v) for v in values]


@pytest.mark.parametrize("values", [[True, False], [7, 8], [["LT"], ["DE"]], [None]])
def test_column_checks_take_any_json_value(values: list[object]) -> None:
    assert all_ibans(values) is False
    assert all_date_times(values) is False
    assert parse_date_times(values) is None
    assert failing_date_times(values) is None


@pytest.mark.parametrize(
    "value",
    [
        "٢٠٢٣-09-05T08:07:34Z",  # other scripts' digits
        "2023-09-05T08:07:34Z\n",  # a trailing newline ($ would allow it)
        "2023-09-05T08:07:34+05:60",  # fromisoformat reads this as +06:00
        "2023-02-29T08:07:34Z",
    ],
)
def test_date_time_edge_cases_are_refused_by_both_paths(value: str) -> None:
    assert not is_date_time(value)
    body = accounts_body(*(account(i) for i in range(3)))
    body["accounts"][1]["openingDate"] = value
    report = validate_request(OP, json.dumps(body))
    assert [(v.rule, v.pointer) for v in report.violations] == [
        ("schema.format", "/accounts/1/openingDate")
    ]


def test_mixed_countries_and_rare_date_forms_stay_on_the_fast_path() -> None:
    items = [
        account(i, accountNumber=number, openingDate=DATE_TIMES[i % len(DATE_TIMES)])
        for i, number in enumerate(VALID_IBANS * 3)
    ]
    items[4].update(accountStatus="CLOSED", closingDate="2030-01-01T00:00:00+02:00")
    raw = json.dumps(accounts_body(*items))
    assert compiled(OP).fast_valid(raw, as_item=False)
    assert validate_request(OP, raw).valid


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # One bad check digit among many valid IBANs of several countries.
        (
            {"accountNumber": mutate(VALID_IBANS[1], 3, "0")},
            "accounts.iban-checksum",
        ),
        # Closing 1 microsecond before opening, in another offset.
        (
            {
                "accountStatus": "CLOSED",
                "openingDate": "2024-01-01T10:00:00.000001Z",
                "closingDate": "2024-01-01T12:00:00+02:00",
            },
            "accounts.closing-after-opening",
        ),
        ({"bic": "sandlt22"}, "accounts.bic-format"),
        ({"currencyCode": "XYZ"}, "common.currency-code"),
        ({"isOtherFinInstAccount": True, "bic": ""}, "accounts.bic-required-for-external"),
        ({"accountStatus": "SUSPENDED"}, None),
        ({"suspensionReasons": "fraud"}, "accounts.suspension-reasons-only-when-suspended"),
    ],
)
@pytest.mark.parametrize("count", [5, 40], ids=["object-by-object", "by-column"])
def test_one_broken_item_among_many_is_found(
    change: dict[str, object], expected: str | None, count: int
) -> None:
    items = [account(i, accountNumber=VALID_IBANS[i % 5]) for i in range(count)]
    broken = count // 2 + 1
    items[broken].update(change)
    raw = json.dumps(accounts_body(*items))
    report = validate_request(OP, raw)
    assert report.rules() == ({expected} if expected else set())
    assert all(v.pointer.startswith(f"/accounts/{broken}/") for v in report.violations)
    assert compiled(OP).fast_valid(raw, as_item=False) is (expected is None)


def test_user_rules_on_many_distinct_values_and_on_arrays(tmp_path: Path) -> None:
    path = tmp_path / "bank.rules.yaml"
    rules = [
        {
            "id": "bank.ext-id-shape",
            "severity": "error",
            "applies-to": "AmlyzeAccountApi",
            "require": {"accountExtId": {"matches": "^ACC-[0-9]+$"}},
            "message": "accountExtId must look like ACC-<digits>",
        },
        {
            "id": "bank.number-not-equal-ext-id",
            "severity": "warning",
            "applies-to": "AmlyzeAccountApi",
            "when": {"accountNumber": {"present": True}},
            "require": {"accountExtId": {"not-in": ["ACC-000007"]}},
            "message": "reserved accountExtId",
        },
    ]
    path.write_text(yaml.safe_dump({"version": 1, "rules": rules}), encoding="utf-8")
    items = [account(i) for i in range(30)]
    assert validate_request(OP, json.dumps(accounts_body(*items)), rules=[path]).rules() == {
        "bank.number-not-equal-ext-id"
    }
    items[7]["accountExtId"] = "ACC-X"
    report = validate_request(OP, json.dumps(accounts_body(*items)), rules=[path])
    assert [(v.rule, v.pointer) for v in report.violations] == [
        ("bank.ext-id-shape", "/accounts/7/accountExtId")
    ]
