"""``amlyze-contracts specs diff``: the vendor's real revisions, one synthetic pair of specs
per change kind (with the severity a client would expect, written out here rather than
read from the table), renames, the three formats and the exit codes."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from amlyze_contracts.cli import main
from amlyze_contracts.spec_diff import BOUNDS, CHANGE_KINDS, diff_sources
from amlyze_contracts.specs import bundled_dir
from tests.conftest import REPO

Doc = dict[str, Any]


def _base() -> Doc:
    """One operation with a parameter, a request body and a 200 and a 400 response."""
    item = {
        "type": "object",
        "required": ["id", "amount"],
        "properties": {
            "id": {"type": "string", "description": "Identifier of the item."},
            "amount": {"type": "number", "description": "Amount in the item's currency."},
            "note": {"type": "string", "description": "Free text."},
        },
    }
    result = {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "string", "enum": ["OK", "ERROR"], "description": "Outcome."},
            "detail": {"type": "string", "description": "Why."},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "servers": [{"url": "https://example.invalid/api"}],
        "security": [{"bearerAuth": []}],
        "paths": {
            "/items": {
                "post": {
                    "operationId": "postItems",
                    "parameters": [
                        {
                            "name": "q",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string"},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"items": {"type": "array", "items": item}},
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {"application/json": {"schema": result}},
                        },
                        "400": {
                            "description": "bad",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                    },
                }
            }
        },
        "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
    }


def _op(doc: Doc) -> Doc:
    return next(iter(next(iter(doc["paths"].values())).values()))  # type: ignore[no-any-return]


def _item(doc: Doc) -> Doc:
    body = _op(doc)["requestBody"]["content"]["application/json"]["schema"]
    return body["properties"]["items"]["items"]  # type: ignore[no-any-return]


def _result(doc: Doc) -> Doc:
    return _op(doc)["responses"]["200"]["content"]["application/json"]["schema"]  # type: ignore[no-any-return]


def _param(doc: Doc) -> Doc:
    return _op(doc)["parameters"][0]  # type: ignore[no-any-return]


def _write(tmp_path: Path, name: str, doc: Doc) -> str:
    path = tmp_path / f"{name}.openapi.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


def _kinds(tmp_path: Path, old: Doc, new: Doc) -> dict[str, str]:
    report = diff_sources(_write(tmp_path, "old", old), _write(tmp_path, "new", new))
    return {c.kind: c.severity for c in report.changes}


def _mutated(change: Callable[[Doc], object]) -> Doc:
    doc = _base()
    change(doc)
    return doc


B, N = "breaking", "non-breaking"

# Operation, body, status, parameter and member changes: a mutation of the base document
# and the kinds it must produce, with their severity for a client.
STRUCTURAL: dict[str, tuple[Callable[[Doc], object], dict[str, str]]] = {
    "method": (
        lambda d: d["paths"]["/items"].update(put=d["paths"]["/items"].pop("post")),
        {"api-method-changed": B},
    ),
    "path": (
        lambda d: d["paths"].update({"/things": d["paths"].pop("/items")}),
        {"api-path-changed": B},
    ),
    "base path": (
        lambda d: d.update(servers=[{"url": "https://example.invalid/v2"}]),
        {"api-base-path-changed": B},
    ),
    "operation id": (
        lambda d: _op(d).update(operationId="createItems"),
        {"api-operation-id-changed": N},
    ),
    "security removed": (lambda d: d.update(security=[]), {"api-security-removed": N}),
    "body optional": (
        lambda d: _op(d)["requestBody"].update(required=False),
        {"request-body-became-optional": N},
    ),
    "body removed": (lambda d: _op(d).pop("requestBody"), {"request-body-removed": B}),
    "body media type": (
        lambda d: _op(d)["requestBody"].update(content={"application/xml": {"schema": {}}}),
        {"request-body-media-type-removed": B, "request-body-media-type-added": N},
    ),
    "success status removed": (
        lambda d: _op(d)["responses"].pop("200"),
        {"response-success-status-removed": B},
    ),
    "error status removed": (
        lambda d: _op(d)["responses"].pop("400"),
        {"response-non-success-status-removed": N},
    ),
    "statuses added": (
        lambda d: _op(d)["responses"].update(
            {"201": {"description": "x"}, "409": {"description": "x"}}
        ),
        {"response-success-status-added": N, "response-non-success-status-added": N},
    ),
    "response media type": (
        lambda d: _op(d)["responses"]["400"].update(content={"text/plain": {"schema": {}}}),
        {"response-media-type-removed": B, "response-media-type-added": N},
    ),
    "parameter required": (
        lambda d: _param(d).update(required=True),
        {"request-parameter-became-required": B},
    ),
    "parameter removed": (
        lambda d: _op(d).update(parameters=[]),
        {"request-parameter-removed": B},
    ),
    "parameters added": (
        lambda d: _op(d)["parameters"].extend(
            [{"name": "r", "in": "query", "required": True}, {"name": "s", "in": "header"}]
        ),
        {"new-required-request-parameter": B, "new-optional-request-parameter": N},
    ),
    "request members added": (
        lambda d: (
            _item(d)["properties"].update(x={"type": "string"}, y={"type": "string"}),
            _item(d)["required"].append("x"),
        ),
        {"new-required-request-property": B, "new-optional-request-property": N},
    ),
    "request member removed": (
        lambda d: _item(d)["properties"].pop("note"),
        {"request-property-removed": B},
    ),
    "request member required": (
        lambda d: _item(d)["required"].append("note"),
        {"request-property-became-required": B},
    ),
    "request member optional": (
        lambda d: _item(d)["required"].remove("amount"),
        {"request-property-became-optional": N},
    ),
    "response member added": (
        lambda d: _result(d)["properties"].update(code={"type": "string"}),
        {"response-property-added": N},
    ),
    "response member removed": (
        lambda d: _result(d)["properties"].pop("detail"),
        {"response-property-removed": B},
    ),
    "response member optional": (
        lambda d: _result(d).update(required=[]),
        {"response-property-became-optional": B},
    ),
    "response member required": (
        lambda d: _result(d)["required"].append("detail"),
        {"response-property-became-required": N},
    ),
    "request member renamed": (
        lambda d: _item(d).update(
            properties={
                "id": _item(d)["properties"]["id"],
                "value": {"type": "number", "description": "Amount, in the item's currency."},
                "note": _item(d)["properties"]["note"],
            },
            required=["id", "value"],
        ),
        {"request-property-renamed": B},
    ),
    "response member renamed": (
        lambda d: _result(d).update(
            properties={
                "status": _result(d)["properties"]["status"],
                "reason": {"type": "string", "description": "Why"},
            }
        ),
        {"response-property-renamed": B},
    ),
}


@pytest.mark.parametrize("case", STRUCTURAL)
def test_structural_change_kinds(case: str, tmp_path: Path) -> None:
    change, expected = STRUCTURAL[case]
    assert _kinds(tmp_path, _base(), _mutated(change)) == expected


def test_the_reverse_changes(tmp_path: Path) -> None:
    old = _mutated(lambda d: (d.update(security=[]), _op(d).pop("requestBody")))
    assert _kinds(tmp_path, old, _base()) == {"api-security-added": B, "request-body-added": B}
    old = _mutated(lambda d: _op(d)["requestBody"].update(required=False))
    assert _kinds(tmp_path, old, _base()) == {"request-body-became-required": B}
    old = _mutated(lambda d: _param(d).update(required=True))
    assert _kinds(tmp_path, old, _base()) == {"request-parameter-became-optional": N}


def test_operations_removed_and_added(tmp_path: Path) -> None:
    new = _mutated(
        lambda d: d["paths"].update(
            {"/things": {"get": {"operationId": "getThings", "responses": {}}}},
            **{"/items": {}},
        )
    )
    report = diff_sources(_write(tmp_path, "old", _base()), _write(tmp_path, "new", new))
    assert [(c.kind, c.severity, c.operation_id) for c in report.changes] == [
        ("api-removed", B, "postItems"),
        ("api-added", N, "getThings"),
    ]


# Constraint kinds: (old schema, new schema) -> suffix. The same pair is placed in a
# request member, a parameter and a response member.
CONSTRAINTS: dict[str, tuple[Doc, Doc]] = {
    "type-changed": ({"type": "string"}, {"type": "boolean"}),
    "type-generalized": ({"type": "integer"}, {"type": ["number", "null"]}),
    "type-specialized": ({"type": ["string", "null"]}, {"type": "string"}),
    "format-set": ({"type": "string"}, {"type": "string", "format": "date-time"}),
    "format-unset": ({"type": "string", "format": "date"}, {"type": "string"}),
    "format-changed": (
        {"type": "string", "format": "date"},
        {"type": "string", "format": "date-time"},
    ),
    "pattern-set": ({"type": "string"}, {"type": "string", "pattern": "^[A-Z]+$"}),
    "pattern-unset": ({"type": "string", "pattern": "^[A-Z]+$"}, {"type": "string"}),
    "pattern-changed": (
        {"type": "string", "pattern": "^[A-Z]+$"},
        {"type": "string", "pattern": "^[a-z]+$"},
    ),
    "enum-set": ({"type": "string"}, {"type": "string", "enum": ["A"]}),
    "enum-unset": ({"type": "string", "enum": ["A"]}, {"type": "string"}),
    "enum-value-removed": (
        {"type": "string", "enum": ["A", "B"]},
        {"type": "string", "enum": ["A"]},
    ),
    "enum-value-added": (
        {"type": "string", "enum": ["A"]},
        {"type": "string", "enum": ["A", "B"]},
    ),
}
for _name, _keyword in BOUNDS:
    CONSTRAINTS[f"{_name}-decreased"] = ({_keyword: 10}, {_keyword: 5})
    CONSTRAINTS[f"{_name}-increased"] = ({_keyword: 5}, {_keyword: 10})
    CONSTRAINTS[f"{_name}-set"] = ({}, {_keyword: 5})
    CONSTRAINTS[f"{_name}-unset"] = ({_keyword: 5}, {})

# What breaks a client, stated independently of the table: a request (or parameter)
# that accepts less, a response that may carry more, anything changed outright.
_MAX = [name for name, keyword in BOUNDS if keyword.startswith("max")]
_MIN = [name for name, keyword in BOUNDS if keyword.startswith("min")]
BREAKS_REQUEST = {
    "type-changed",
    "type-specialized",
    "format-set",
    "format-changed",
    "pattern-set",
    "pattern-changed",
    "enum-set",
    "enum-value-removed",
    *(f"{n}-{s}" for n in _MAX for s in ("decreased", "set")),
    *(f"{n}-{s}" for n in _MIN for s in ("increased", "set")),
}
BREAKS_RESPONSE = {
    "type-changed",
    "type-generalized",
    "format-unset",
    "format-changed",
    "pattern-unset",
    "pattern-changed",
    "enum-unset",
    "enum-value-added",
    *(f"{n}-{s}" for n in _MAX for s in ("increased", "unset")),
    *(f"{n}-{s}" for n in _MIN for s in ("decreased", "unset")),
}
PLACES: dict[str, Callable[[Doc], Doc]] = {
    "request-property": lambda d: _item(d)["properties"]["note"],
    "request-parameter": lambda d: _param(d)["schema"],
    "response-property": lambda d: _result(d)["properties"]["detail"],
}


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("suffix", CONSTRAINTS)
def test_constraint_change_kinds(place: str, suffix: str, tmp_path: Path) -> None:
    before, after = CONSTRAINTS[suffix]

    def put(schema: Doc) -> Callable[[Doc], object]:
        return lambda d: (PLACES[place](d).clear(), PLACES[place](d).update(copy.deepcopy(schema)))

    breaks = BREAKS_RESPONSE if place == "response-property" else BREAKS_REQUEST
    expected = {f"{place}-{suffix}": B if suffix in breaks else N}
    assert _kinds(tmp_path, _mutated(put(before)), _mutated(put(after))) == expected


def test_every_change_kind_is_exercised() -> None:
    exercised = {k for _change, kinds in STRUCTURAL.values() for k in kinds}
    exercised |= {f"{p}-{s}" for p in PLACES for s in CONSTRAINTS}
    exercised |= {"api-security-added", "request-body-added", "request-body-became-required"}
    exercised |= {"request-parameter-became-optional"}
    exercised |= {"api-removed", "api-added"}
    assert exercised == set(CHANGE_KINDS)


def test_nested_members_are_named_by_their_path(tmp_path: Path) -> None:
    new = _mutated(lambda d: _item(d)["properties"]["id"].update(maxLength=8))
    report = diff_sources(_write(tmp_path, "old", _base()), _write(tmp_path, "new", new))
    (change,) = report.changes
    assert (change.where, change.member) == ("request body", "items[].id")
    assert change.message == "request body: items[].id maxLength 8 set"


# --- renames --------------------------------------------------------------------------------


def _renamed(description: str | None, at_end: bool = False, kind: str = "number") -> Doc:
    def change(d: Doc) -> None:
        props = dict(_item(d)["properties"])
        props.pop("amount")
        value: Doc = {"type": kind}
        if description is not None:
            value["description"] = description
        order = ["id", "note", "value"] if at_end else ["id", "value", "note"]
        _item(d)["properties"] = {k: (value if k == "value" else props[k]) for k in order}

    return _mutated(change)


def _no_description(d: Doc) -> None:
    _item(d)["properties"]["amount"].pop("description")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            _base(),
            _renamed("Amount in the item's currency (decimal)."),
            {"request-property-renamed"},
        ),
        (
            _base(),
            _renamed("Something else entirely, unrelated to money."),
            {"request-property-removed", "new-optional-request-property"},
        ),
        (
            _base(),
            _renamed("Amount in the item's currency.", at_end=True),
            {"request-property-removed", "new-optional-request-property"},
        ),
        (_mutated(_no_description), _renamed(None), {"request-property-renamed"}),
        (
            _mutated(_no_description),
            _renamed(None, kind="string"),
            {"request-property-removed", "new-optional-request-property"},
        ),
    ],
    ids=[
        "similar description",
        "other description",
        "other position",
        "no descriptions, same type",
        "no descriptions, other type",
    ],
)
def test_a_rename_needs_the_same_position_and_a_similar_description(
    old: Doc, new: Doc, expected: set[str], tmp_path: Path
) -> None:
    # `amount` was required; the renamed member is not: that is reported too.
    kinds = set(_kinds(tmp_path, old, new))
    if "request-property-renamed" in expected:
        expected = expected | {"request-property-became-optional"}
    assert kinds == expected


# --- the vendor's revisions -----------------------------------------------------------------


def _changes(old: str, new: str) -> list[tuple[str, str, str, str]]:
    return [(c.operation_id, c.kind, c.severity, c.message) for c in diff_sources(old, new).changes]


def test_2024_11_04_to_2024_11_05_is_a_rename_of_update_at() -> None:
    assert _changes("2024-11-04", "2024-11-05") == [
        (
            "registerBatchAccountBalances",
            "request-property-renamed",
            B,
            "request body: accountBalances[].updateAt renamed to accountBalances[].balanceAt",
        ),
        (
            "registerAccountBalance",
            "request-property-renamed",
            B,
            "request body: updateAt renamed to balanceAt",
        ),
    ]


def test_2024_11_05_to_2024_11_28_moves_the_batch_to_post_and_makes_value_optional() -> None:
    assert _changes("2024-11-05", "2024-11-28") == [
        (
            "registerBatchAccountBalances",
            "api-method-changed",
            B,
            "method changed from PUT to POST",
        ),
        (
            "registerBatchAccountBalances",
            "request-property-became-optional",
            N,
            "request body: accountBalances[].value became optional",
        ),
        (
            "registerAccountBalance",
            "request-property-became-optional",
            N,
            "request body: value became optional",
        ),
    ]


def test_latest_is_2024_11_28_for_every_operation() -> None:
    assert _changes("2024-11-28", "latest") == []


def test_the_seed_spec_against_a_newer_file() -> None:
    newer = bundled_dir() / "revisions" / "batch-account-balances.2024-11-28.openapi.yaml"
    kinds = [kind for _op, kind, _sev, _msg in _changes("batch-account-balances", str(newer))]
    assert kinds == [
        "api-method-changed",
        "request-property-renamed",
        "request-property-became-optional",
    ]


def test_a_revision_against_a_file_compares_the_files_operations_only(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(_load_yaml(bundled_dir() / "batch-accounts.openapi.yaml")))
    doc["components"]["schemas"]["AmlyzeAccountApi"]["properties"]["requester"]["maxLength"] = 50
    report = diff_sources("latest", _write(tmp_path, "mine", doc))
    assert [(c.operation_id, c.kind, c.member) for c in report.changes] == [
        ("batchAccounts", "request-property-max-length-decreased", "accounts[].requester")
    ]


def _load_yaml(path: Path) -> Any:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


# --- the command ----------------------------------------------------------------------------


def test_text_output_and_exit_1_on_a_breaking_change(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["specs", "diff", "2024-11-05", "2024-11-28"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "2024-11-05 -> 2024-11-28"
    assert out[1] == "registerBatchAccountBalances  POST /amlyze-ws-rest/batch-account-balances"
    assert out[2].split() == [
        "breaking",
        "api-method-changed",
        "method",
        "changed",
        "from",
        "PUT",
        "to",
        "POST",
    ]
    assert out[-1] == "3 changes: 1 breaking, 2 non-breaking"


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["specs", "diff", "2024-11-04", "2024-11-05", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["old"], report["new"], report["breaking"], report["nonBreaking"]) == (
        "2024-11-04",
        "2024-11-05",
        2,
        0,
    )
    first = report["changes"][0]
    assert first["id"] == "request-property-renamed" and first["severity"] == "breaking"
    assert (first["old"], first["new"]) == (
        "accountBalances[].updateAt",
        "accountBalances[].balanceAt",
    )
    assert first["operationId"] == "registerBatchAccountBalances" and first["method"] == "PUT"


def test_markdown_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["specs", "diff", "2024-11-05", "2024-11-28", "--format", "markdown"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "### `2024-11-05` → `2024-11-28`"
    assert "**3 changes: 1 breaking, 2 non-breaking**" in lines
    rows = [line for line in lines if line.startswith("| `")]
    assert len(rows) == 3
    assert rows[0].startswith(
        "| `registerBatchAccountBalances` POST `/amlyze-ws-rest/batch-account-balances` | **breaking** | `api-method-changed` |"
    )


def test_exit_0_without_breaking_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["specs", "diff", "2024-11-28", "latest"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "no differences"
    optional = _mutated(lambda d: _item(d)["required"].remove("amount"))
    old, new = _write(tmp_path, "old", _base()), _write(tmp_path, "new", optional)
    assert main(["specs", "diff", old, new, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["nonBreaking"] == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            None,
            "no such spec file, revision (2024-11-04, 2024-11-05, 2024-11-28, 2024-12-12, latest) or bundled spec",
        ),
        ("openapi: [3.1\n  paths: {", "not valid YAML"),
        ("[1, 2]", "not an OpenAPI document"),
        ('{"openapi": "3.1.0", "paths": [1]}', "not a usable OpenAPI document"),
        (
            '{"openapi": "3.1.0", "paths": {"/a": {"get": {"operationId": "x", "parameters": [1]}}}}',
            "no operation of",
        ),
        ('{"openapi": "3.1.0", "paths": {"/a": {"$ref": "#/nowhere"}}}', "unresolvable $ref"),
    ],
    ids=["missing", "broken yaml", "not openapi", "paths a list", "no common operation", "bad ref"],
)
def test_unreadable_input_is_one_line_and_exit_2(
    content: str | None, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "spec.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert main(["specs", "diff", "latest", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert (
        captured.err.startswith("amlyze-contracts specs diff: error: ") and message in captured.err
    )


def test_unknown_revision_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["specs", "diff", "2024-11-06", "latest"]) == 2
    assert "unknown revision '2024-11-06' (known: 2024-11-04" in capsys.readouterr().err


def test_malformed_schemas_do_not_crash(tmp_path: Path) -> None:
    odd = _mutated(
        lambda d: (
            _item(d).update(required=5, properties={"id": "not a schema"}),
            _result(d).update(properties=[1], maxLength="long"),
            _op(d).update(responses=[1]),
        )
    )
    assert isinstance(_kinds(tmp_path, _base(), odd), dict)
    assert isinstance(_kinds(tmp_path, odd, _base()), dict)


def test_the_readme_shows_real_output(capsys: pytest.CaptureFixture[str]) -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### `specs diff`") : text.index("## The reference server")]
    shown = 0
    for block in re.findall(r"```console\n(.*?)```", section, re.S):
        for command, expected in re.findall(
            r"^\$ amlyze-contracts (specs diff [^\n]*)\n(.*?)(?=^\$ |\Z)", block, re.S | re.M
        ):
            main(command.split())
            assert capsys.readouterr().out == expected, command
            shown += 1
    assert shown == 4


def test_parameters_and_whole_bodies_are_named_by_their_place(tmp_path: Path) -> None:
    new = _mutated(
        lambda d: (
            _param(d)["schema"].update(maxLength=5),
            _op(d)["responses"]["400"]["content"]["application/json"].update(
                schema={"type": "array"}
            ),
        )
    )
    report = diff_sources(_write(tmp_path, "old", _base()), _write(tmp_path, "new", new))
    assert [c.message for c in report.changes] == [
        "parameter q (query) maxLength 5 set",
        "response 400 type changed from object to array",
    ]
