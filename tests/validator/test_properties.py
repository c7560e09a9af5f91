"""Property tests: generated valid bodies pass; one-rule mutations fail with exactly
that rule; the fast path never accepts what the slow path rejects."""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amlyze_contracts import validate_request
from amlyze_contracts.catalogue import load_rules
from amlyze_contracts.engine.compiler import compiled
from amlyze_contracts.engine.fast import SCHEMA, fast_check
from amlyze_contracts.engine.slow import diagnose
from amlyze_contracts.formats import is_date_time

from .builders import iban

ISO4217 = sorted(load_rules().sets["iso4217"])
BIC = r"[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?"

# ----------------------------------------------------------------- strategies

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)
boundary_text = st.one_of(text, st.integers(1, 255).map(lambda n: "ž" * n))


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    return draw(st.datetimes(datetime(1990, 1, 1), datetime(2035, 12, 31))).replace(tzinfo=UTC)


@st.composite
def rfc3339(draw: st.DrawFn, moment: datetime) -> str:
    """The same instant written in one of RFC 3339's many spellings."""
    minutes = draw(st.sampled_from([0, 0, 60, -300, 330, 120, -720]))
    local = moment.astimezone(timezone(timedelta(minutes=minutes)))
    digits = draw(st.sampled_from([0, 3, 6]))
    text_ = local.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text_ += "." + f"{local.microsecond:06d}"[:digits]
    if minutes == 0 and draw(st.booleans()):
        suffix = draw(st.sampled_from(["Z", "z"]))
    else:
        sign = "+" if minutes >= 0 else "-"
        suffix = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    sep = draw(st.sampled_from(["T", "t"]))
    return text_.replace("T", sep) + suffix


@st.composite
def accounts(draw: st.DrawFn, index: int) -> dict[str, Any]:
    opening = draw(instants())
    item: dict[str, Any] = {
        "communicationNumber": f"{index}-{draw(text)}"[:255],
        "requester": draw(st.one_of(text, st.just("R" * 100))),
        "businessEntityExtId": draw(text),
        "accountExtId": draw(boundary_text),
        "accountNumber": draw(
            st.one_of(
                st.builds(iban, st.just("LT"), st.from_regex(r"[0-9]{16}", fullmatch=True)),
                st.builds(iban, st.just("GB"), st.from_regex(r"[A-Z]{4}[0-9]{14}", fullmatch=True)),
                st.from_regex(r"[0-9]{6,12}", fullmatch=True),
            )
        ),
        "accountStatus": draw(st.sampled_from(["ACTIVE", "CLOSED", "SUSPENDED"])),
        "currencyCode": draw(st.sampled_from(ISO4217)),
        "openingDate": draw(rfc3339(opening)),
    }
    if item["accountStatus"] == "CLOSED":
        # At least 1 s later: rendering drops fraction digits (truncating by < 1 s).
        later = opening + draw(st.timedeltas(timedelta(seconds=1), timedelta(days=4000)))
        item["closingDate"] = draw(rfc3339(later))
    if item["accountStatus"] == "SUSPENDED" and draw(st.booleans()):
        item["suspensionReasons"] = draw(text)
    external = draw(st.sampled_from([True, False, None]))
    if external is not None:
        item["isOtherFinInstAccount"] = external
    if external or draw(st.booleans()):
        item["bic"] = draw(st.from_regex(BIC, fullmatch=True))
    for name, strategy in (
        ("businessUnit", st.text(min_size=1, max_size=255)),
        ("action", st.sampled_from(["CREATE", "UPDATE"])),
        ("accountType", text),
        ("accountPurpose", text),
        ("bankTitle", text),
    ):
        if draw(st.booleans()):
            item[name] = draw(strategy)
    return item


@st.composite
def account_batches(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 6))
    return {"accounts": [draw(accounts(i)) for i in range(count)]}


@st.composite
def balance_batches(draw: st.DrawFn) -> dict[str, Any]:
    items = []
    for i in range(draw(st.integers(1, 5))):
        item: dict[str, Any] = {
            "communicationNumber": f"{i}-{draw(text)}",
            "requester": draw(text),
            "balanceType": draw(text),
            "accountExtId": draw(text),
            "updateAt": draw(rfc3339(draw(instants()))),
            "value": draw(
                st.one_of(st.integers(-(10**12), 10**12), st.floats(-1e12, 1e12, allow_nan=False))
            ),
        }
        if draw(st.booleans()):
            item["equivalentValue"] = draw(st.floats(-1e9, 1e9, allow_nan=False))
        if draw(st.booleans()):
            item["businessUnit"] = draw(text)
        items.append(item)
    return {"accountBalances": items}


