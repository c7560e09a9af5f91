"""``revision=`` of the library and ``validate --revision``: every body the vendor
published in a revision of its pages passes OUR validator under that revision (the
samples as bodies of the single operations, not only as batch items), and a body that
breaks its revision but fits another is told which ``--revision`` accepts it.

tests/test_revisions.py checks the same copies with jsonschema alone; here they go
through the validator, its rule set and its operation detection.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from amlyze_contracts import validate_request, validate_response
from amlyze_contracts.catalogue import RuleFileError, load_rules
from amlyze_contracts.cli import main
from amlyze_contracts.specs import SpecError, load
from amlyze_contracts.violations import InputError, Report
from tests.conftest import REPO, REVISIONS
from tests.test_revisions import DATES, PAGE_EXAMPLES, PAGES, SAMPLES, _repair

OLD_BALANCE = REVISIONS / "2024-11-04/accountBalance/samples/dailyBalance.json"
NEW_BALANCE = REVISIONS / "2024-11-05/accountBalance/samples/dailyBalance.json"
ACCOUNT = REVISIONS / "2024-12-12/account/samples/activeMinPayload.json"
LATER = ("2024-11-05", "2024-11-28", "2024-12-12")
ERRATA = (REPO / "specs" / "ERRATA.md").read_text(encoding="utf-8")
# Vendor mistakes the validator must catch in the pages' examples (every revision
# alike), by page and block: the violation (rule, pointer) and the erratum.
EXAMPLE_MISTAKES = {
    ("account", "batch.md", "200"): (
        [("batch.result-correlation", "/results/1/accountExtId")],
        "E41",
    ),
    ("accountBalance", "batch.md", "200"): (
        [("batch.result-correlation", "/results/1/communicationNumber")],
        "E18",
    ),
}


def _errors(report: Report) -> list[str]:
    return [f"{v.rule} {v.pointer}: {v.message}" for v in report.errors]


@pytest.mark.parametrize(
    ("date", "folder", "sample"), SAMPLES, ids=[f"{d}/{f}/{s.name}" for d, f, s in SAMPLES]
)
def test_every_vendor_sample_validates_under_its_own_revision(
    date: str, folder: str, sample: Path
) -> None:
    data = sample.read_bytes()
    single, batch = PAGES[folder]
    detected = validate_request(None, data, revision=date)
    # A single-item sample is the body of the single operation, detected as such.
    assert (detected.operation_id, detected.kind) == (single, "request")
    assert _errors(detected) == []
    named = validate_request(single, data, revision=date)
    assert (named.kind, _errors(named)) == ("request", [])
    as_item = validate_request(batch, data, revision=date, item=True)
    assert (as_item.kind, _errors(as_item)) == ("item", [])
    member = "accounts" if folder == "account" else "accountBalances"
    batch_body = {member: [json.loads(data)]}
    assert _errors(validate_request(batch, batch_body, revision=date)) == []
    # The same rule set and ids as the batch: the item's warnings, one for one.
    assert {v.rule for v in named.violations} == {v.rule for v in as_item.violations}


@pytest.mark.parametrize(
    ("date", "folder", "page", "block", "text"),
    PAGE_EXAMPLES,
    ids=[f"{d}/{f}/{p}/{b}" for d, f, p, b, _ in PAGE_EXAMPLES],
)
def test_every_json_example_of_the_pages_validates_under_its_revision(
    date: str, folder: str, page: str, block: str, text: str
) -> None:
    # Blocks that are not JSON (comments, trailing commas) are documented vendor
    # mistakes, repaired and checked against specs/ERRATA.md in tests/test_revisions.py.
    body, _ = _repair(text)
    single, batch = PAGES[folder]
    operation_id = single if page == "single.md" else batch
    if block == "request":
        report = validate_request(operation_id, body, revision=date)
        assert report.kind == "request"
    else:
        # With the request, the request/response rules run too.
        request, _ = _repair(next(t for d, f, p, b, t in PAGE_EXAMPLES if (d, f, p, b) == (
            date, folder, page, "request")))  # fmt: skip
        report = validate_response(
            operation_id, int(block[:3]), body, request=request, revision=date
        )
    mistake = EXAMPLE_MISTAKES.get((folder, page, block))
    if mistake is None:
        assert _errors(report) == []
    else:
        assert [(v.rule, v.pointer) for v in report.errors] == mistake[0]
        assert f"**{mistake[1]}." in ERRATA


def test_a_body_of_a_later_revision_names_the_revision_that_accepts_it() -> None:
    report = validate_request(None, NEW_BALANCE.read_bytes())  # the default: 2024-11-04
    assert report.operation_id == "registerBatchAccountBalances"
    (error,) = report.errors
    assert error.rule == "schema.required"
    assert error.message.endswith(
        "the body fits vendor revision 2024-11-05 (also 2024-11-28, 2024-12-12): "
        "use --revision 2024-11-05"
    )
    assert "balances.balance-at-renamed" in report.rules()
    # Not for a caller that shows no positions (the server answers for its revision).
    quiet = validate_request(None, NEW_BALANCE.read_bytes(), positions=False)
    assert "--revision" not in quiet.errors[0].message
    # Under a revision that calls it balanceAt, neither the error nor the rename rule.
    for date in LATER:
        fits = validate_request(None, NEW_BALANCE.read_bytes(), revision=date)
        assert fits.violations == [], date
    named = validate_request(
        "registerAccountBalance", NEW_BALANCE.read_bytes(), revision="2024-11-04"
    )
    assert "use --revision 2024-11-05" in named.errors[0].message


def test_a_body_of_the_seed_revision_names_it_under_a_later_one() -> None:
    for date in (*LATER, "latest"):
        report = validate_request("registerAccountBalance", OLD_BALANCE.read_bytes(), revision=date)
        assert report.errors[0].message.endswith(
            "the body fits vendor revision 2024-11-04: use --revision 2024-11-04"
        ), date


def test_no_hint_when_no_revision_accepts_the_body_or_with_a_user_spec(tmp_path: Path) -> None:
    broken = json.loads(NEW_BALANCE.read_bytes())
    del broken["communicationNumber"]
    report = validate_request(None, broken)
    assert report.errors and not any("--revision" in v.message for v in report.violations)
    user = load(REPO / "specs/batch-account-balances.openapi.yaml")
    spec_only = validate_request(
        "registerBatchAccountBalances", NEW_BALANCE.read_bytes(), spec=user
    )
    assert spec_only.errors and not any("--revision" in v.message for v in spec_only.violations)


def test_without_a_revision_nothing_changes() -> None:
    # The bundled specs know no single operations: a sample is a batch item there.
    report = validate_request(None, ACCOUNT.read_bytes())
    assert (report.operation_id, report.kind) == ("batchAccounts", "item")
    seed = validate_request(None, OLD_BALANCE.read_bytes(), revision="2024-11-04")
    default = validate_request("registerBatchAccountBalances", OLD_BALANCE.read_bytes())
    assert seed.errors == default.errors == []


def test_latest_is_the_newest_revision() -> None:
    body = OLD_BALANCE.read_bytes()
    latest = validate_request("registerAccountBalance", body, revision="latest")
    newest = validate_request("registerAccountBalance", body, revision=DATES[-1])
    assert latest.violations == newest.violations and latest.errors


def test_an_unknown_revision_or_two_spec_sources_is_a_clear_exception() -> None:
    with pytest.raises(SpecError, match=r"unknown revision '2023-01-01' \(known: .*latest\)"):
        validate_request(None, ACCOUNT.read_bytes(), revision="2023-01-01")
    with pytest.raises(SpecError, match="unknown revision"):
        validate_response("createAccount", 200, b'{"resultType": "OK"}', revision="soon")
    spec = load(REPO / "specs/batch-accounts.openapi.yaml")
    with pytest.raises(InputError, match="not both"):
        validate_request("batchAccounts", ACCOUNT.read_bytes(), spec=spec, revision="latest")


def test_the_single_operations_responses_validate_by_revision() -> None:
    ok = validate_response("createAccount", 200, b'{"resultType": "OK"}', revision="latest")
    assert ok.errors == []
    with pytest.raises(SpecError, match="createAccount"):
        validate_response("createAccount", 200, b'{"resultType": "OK"}')  # not bundled


def test_unless_defined_must_be_a_list_of_names(tmp_path: Path) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "version: 1\nrules:\n  - id: x.y\n    applies-to: AccountBalance\n"
        "    unless-defined: balanceAt\n    when: {balanceAt: {present: true}}\n"
        "    message: m\n"
    )
    with pytest.raises(RuleFileError, match="'unless-defined' must be a list"):
        load_rules((str(rules),))


# --- the command ------------------------------------------------------------------------


def _run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main(["validate", *map(str, argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_cli_revision_validates_every_sample_of_its_pages(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for date in DATES:
        code, out, _ = _run(capsys, "--revision", date, "--format", "json", REVISIONS / date)
        files: list[dict[str, Any]] = json.loads(out)["files"]
        assert code == 0, date
        assert len(files) == 5 and all(f["valid"] for f in files)
        assert {(f["operation"], f["kind"]) for f in files} == {
            ("createAccount", "request"),
            ("registerAccountBalance", "request"),
        }


def test_cli_default_names_the_revision_that_fits(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, NEW_BALANCE)
    assert code == 1
    assert "use --revision 2024-11-05" in out
    code, out, _ = _run(capsys, "--revision", "2024-11-05", NEW_BALANCE)
    assert code == 0 and out.splitlines()[-1] == "1 file checked: 0 errors, 0 warnings in 0 files"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--revision", "2023-01-01"), "unknown revision '2023-01-01'"),
        (("--revision", "latest", "--spec", "x.yaml"), "not both"),
    ],
)
def test_cli_bad_revision_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    code, out, err = _run(capsys, *argv, NEW_BALANCE)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err


def test_cli_revision_with_an_operation_and_a_response(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rejected = tmp_path / "rejected.json"
    rejected.write_text('{"resultType": "ERROR", "errorCode": "001", "errorDescription": "x"}')
    code, out, _ = _run(
        capsys, "--revision", "latest", "--operation", "createAccount", "--response", "400",
        rejected,
    )  # fmt: skip
    assert code == 0, out
    code, _, err = _run(capsys, "--operation", "createAccount", NEW_BALANCE)
    assert code == 2 and "unknown operation 'createAccount'" in err
