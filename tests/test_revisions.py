"""Vendor revisions as data: the documents lint clean, the revision table is whole, and
everything the vendor published in each revision of its pages (samples, JSON examples,
field tables) agrees with that revision's documents, except the mistakes listed in
specs/ERRATA.md, which are asserted to fail for the documented reason.

The checks use jsonschema (Draft 2020-12, formats asserted), independently of the
validator, so the data stands on its own before any command takes a revision.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from amlyze_contracts import revisions
from amlyze_contracts.spec_diff import diff_sources
from amlyze_contracts.spec_lint import lint_file
from amlyze_contracts.specs import bundled_dir, list_bundled
from tests.conftest import REPO, REVISIONS

DATES = ("2024-11-04", "2024-11-05", "2024-11-28", "2024-12-12")
OPERATIONS = {
    "batchAccounts": ("POST", "/amlyze-ws-rest/batch-accounts"),
    "validateBatchAccounts": ("POST", "/amlyze-ws-rest/validate-batch-accounts"),
    "createAccount": ("POST", "/amlyze-ws-rest/account"),
    "registerAccountBalance": ("PUT", "/amlyze-ws-rest/account-balance"),
    "registerBatchAccountBalances": ("POST", "/amlyze-ws-rest/batch-account-balances"),
    "retrieveAccumulatedBalance": ("GET", "/accumulatedBalance/{id}"),
}
# The balances batch was PUT until the pages of 2024-11-28 (E34).
METHOD_BEFORE = {("registerBatchAccountBalances", d): "PUT" for d in ("2024-11-04", "2024-11-05")}
# The vendor's pages: folder -> (single-item operation, batch operation).
PAGES = {
    "account": ("createAccount", "batchAccounts"),
    "accountBalance": ("registerAccountBalance", "registerBatchAccountBalances"),
}
ERRATA = (REPO / "specs" / "ERRATA.md").read_text(encoding="utf-8")


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _errors(schema: dict[str, Any] | None, instance: Any) -> list[str]:
    assert schema is not None
    return sorted(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in _validator(schema).iter_errors(instance)
    )


def _operation(date: str, operation_id: str) -> Any:
    return revisions.resolve(date).operations()[operation_id]


def test_formats_are_asserted() -> None:
    # Without rfc3339-validator, jsonschema would pass every date-time silently.
    checker = _validator({"type": "string", "format": "date-time"})
    assert not checker.is_valid("2024-05-26T16:49:50.237")
    assert checker.is_valid("2024-05-26T16:49:50.237Z")


# --- the documents and the table ------------------------------------------------------------


def _documents() -> list[Path]:
    table = revisions.table()
    return sorted({p for r in table.revisions.values() for p in r.documents.values()})


@pytest.mark.parametrize("path", _documents(), ids=lambda p: p.name)
def test_every_revision_document_lints_clean(path: Path) -> None:
    assert lint_file(path) == []


def test_revision_table_names_every_date_and_operation() -> None:
    table = revisions.table()
    assert table.names() == list(DATES)
    assert sorted(p.name for p in REVISIONS.iterdir() if p.is_dir()) == list(DATES)
    assert table.default == "2024-11-04"
    assert table.latest == max(DATES) and revisions.resolve("latest").name == max(DATES)
    for date in DATES:
        revision = revisions.resolve(date)
        assert set(revision.documents) == set(OPERATIONS), date
        assert re.fullmatch(r"[0-9a-f]{7}", revision.commit)
        assert revision.commit in (REVISIONS / "README.md").read_text(encoding="utf-8")
        for operation_id, op in revision.operations().items():
            method, path = OPERATIONS[operation_id]
            assert (op.method, op.path) == (METHOD_BEFORE.get((operation_id, date), method), path)
            assert revision.documents[operation_id].is_file()
            assert revision.documents[operation_id].is_relative_to(bundled_dir())


def test_the_default_revision_is_todays_bundled_specs() -> None:
    default = revisions.resolve("2024-11-04")
    for operation_id, name in (
        ("batchAccounts", "batch-accounts"),
        ("registerBatchAccountBalances", "batch-account-balances"),
        ("retrieveAccumulatedBalance", "accumulated-balance"),
    ):
        assert default.documents[operation_id] == bundled_dir() / f"{name}.openapi.yaml"
    # The revision documents live in a subfolder the bundled loader does not list.
    assert list_bundled() == ["accumulated-balance", "batch-account-balances", "batch-accounts"]


def test_dates_share_a_document_exactly_where_the_operation_did_not_change() -> None:
    for older, newer in itertools.pairwise(DATES):
        changed = {c.operation_id for c in diff_sources(older, newer).changes}
        documents = revisions.resolve(older).documents, revisions.resolve(newer).documents
        distinct = {op for op in OPERATIONS if documents[0][op] != documents[1][op]}
        assert changed == distinct, (older, newer)


def test_unknown_revision_names_the_known_ones() -> None:
    with pytest.raises(
        revisions.SpecError, match=r"unknown revision '2024-11-06' \(known: 2024-11-04, .*latest\)"
    ):
        revisions.resolve("2024-11-06")


def test_a_malformed_revision_table_is_reported_not_crashed(tmp_path: Path) -> None:
    for document, message in (
        ([], "expected a mapping with a 'revisions' mapping"),
        ({"revisions": {"2024-01-01": {"operations": {}}}}, "'commit' must be a non-empty string"),
        (
            {
                "default": "x",
                "latest": "x",
                "revisions": {"a": {"commit": "c", "changes": "d", "operations": {}}},
            },
            "'x' is not one of its revisions",
        ),
    ):
        with pytest.raises(revisions.SpecError, match=re.escape(message)):
            revisions.parse_table(document, tmp_path)


# --- what the vendor published, revision by revision ----------------------------------------


def _samples() -> Iterator[tuple[str, str, Path]]:
    for date in DATES:
        for folder in PAGES:
            for sample in sorted((REVISIONS / date / folder / "samples").glob("*.json")):
                yield date, folder, sample


SAMPLES = list(_samples())


def test_every_revision_folder_has_its_samples() -> None:
    assert len(SAMPLES) == len(DATES) * 5


@pytest.mark.parametrize(
    ("date", "folder", "sample"), SAMPLES, ids=[f"{d}/{f}/{s.name}" for d, f, s in SAMPLES]
)
def test_every_vendor_sample_fits_its_own_revision(date: str, folder: str, sample: Path) -> None:
    body = json.loads(sample.read_text(encoding="utf-8"))
    single, batch = PAGES[folder]
    assert _errors(_operation(date, single).request_schema, body) == []
    member = "accounts" if folder == "account" else "accountBalances"
    assert _errors(_operation(date, batch).request_schema, {member: [body]}) == []


def test_the_balance_samples_tell_the_revisions_apart() -> None:
    old = json.loads(
        (REVISIONS / "2024-11-04/accountBalance/samples/dailyBalance.json").read_text()
    )
    new = json.loads(
        (REVISIONS / "2024-12-12/accountBalance/samples/dailyBalance.json").read_text()
    )
    # Each fits its own revision only; a required member is what tells them apart.
    seed, later = (_operation(d, "registerAccountBalance").request_schema for d in DATES[:2])
    assert _errors(seed, old) == [] and _errors(later, new) == []
    assert _errors(seed, new) == [": 'updateAt' is a required property"]
    assert _errors(later, old) == [": 'balanceAt' is a required property"]


# JSON blocks in the pages' markdown: a request block, then a block of "STATUS text"
# headers each followed by a body. Vendor mistakes that make a block not JSON, by page
# and block (all revisions alike); the erratum that documents each.
NOT_JSON = {
    ("account/single.md", "request"): ("comment", "E41"),
    ("account/single.md", "404"): ("comment", "E17"),
    ("account/batch.md", "request"): ("comment", "E41"),
    ("account/batch.md", "200"): ("trailing comma", "E41"),
    ("account/batch.md", "200#2"): ("trailing comma", "E41"),
    ("accountBalance/single.md", "404"): ("comment", "E17"),
    ("accountBalance/batch.md", "200"): ("trailing comma", "E16"),
    ("accountBalance/batch.md", "404"): ("comment", "E17"),
}
_COMMENT = re.compile(r"\s*//[^\n]*")
_TRAILING_COMMA = re.compile(r",(\s*[\]}])")
_STATUS = re.compile(r"^(\d{3})\b[^\n{]*$", re.M)


def _blocks(page: Path) -> Iterator[tuple[str, str]]:
    """(block name, text): ``request``, then ``200``, ``200#2``, ``400``, ..."""
    fenced = re.findall(r"```json[^\n]*\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    request, responses = fenced
    yield "request", request
    seen: dict[str, int] = {}
    parts = _STATUS.split(responses)
    for status, text in zip(parts[1::2], parts[2::2], strict=True):
        seen[status] = seen.get(status, 0) + 1
        yield status if seen[status] == 1 else f"{status}#{seen[status]}", text


def _repair(text: str) -> tuple[Any, str | None]:
    """The block as JSON, and which documented mistake had to be undone (if any)."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError:
        pass
    for mistake, pattern, replacement in (
        ("comment", _COMMENT, ""),
        ("trailing comma", _TRAILING_COMMA, r"\1"),
    ):
        fixed = pattern.sub(replacement, text)
        if fixed != text:
            return json.loads(fixed), mistake
    raise AssertionError(f"not JSON for an undocumented reason: {text[:80]!r}")


def _page_examples() -> Iterator[tuple[str, str, str, str, str]]:
    for date in DATES:
        for folder in PAGES:
            for page in ("single.md", "batch.md"):
                for block, text in _blocks(REVISIONS / date / folder / page):
                    yield date, folder, page, block, text


PAGE_EXAMPLES = list(_page_examples())


@pytest.mark.parametrize(
    ("date", "folder", "page", "block", "text"),
    PAGE_EXAMPLES,
    ids=[f"{d}/{f}/{p}/{b}" for d, f, p, b, _ in PAGE_EXAMPLES],
)
def test_every_json_example_of_the_pages_fits_its_revision(
    date: str, folder: str, page: str, block: str, text: str
) -> None:
    body, mistake = _repair(text)
    documented = NOT_JSON.get((f"{folder}/{page}", block))
    assert mistake == (documented[0] if documented else None)
    if documented:
        assert f"**{documented[1]}." in ERRATA
    single, batch = PAGES[folder]
    op = _operation(date, single if page == "single.md" else batch)
    schema = op.request_schema if block == "request" else op.response_schema(block[:3])
    assert _errors(schema, body) == []


def test_the_pages_have_the_json_blocks_we_check() -> None:
    blocks = {(f"{f}/{p}", b) for d, f, p, b, _ in PAGE_EXAMPLES if d == DATES[0]}
    assert set(NOT_JSON) <= blocks
    assert len(PAGE_EXAMPLES) == len(DATES) * len(blocks) and len(blocks) == 19


# Results that do not echo the request of their own page: (page, block, result index,
# member) -> the erratum. Correlation is exact (case-sensitive), as batch.result-correlation.
NOT_ECHOED = {
    ("account/batch.md", "200", 1, "accountExtId"): "E41",
    ("accountBalance/batch.md", "200", 1, "communicationNumber"): "E18",
}


@pytest.mark.parametrize("date", DATES)
def test_published_batch_results_echo_their_request_except_errata(date: str) -> None:
    mismatches: dict[tuple[str, str, int, str], str] = {}
    for folder in PAGES:
        blocks = dict(_blocks(REVISIONS / date / folder / "batch.md"))
        request, _ = _repair(blocks.pop("request"))
        (items,) = request.values()
        for block, text in blocks.items():
            body, _ = _repair(text)
            for index, result in enumerate(body.get("results", [])):
                for member in ("communicationNumber", "accountExtId"):
                    if result[member] != items[index][member]:
                        mismatches[(f"{folder}/batch.md", block, index, member)] = result[member]
    assert set(mismatches) == set(NOT_ECHOED)
    assert mismatches[("accountBalance/batch.md", "200", 1, "communicationNumber")] == "CommNumber1"
    for erratum in NOT_ECHOED.values():
        assert f"**{erratum}." in ERRATA


# The field tables (fields.md): every row's example against its member's schema, and the
# page's "Mandatory" column against the schema's required list.
_ROW = re.compile(r"<td><b>(\w+)</b></td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>", re.S)
# (revision, member) -> (the example's failure, erratum).
BAD_FIELD_EXAMPLES = {
    ("2024-11-04", "updateAt"): ("'2000-01-03' is not a 'date-time'", "E36"),
    ("2024-11-05", "balanceAt"): ("'2000-01-03' is not a 'date-time'", "E36"),
    ("2024-11-28", "balanceAt"): ("'2024-05-26T16:49:50.237' is not a 'date-time'", "E36"),
    ("2024-12-12", "balanceAt"): ("'2024-05-26T16:49:50.237' is not a 'date-time'", "E36"),
}
# (revision, member): the page says not mandatory, the document requires it (E35).
REQUIRED_DESPITE_PAGE = {
    ("2024-11-04", "accountExtId"),
    ("2024-11-04", "updateAt"),
    ("2024-11-05", "accountExtId"),
    ("2024-11-05", "balanceAt"),
    ("2024-11-28", "balanceAt"),
    ("2024-12-12", "balanceAt"),
}


def _field_rows(date: str, folder: str) -> list[tuple[str, str, str, str]]:
    text = (REVISIONS / date / folder / "fields.md").read_text(encoding="utf-8")
    rows = _ROW.findall(text.split("<tbody>", 1)[1])
    return [
        (name, kind, mandatory.strip(), example.strip()) for name, kind, mandatory, example in rows
    ]


def _typed(example: str, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "number":
        return float(example)
    if kind == "boolean":
        return {"true": True, "false": False}[example]
    return example


@pytest.mark.parametrize("date", DATES)
def test_field_tables_agree_with_the_revision_except_errata(date: str) -> None:
    bad_examples: dict[tuple[str, str], str] = {}
    required_anyway: set[tuple[str, str]] = set()
    for folder, (single, _batch) in PAGES.items():
        schema = _operation(date, single).request_schema
        rows = _field_rows(date, folder)
        assert len(rows) >= 8, folder
        for name, _kind, mandatory, example in rows:
            member = schema["properties"][name]  # every documented field is in the schema
            errors = _errors(member, _typed(example, member))
            if errors:
                bad_examples[(date, name)] = errors[0].lstrip(": ")
            required = name in schema["required"]
            # "true/false": mandatory only under a condition (a rule, not the schema).
            assert required == (mandatory == "true") or (
                required and mandatory == "false" and (date, name) in REQUIRED_DESPITE_PAGE
            ), (folder, name, mandatory)
            if required and mandatory == "false":
                required_anyway.add((date, name))
    expected = {k: v for k, v in BAD_FIELD_EXAMPLES.items() if k[0] == date}
    assert bad_examples == {k: v[0] for k, v in expected.items()}
    assert required_anyway == {k for k in REQUIRED_DESPITE_PAGE if k[0] == date}
    assert "**E35." in ERRATA and "**E36." in ERRATA