def encode(draw: st.DrawFn, body: dict[str, Any]) -> bytes:
    indent = draw(st.sampled_from([None, 2]))
    return json.dumps(body, indent=indent, ensure_ascii=draw(st.booleans())).encode()


# ----------------------------------------------------------------- valid bodies


@pytest.mark.slow
@given(st.data())
def test_generated_valid_account_batches_pass(data: st.DataObject) -> None:
    body = data.draw(account_batches())
    raw = encode(data.draw, body)
    for given_body in (raw, raw.decode(), body):
        report = validate_request("batchAccounts", given_body)
        assert report.violations == [], [v.to_dict() for v in report]
    # ...and cheaply so, unless a \u003x escape makes the duplicate-key proof unsafe.
    if b"\\u003" not in raw:
        assert compiled("batchAccounts").fast_valid(raw, as_item=False)


@given(st.data())
def test_generated_valid_balance_batches_pass(data: st.DataObject) -> None:
    body = data.draw(balance_batches())
    report = validate_request("registerBatchAccountBalances", encode(data.draw, body))
    assert report.violations == [], [v.to_dict() for v in report]


# ----------------------------------------------------------------- one-rule mutations


def _drop(item: dict[str, Any], *names: str) -> None:
    for name in names:
        item.pop(name, None)


def _earlier(item: dict[str, Any]) -> None:
    opening = datetime.fromisoformat(item["openingDate"].upper().replace("Z", "+00:00"))
    item.update(accountStatus="CLOSED", closingDate=(opening - timedelta(seconds=1)).isoformat())
    _drop(item, "suspensionReasons")


def _bad_iban(item: dict[str, Any]) -> None:
    good = iban("LT", "1000011101001000")
    item["accountNumber"] = good[:-1] + str((int(good[-1]) + 1) % 10)


MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "accounts.bic-required-for-external": lambda i: (
        i.update(isOtherFinInstAccount=True),
        _drop(i, "bic"),
    ),
    "accounts.closing-date-required": lambda i: (
        i.update(accountStatus="CLOSED"),
        _drop(i, "closingDate", "suspensionReasons"),
    ),
    "accounts.closing-date-only-when-closed": lambda i: (
        i.update(accountStatus="ACTIVE", closingDate="2099-01-01T00:00:00Z"),
        _drop(i, "suspensionReasons"),
    ),
    "accounts.suspension-reasons-only-when-suspended": lambda i: (
        i.update(accountStatus="ACTIVE", suspensionReasons="audit"),
        _drop(i, "closingDate"),
    ),
    "accounts.closing-after-opening": _earlier,
    "accounts.bic-format": lambda i: i.update(bic="bank-of-x"),
    "accounts.iban-checksum": _bad_iban,
    "common.currency-code": lambda i: i.update(currencyCode="ABC"),
    "common.unknown-field": lambda i: i.update(acountPurpose="x"),
    "schema.required": lambda i: _drop(i, "requester"),
    "schema.maxLength": lambda i: i.update(communicationNumber="C" * 256),
    "schema.enum": lambda i: (
        i.update(accountStatus="OPEN"),
        _drop(i, "closingDate", "suspensionReasons"),
    ),
    "schema.format": lambda i: (
        i.update(openingDate="2023-02-29T10:00:00Z", accountStatus="ACTIVE")
        or _drop(i, "closingDate", "suspensionReasons")
    ),
    "schema.type": lambda i: i.update(accountExtId=12345),
}


@pytest.mark.slow
@given(st.data())
def test_single_rule_mutations_fail_with_exactly_that_rule(data: st.DataObject) -> None:
    body = data.draw(account_batches())
    rule = data.draw(st.sampled_from(sorted(MUTATIONS)))
    target = data.draw(st.integers(0, len(body["accounts"]) - 1))
    MUTATIONS[rule](body["accounts"][target])
    raw = encode(data.draw, body)
    report = validate_request("batchAccounts", raw)
    assert report.rules() == {rule}, [v.to_dict() for v in report]
    assert {v.pointer.split("/")[2] for v in report} == {str(target)}
    assert all(v.line is not None for v in report)
    assert not compiled("batchAccounts").fast_valid(raw, as_item=False)


