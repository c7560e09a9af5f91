"""Bad input: every input rule with its position; no exception escapes but InputError."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from amlyze_contracts import InputError, validate_request
from amlyze_contracts.engine import jsoninput

from .builders import account, accounts_body, dumps

OP = "batchAccounts"


def only(body: bytes | str, rule: str) -> tuple[int | None, int | None, str]:
    report = validate_request(OP, body)
    hits = [v for v in report if v.rule == rule]
    assert len(hits) == 1, [v.to_dict() for v in report]
    return hits[0].line, hits[0].column, hits[0].message


def position(text: str, offset: int) -> tuple[int, int]:
    """Independent line/column (1-based, in characters) of a character offset."""
    before = text[:offset].split("\n")
    return len(before), len(before[-1]) + 1


@pytest.mark.parametrize(
    ("text", "needle", "hint"),
    [
        ('{\n  "accounts": [\n    {"requester": "X"},\n  ]\n}', ",\n  ]", "trailing comma"),
        ('{\n  "accounts": [] // no accounts today\n}', "//", "comments are not allowed"),
        ("{\n  accounts: []\n}", "accounts", 'write "accounts"'),
        ('{\n  "accounts": [\n    {"requester": "X"', None, "truncated"),
        ("{'accounts': []}", "'", "double quotes"),
    ],
)
def test_syntax_errors_have_position_and_hint(text: str, needle: str | None, hint: str) -> None:
    got_line, got_column, message = only(text.encode(), "input.json-syntax")
    offset = text.index(needle) if needle else len(text)
    assert (got_line, got_column) == position(text, offset)
    assert hint in message


def test_balances_seed_example_as_published_is_reported_not_crashed() -> None:
    # The seed writes a trailing comma after the last result, and // comments.
    body = '{\n  "results": [\n    {"resultType": "REQUEST_ACCEPTED"},\n  ],\n  "timeElapsedMs": 223\n}'
    line, column, message = only(body, "input.json-syntax")
    assert (line, column) == position(body, body.index(",\n  ]")) and "comma" in message


def test_columns_count_characters_not_bytes() -> None:
    body = '{"accounts": [{"bankTitle": "Šiaulių bankas",}]}'
    line, column, _ = only(body.encode(), "input.json-syntax")
    assert (line, column) == (1, body.index(",}") + 1)


def test_empty_and_whitespace_bodies() -> None:
    for body in (b"", b"  \n "):
        _, _, message = only(body, "input.json-syntax")
        assert "empty" in message


def test_bom_is_a_warning_and_validation_goes_on() -> None:
    body = b"\xef\xbb\xbf" + dumps(accounts_body(account(0, bic=None)))
    report = validate_request(OP, body)
    assert "input.bom" in report.rules()
    assert "schema.type" in report.rules()  # bic: null still found after the BOM
    (bom,) = [v for v in report if v.rule == "input.bom"]
    assert bom.severity == "warning" and (bom.line, bom.column) == (1, 1)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ('{"accounts": [{"bankTitle": "Kraków"}]}'.encode("latin-1"), "not valid UTF-8"),
        ('{"accounts": []}'.encode("utf-16"), "UTF-16"),
        ('{"accounts": []}'.encode("utf-32"), "UTF-32"),
    ],
)
def test_other_encodings(data: bytes, needle: str) -> None:
    _, _, message = only(data, "input.encoding")
    assert needle in message


def test_duplicate_keys_are_errors_with_position_and_rest_is_checked() -> None:
    body = b'{"accounts": [\n  {"accountStatus": "ACTIVE", "accountStatus": "CLOSED"}\n]}'
    report = validate_request(OP, body)
    (dup,) = [v for v in report if v.rule == "input.duplicate-key"]
    text = body.decode()
    assert dup.pointer == "/accounts/0/accountStatus"
    assert (dup.line, dup.column) == position(text, text.rindex('"accountStatus"'))
    assert "schema.required" in report.rules()  # the rest of the item is still validated


def test_duplicate_hidden_behind_unicode_escape_is_found() -> None:
    # \u003a is ':' inside a string: the cheap colon count cannot be trusted, the scan runs.
    body = b'{"accounts": [{"bankTitle": "a\\u003ab", "bankTitle": "c"}]}'
    assert "input.duplicate-key" in validate_request(OP, body).rules()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers(literal: str) -> None:
    body = f'{{"accountBalances": [{{"value": {literal}}}]}}'
    report = validate_request("registerBatchAccountBalances", body.encode())
    (hit,) = [v for v in report if v.rule == "input.non-finite"]
    assert (hit.line, hit.column) == (1, body.index(literal) + 1)


def test_non_finite_in_parsed_input() -> None:
    report = validate_request(
        "registerBatchAccountBalances", {"accountBalances": [{"value": float("nan")}]}
    )
    assert [v.pointer for v in report if v.rule == "input.non-finite"] == [
        "/accountBalances/0/value"
    ]


def test_deep_nesting_is_bounded() -> None:
    depth = 100_000
    for body in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth):
        line, column, message = only(body, "input.too-deep")
        assert line == 1 and column is not None and "1024" in message
    # Parsed input that deep cannot reach the validator without the caller recursing
    # already; the duplicate scanner is iterative all the same:
    assert jsoninput.scan_duplicates("[" * depth + "]" * depth) == []


def test_non_json_objects_raise_input_error() -> None:
    for bad in (object(), {1, 2}, {"accounts": [object()]}):
        with pytest.raises(InputError):
            validate_request(OP, bad)


def test_valid_input_never_computes_positions(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_args: object) -> None:
        raise AssertionError("positions computed for a valid body")

    monkeypatch.setattr("amlyze_contracts.engine.slow.locate", boom)
    body = dumps(accounts_body(*(account(i) for i in range(50))))
    report = validate_request(OP, body)
    assert report.valid and not report.violations


@pytest.mark.slow
@pytest.mark.parametrize("broken", [False, True], ids=["valid-fast-path", "one-error-slow-path"])
def test_200_megabyte_body_peak_memory_under_12x(broken: bool) -> None:
    """Peak RSS growth while validating a 200 MB body, measured in a fresh process."""
    script = textwrap.dedent(
        """
        import json, resource, sys
        sys.path.insert(0, %r)
        from builders import account
        from amlyze_contracts import validate_request
        validate_request("batchAccounts", b'{"accounts": []}')  # specs and rules compiled
        template = json.dumps(account(1, communicationNumber="N%%d")).encode()
        count = 200_000_000 // len(template) + 1000
        items = [template %% i for i in range(count)]
        if %r:
            items[-1] = items[-1].replace(b'"bic": "SANDLT22XXX", ', b"")
        body = b'{"accounts": [' + b",".join(items) + b"]}"
        del items
        size = len(body)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        report = validate_request("batchAccounts", body)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(size, max(peak, before) - size, sorted(report.rules()))
        """
    ) % (str(Path(__file__).parent), broken)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-2000:]
    size, peak_beyond_body, rules = out.stdout.split(maxsplit=2)
    assert int(size) >= 200_000_000
    expected = "['accounts.bic-required-for-external']" if broken else "[]"
    assert rules.strip() == expected
    ratio = (int(peak_beyond_body) + int(size)) / int(size)
    assert ratio < 12, f"peak memory {ratio:.1f}x the body"


def test_positions_can_be_skipped() -> None:
    body = b'{"accounts": [{"isOtherFinInstAccount": true}]}'
    with_positions = validate_request(OP, body)
    without = validate_request(OP, body, positions=False)
    assert sorted((v.rule, v.pointer) for v in without) == sorted(
        (v.rule, v.pointer) for v in with_positions
    )
    assert all(v.line is None for v in without) and all(v.line is not None for v in with_positions)


def test_many_duplicates_all_positioned() -> None:
    items = ",\n".join('{"requester": "A", "requester": "B"}' for _ in range(300))
    text = '{"accounts": [\n' + items + "\n]}"
    dups = [v for v in validate_request(OP, text.encode()) if v.rule == "input.duplicate-key"]
    assert len(dups) == 300
    assert [(v.line, v.column) for v in dups] == [(i + 2, 20) for i in range(300)]
    assert dups[299].pointer == "/accounts/299/requester"


@pytest.mark.parametrize(
    "shape",
    ["compact", "pretty", "brace-in-string", "key-as-value", "escaped-quote", "nested"],
)
def test_flat_batch_positions_equal_the_general_walk(shape: str) -> None:

    items = [account(i) for i in range(4)]
    del items[2]["requester"]
    items[1]["requester"] = "bic"  # a value spelled like a key: not a key
    if shape == "brace-in-string":
        items[3]["bankTitle"] = "Bank {North} [LT]"
    elif shape == "escaped-quote":
        items[3]["bankTitle"] = 'say "bic": no'
    elif shape == "nested":
        items[0]["extra"] = {"bic": "X"}
    body = {"accounts": items}
    text = json.dumps(body, indent=2 if shape == "pretty" else None, ensure_ascii=False)
    pointers = [
        *(f"/accounts/{i}/{name}" for i in range(4) for name in ("bic", "requester", "nope")),
        "/accounts/3",
        "/accounts",
        "",
    ]
    locate = jsoninput.locate
    assert locate(text, pointers, json.loads(text)) == locate(text, pointers)
    # The plain-search path answered where it may, and stood aside where it may not.
    searched = jsoninput._locate_in_flat_batch(text, json.loads(text), pointers)
    assert bool(searched) is (shape in ("compact", "pretty", "key-as-value"))
    if shape == "compact":  # the answer itself, for one member
        line, column = locate(text, ["/accounts/1/bic"], body)["/accounts/1/bic"]
        offset = text.index('"bic": "SANDLT22XXX"', text.index('"COMM-000001"')) + len('"bic": ')
        assert (line, column) == (1, offset + 1)
