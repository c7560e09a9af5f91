"""spec_lint and `amlyze-contracts specs`: bundled specs are clean, the published one is not."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from amlyze_contracts import specs
from amlyze_contracts.cli import main
from amlyze_contracts.spec_lint import lint_document, lint_file
from tests.conftest import SEEDS, SPEC_DATA

PUBLISHED = SPEC_DATA / "published-batch-accounts.openapi.yaml"
SEED = SEEDS / "002_310a0d4e817f769d.txt"
EXAMPLES_200 = (
    "/paths/~1amlyze-ws-rest~1batch-accounts/post/responses/200/content/application~1json/examples"
)
HTTP_METHODS = ("get", "put", "post", "delete", "patch")


def _bundled_document(name: str) -> dict[str, Any]:
    path = next(p for p in specs.bundled_spec_files() if specs.spec_name(p) == name)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def _line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    seen = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in {path}")


# --- library -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", specs.bundled_spec_files(), ids=lambda p: p.name)
def test_bundled_specs_lint_clean(path: Path) -> None:
    assert lint_file(path) == []


@pytest.mark.parametrize("name", specs.list_bundled())
def test_bundled_specs_pass_openapi_spec_validator(name: str) -> None:
    from openapi_spec_validator import validate

    validate(_bundled_document(name))  # raises on the first problem


@pytest.mark.parametrize("name", specs.list_bundled())
def test_every_documented_status_and_request_has_named_examples(name: str) -> None:
    document = _bundled_document(name)
    for path_item in document["paths"].values():
        for method in HTTP_METHODS:
            op = path_item.get(method)
            if op is None:
                continue
            body = op.get("requestBody")
            if body is not None:
                assert body["content"]["application/json"]["examples"], op["operationId"]
            for status, response in op["responses"].items():
                media = response["content"]["application/json"]
                assert "example" not in media, (op["operationId"], status)
                assert media["examples"], (op["operationId"], status)
            for param in op.get("parameters", []):
                assert param["examples"], (op["operationId"], param["name"])


def test_published_spec_reports_result_type_mismatches_with_pointer_and_line() -> None:
    violations = lint_file(PUBLISHED)
    assert {v.rule for v in violations} == {"spec.example-mismatch"}
    pointers = sorted(v.pointer for v in violations)
    assert pointers == [
        f"{EXAMPLES_200}/all_accepted/value/results/0/resultType",
        f"{EXAMPLES_200}/all_accepted/value/results/1/resultType",
        f"{EXAMPLES_200}/partial_rejection/value/results/0/resultType",
        f"{EXAMPLES_200}/partial_rejection/value/results/1/resultType",
    ]
    first = next(
        v for v in violations if v.pointer.endswith("all_accepted/value/results/0/resultType")
    )
    assert first.severity == "error"
    assert "all_accepted" in first.message
    assert "REQUEST_ACCEPTED" in first.message
    # The first "resultType: REQUEST_ACCEPTED" line of the file is all_accepted's first result.
    assert first.line == _line_of(PUBLISHED, "- resultType: REQUEST_ACCEPTED")
    assert first.column == len("                      - resultType: ") + 1
    rejected = next(
        v for v in violations if v.pointer.endswith("partial_rejection/value/results/1/resultType")
    )
    assert rejected.line == _line_of(PUBLISHED, "- resultType: REQUEST_REJECTED")


def test_published_fixture_is_the_seed_block_verbatim() -> None:
    seed = SEED.read_text(encoding="utf-8")
    start = seed.index("\n", seed.index("````yaml")) + 1
    end = seed.index("\n````", start) + 1
    assert PUBLISHED.read_text(encoding="utf-8") == seed[start:end]


def test_lint_document_has_pointers_but_no_positions() -> None:
    document = yaml.safe_load(PUBLISHED.read_text(encoding="utf-8"))
    violations = lint_document(document, str(PUBLISHED))
    assert len(violations) == 4
    assert all(v.line is None and v.column is None for v in violations)


def test_corrupted_bundled_example_is_caught() -> None:
    document = copy.deepcopy(_bundled_document("accumulated-balance"))
    examples = document["paths"]["/accumulatedBalance/{id}"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["examples"]
    examples["published"]["value"]["bucket"] = []
    examples["published"]["value"]["totalBalance"]["amount"] = "45.0"
    violations = lint_document(document, "corrupted")
    assert {v.rule for v in violations} == {"spec.example-mismatch"}
    prefix = "/paths/~1accumulatedBalance~1{id}/get/responses/200/content/application~1json/examples/published/value"
    assert sorted(v.pointer for v in violations) == [
        f"{prefix}/bucket",
        f"{prefix}/totalBalance/amount",
    ]


def test_parameter_examples_and_formats_are_checked() -> None:
    document = copy.deepcopy(_bundled_document("accumulated-balance"))
    params = document["paths"]["/accumulatedBalance/{id}"]["get"]["parameters"]
    params[1]["examples"]["extended"]["value"] = "AccumulatedBalanceX"
    balances = copy.deepcopy(_bundled_document("batch-account-balances"))
    body = balances["paths"]["/amlyze-ws-rest/batch-account-balances"]["put"]["requestBody"]
    body["content"]["application/json"]["examples"]["required_only"]["value"]["accountBalances"][0][
        "updateAt"
    ] = "26.05.2024"
    brm = lint_document(document, "brm")
    assert [v.pointer for v in brm] == [
        "/paths/~1accumulatedBalance~1{id}/get/parameters/1/examples/extended/value"
    ]
    assert "extended" in brm[0].message
    amlyze = lint_document(balances, "balances")
    assert [v.rule for v in amlyze] == ["spec.example-mismatch"]
    assert amlyze[0].pointer.endswith("/examples/required_only/value/accountBalances/0/updateAt")
    assert "date-time" in amlyze[0].message


def test_examples_behind_refs_are_checked_once_at_their_own_location(tmp_path: Path) -> None:
    document = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/a": {
                "get": {"responses": {"400": {"$ref": "#/components/responses/Bad"}}},
                "put": {"responses": {"400": {"$ref": "#/components/responses/Bad"}}},
            }
        },
        "components": {
            "schemas": {"E": {"type": "object", "properties": {"status": {"type": "integer"}}}},
            "responses": {
                "Bad": {
                    "description": "bad",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/E"},
                            "example": {"status": "400"},
                        }
                    },
                }
            },
        },
    }
    path = tmp_path / "refs.openapi.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    violations = lint_file(path)
    assert [v.pointer for v in violations] == [
        "/components/responses/Bad/content/application~1json/example/status"
    ]
    assert violations[0].line == _line_of(path, "status: '400'")


def test_structural_error_is_spec_invalid() -> None:
    document = copy.deepcopy(_bundled_document("batch-accounts"))
    del document["info"]["version"]
    violations = lint_document(document, "no-version")
    assert [v.rule for v in violations] == ["spec.invalid"]
    assert violations[0].pointer == "/info"
    assert "version" in violations[0].message
    assert lint_document(document, "no-version", structure=False) == []


def test_unresolvable_ref_is_spec_invalid_not_a_crash() -> None:
    document = copy.deepcopy(_bundled_document("batch-accounts"))
    document["components"]["schemas"].pop("AmlyzeAccountApi")
    violations = lint_document(document, "dangling")
    assert [v.rule for v in violations] == ["spec.invalid"]
    assert "AmlyzeAccountApi" in violations[0].message


def test_unquoted_yaml_timestamp_in_example_is_reported(tmp_path: Path) -> None:
    text = (
        "openapi: 3.1.0\n"
        "info: {title: t, version: '1'}\n"
        "paths:\n"
        "  /a:\n"
        "    post:\n"
        "      requestBody:\n"
        "        content:\n"
        "          application/json:\n"
        "            schema: {type: object, properties: {at: {type: string, format: date-time}}}\n"
        "            example:\n"
        "              at: 2024-05-26T10:00:00Z\n"
        "      responses:\n"
        "        '200': {description: ok}\n"
    )
    path = tmp_path / "ts.openapi.yaml"
    path.write_text(text, encoding="utf-8")
    violations = lint_file(path, structure=False)
    assert [(v.rule, v.pointer, v.line) for v in violations] == [
        (
            "spec.example-mismatch",
            "/paths/~1a/post/requestBody/content/application~1json/example/at",
            11,
        )
    ]
    assert "quote" in violations[0].message


def test_broken_yaml_is_unreadable_with_position(tmp_path: Path) -> None:
    path = tmp_path / "broken.openapi.yaml"
    path.write_text("openapi: 3.1.0\ninfo:\n  title: [unclosed\n  version: v1\n", encoding="utf-8")
    violations = lint_file(path)
    assert len(violations) == 1
    assert violations[0].rule == "spec.unreadable"
    assert violations[0].line is not None and violations[0].line >= 3
    assert "YAML" in violations[0].message


def test_missing_file_and_bad_encoding_are_unreadable(tmp_path: Path) -> None:
    missing = lint_file(tmp_path / "missing.yaml")
    assert [v.rule for v in missing] == ["spec.unreadable"]
    latin1 = tmp_path / "latin1.openapi.yaml"
    latin1.write_bytes(
        "openapi: 3.1.0\ninfo: {title: 'Caf\u00e9', version: '1'}\n".encode("latin-1")
    )
    assert [v.rule for v in lint_file(latin1)] == ["spec.unreadable"]


def test_broken_json_is_unreadable_with_position(tmp_path: Path) -> None:
    path = tmp_path / "broken.openapi.json"
    path.write_text('{\n  "openapi": "3.1.0",\n  "info": {},\n}\n', encoding="utf-8")
    violations = lint_file(path)
    assert [(v.rule, v.line) for v in violations] == [("spec.unreadable", 4)]


def test_json_spec_gets_positions(tmp_path: Path) -> None:
    document = yaml.safe_load(PUBLISHED.read_text(encoding="utf-8"))
    path = tmp_path / "published.openapi.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    violations = lint_file(path)
    assert len(violations) == 4
    assert all(v.line is not None for v in violations)
    first = min(violations, key=lambda v: v.pointer)
    assert first.line == _line_of(path, '"resultType": "REQUEST_ACCEPTED"')


def test_not_an_openapi_document(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    assert [v.rule for v in lint_file(path)] == ["spec.invalid"]


# --- CLI -----------------------------------------------------------------------------------


def test_cli_lint_bundled_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["specs", "lint"]) == 0
    out = capsys.readouterr().out
    assert "3 specs linted: no violations" in out


def test_cli_lint_published_spec_exits_1_with_positions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["specs", "lint", str(PUBLISHED)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    line = _line_of(PUBLISHED, "- resultType: REQUEST_ACCEPTED")
    assert lines[0].startswith(
        f"{PUBLISHED}:{line}:37: error spec.example-mismatch example 'all_accepted'"
    )
    assert len(lines) == 5
    assert lines[-1] == "1 spec linted: 4 error(s), 0 warning(s)"


def test_cli_lint_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["specs", "lint", "--format", "json", str(PUBLISHED), "batch-accounts"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["errors"] == 4
    assert payload["valid"] is False
    published, bundled = payload["files"]
    assert published["path"] == str(PUBLISHED)
    assert published["valid"] is False
    assert {v["rule"] for v in published["violations"]} == {"spec.example-mismatch"}
    assert all(v["line"] and v["pointer"].startswith(EXAMPLES_200) for v in published["violations"])
    assert bundled["valid"] is True and bundled["violations"] == []


def test_cli_lint_unreadable_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.openapi.yaml"
    broken.write_text("openapi: [\n", encoding="utf-8")
    assert main(["specs", "lint", str(broken)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert str(broken) in err[0] and "Traceback" not in err[0]
    assert main(["specs", "lint", "--format", "json", str(tmp_path / "missing.yaml")]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["files"][0]["violations"][0]["rule"] == "spec.unreadable"
    assert "missing.yaml" in captured.err


def test_cli_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["specs", "lint", "--format", "xml"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["specs"])
    assert info.value.code == 2
    assert main(["specs", "list", "no-such-spec"]) == 2
    err = capsys.readouterr().err
    assert "no-such-spec" in err and "batch-accounts" in err


def test_cli_list_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["specs", "list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    by_name = {line.split()[0]: line for line in lines}
    assert set(by_name) == set(specs.list_bundled())
    assert "batchAccounts POST /amlyze-ws-rest/batch-accounts" in by_name["batch-accounts"]
    assert (
        "registerBatchAccountBalances PUT /amlyze-ws-rest/batch-account-balances"
        in (by_name["batch-account-balances"])
    )
    assert (
        "retrieveAccumulatedBalance GET /accumulatedBalance/{id}" in by_name["accumulated-balance"]
    )
    assert " v1 " in by_name["accumulated-balance"]


def test_cli_list_json_includes_user_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _bundled_document("accumulated-balance")
    document["info"]["version"] = "v2-user"
    user = tmp_path / "brm-user.openapi.yaml"
    user.write_text(yaml.safe_dump(document), encoding="utf-8")
    assert main(["specs", "list", "--format", "json", str(user), "batch-accounts"]) == 0
    entries = json.loads(capsys.readouterr().out)["specs"]
    assert [e["name"] for e in entries] == ["brm-user", "batch-accounts"]
    assert entries[0]["version"] == "v2-user"
    assert entries[0]["operations"] == [
        {
            "operationId": "retrieveAccumulatedBalance",
            "method": "GET",
            "path": "/accumulatedBalance/{id}",
            "basePath": "/brm/prepayBalanceManagement/{version}",
        }
    ]


def test_recursive_schema_examples_are_checked() -> None:
    document = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/tree": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Node"},
                                    "examples": {
                                        "good": {"value": {"v": 1, "next": {"v": 2}}},
                                        "bad": {"value": {"v": 1, "next": {"v": "two"}}},
                                    },
                                }
                            },
                        }
                    }
                }
            }
        },
        "components": {
            "schemas": {
                "Node": {
                    "type": "object",
                    "properties": {
                        "v": {"type": "integer"},
                        "next": {"$ref": "#/components/schemas/Node"},
                    },
                }
            }
        },
    }
    violations = lint_document(document, "tree")
    assert [(v.rule, v.pointer) for v in violations] == [
        (
            "spec.example-mismatch",
            "/paths/~1tree/get/responses/200/content/application~1json/examples/bad/value/next/v",
        )
    ]