@pytest.mark.slow
@given(st.data())
def test_reused_communication_number_is_reported_on_the_later_item(data: st.DataObject) -> None:
    body = data.draw(account_batches().filter(lambda b: len(b["accounts"]) >= 2))
    body["accounts"][-1]["communicationNumber"] = body["accounts"][0]["communicationNumber"]
    report = validate_request("batchAccounts", encode(data.draw, body))
    assert report.rules() == {"batch.communication-number-unique"}
    assert (
        report.violations[0].pointer == f"/accounts/{len(body['accounts']) - 1}/communicationNumber"
    )


# ----------------------------------------------------------------- fast vs slow path

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    text,
    st.lists(st.integers(), max_size=2),
)


@pytest.mark.slow
@given(st.data())
def test_fast_path_never_accepts_what_the_slow_path_rejects(data: st.DataObject) -> None:
    body = data.draw(account_batches())
    item = body["accounts"][0]
    key = data.draw(st.sampled_from([*item, "nickname", "bic", "closingDate"]))
    item[key] = data.draw(values)
    raw = encode(data.draw, body)
    comp = compiled("batchAccounts")
    if comp.fast_valid(raw, as_item=False):
        assert comp.diagnose(json.loads(raw), as_item=False) == []


@pytest.mark.slow
@given(st.data())
def test_a_schema_the_fast_path_proved_is_a_schema_without_violations(
    data: st.DataObject,
) -> None:
    # The slow path skips the schema diagnosis of a body the decoder accepted (only
    # rules broken): it must find the same violations as the full diagnosis.
    body = data.draw(account_batches())
    for item in body["accounts"]:
        edit = data.draw(st.sampled_from(["bic", "closed", "open", "warn", "schema", None]))
        if edit == "bic":  # accounts.bic-required-for-external
            item["isOtherFinInstAccount"] = True
            item.pop("bic", None)
        elif edit == "closed":  # accounts.closing-date-required
            item["accountStatus"] = "CLOSED"
            item.pop("closingDate", None)
            item.pop("suspensionReasons", None)
        elif edit == "open":  # closing-date-only-when-closed
            item["accountStatus"] = "ACTIVE"
            item["closingDate"] = item["openingDate"]
        elif edit == "warn":  # bic-format, currency-code
            item.update(bic="not a bic", currencyCode="XXZ")
        elif edit == "schema":
            key = data.draw(st.sampled_from([*item, "nickname", "bic", "closingDate"]))
            item[key] = data.draw(values)
    raw = encode(data.draw, body)
    comp = compiled("batchAccounts")
    proven = fast_check(comp, raw, as_item=False)
    if proven == SCHEMA:
        parsed = json.loads(raw)
        full = comp.diagnose(parsed, as_item=False)
        assert not [v for v in full if v.rule.startswith("schema.")]
        proved = diagnose(comp, parsed, False, schema_proven=True)
        assert sorted(map(repr, proved)) == sorted(map(repr, full))


# ----------------------------------------------------------------- date-time


def reference_date_time(value: str) -> bool:
    """RFC 3339 section 5.6, checked field by field with the calendar module."""
    m = re.fullmatch(
        r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(\.\d+)?([Zz]|[+-](\d\d):(\d\d))", value
    )
    if not m:
        return False
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    # Year 0000 is a leap year in the proleptic Gregorian calendar, like 2000.
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year or 2000, month)[1]:
        return False
    if hour > 23 or minute > 59 or second > 60:
        return False
    return m.group(9) is None or (int(m.group(9)) <= 23 and int(m.group(10)) <= 59)


@given(
    st.integers(0, 9999),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
    st.sampled_from(["", ".5", ".123456789"]),
    st.sampled_from(["T", "t", " "]),
    st.sampled_from(["Z", "z", "+02:00", "-23:59", "+24:00", "+0200", "+02", ""]),
)
def test_date_time_matches_an_independent_reference(
    y: int, mo: int, d: int, h: int, mi: int, s: int, frac: str, sep: str, off: str
) -> None:
    value = f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}:{s:02d}{frac}{off}"
    assert is_date_time(value) == reference_date_time(value), value
