"""``amlyze-contracts validate`` in-process: outputs, options, exit codes, bad input."""

from __future__ import annotations

import http.server
import io
import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from amlyze_contracts.cli import main
from amlyze_contracts.cli_output.github import annotation, escape_data, escape_property
from tests.conftest import CLI_DATA as DATA
from tests.conftest import SAMPLES
from tests.httpd import serving

VALID = DATA / "valid-batch-accounts.json"
INVALID = DATA / "invalid-batch-accounts.json"
BALANCES = DATA / "valid-balances.json"
BRM = DATA / "brm-response.json"
SAMPLE_NAMES = [
    "activeMinPayload.json",
    "activeOtherFinancialInstitution.json",
    "closedFullPayload.json",
    "dailyBalance.json",
    "suspendedFullPayload.json",
]
LINE = re.compile(
    r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning) (?P<rule>\S+) "
)


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main(["validate", *map(str, argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def violation_lines(out: str) -> list[re.Match[str]]:
    return [m for line in out.splitlines() if (m := LINE.match(line))]


# ------------------------------------------------------------------ vendor samples


def test_vendor_samples_directory(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, SAMPLES)
    lines = violation_lines(out)
    files = {Path(m["path"]).name for m in lines}
    assert files == set(SAMPLE_NAMES)  # every sample has at least a warning
    # Sorted, grouped by file.
    order = [Path(m["path"]).name for m in lines]
    assert order == sorted(order)
    # dailyBalance uses the later name balanceAt: updateAt missing is the one error.
    errors = [(Path(m["path"]).name, m["rule"]) for m in lines if m["sev"] == "error"]
    assert errors == [("dailyBalance.json", "schema.required")]
    assert any(m["rule"] == "balances.balance-at-renamed" for m in lines)
    assert out.splitlines()[-1] == "5 files checked: 1 error, 8 warnings in 5 files"
    assert code == 1


@pytest.mark.parametrize("name", [n for n in SAMPLE_NAMES if n != "dailyBalance.json"])
def test_account_samples_are_items_with_warnings_only(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    code, out, _ = run(capsys, "--format", "json", SAMPLES / name)
    entry = json.loads(out)["files"][0]
    assert (entry["operation"], entry["kind"], entry["valid"]) == ("batchAccounts", "item", True)
    assert {v["severity"] for v in entry["violations"]} == {"warning"}
    assert code == 0
    code, _, _ = run(capsys, "--warnings-as-errors", SAMPLES / name)
    assert code == 1


# ------------------------------------------------------------------ text output


def test_valid_files_print_only_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, VALID, BALANCES, BRM)
    assert (code, err) == (0, "")
    assert out == "3 files checked: 0 errors, 0 warnings in 0 files\n"


def test_verbose_lists_clean_files(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--verbose", VALID, BRM)
    assert code == 0
    assert f"{VALID}: ok (batchAccounts request)" in out
    assert f"{BRM}: ok (retrieveAccumulatedBalance response)" in out


def test_text_line_format_with_vendor_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, INVALID)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith(
        f"{INVALID}:3:5: error accounts.bic-required-for-external `bic` is mandatory"
    )
    assert lines[0].endswith(" [code 005]")
    assert lines[1].startswith(f"{INVALID}:3:5: error accounts.closing-date-required ")
    assert lines[1].endswith(" [code 002]")
    assert lines[-1] == "1 file checked: 2 errors, 0 warnings in 1 file"


def test_quiet_prints_the_summary_only(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-q", INVALID, VALID)
    assert code == 1
    assert out == "2 files checked: 2 errors, 0 warnings in 1 file\n"


def test_color(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    _, out, _ = run(capsys, INVALID)  # captured stdout is not a TTY
    assert "\033[" not in out
    _, out, _ = run(capsys, "--color", "always", INVALID)
    assert "\033[31merror\033[0m" in out
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setattr("sys.stdout.isatty", lambda: True, raising=False)
    _, out, _ = run(capsys, "--color", "auto", INVALID)
    assert "\033[" not in out
    _, out, _ = run(capsys, "--color", "always", INVALID)  # explicit beats NO_COLOR
    assert "\033[" in out
    _, out, _ = run(capsys, "--color", "always", "--format", "json", INVALID)
    assert "\033[" not in out


# ------------------------------------------------------------------ json / junit / github


def test_json_format(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    code, out, err = run(capsys, "--format", "json", VALID, INVALID, missing)
    document = json.loads(out)  # stdout holds the document and nothing else
    assert code == 2  # a missing path wins over violations
    assert [f["path"] for f in document["files"]] == [str(VALID), str(INVALID), str(missing)]
    valid, invalid, gone = document["files"]
    assert valid == {
        "path": str(VALID),
        "operation": "batchAccounts",
        "kind": "request",
        "valid": True,
        "violations": [],
    }
    assert invalid["valid"] is False
    assert invalid["violations"][0] == {
        "rule": "accounts.bic-required-for-external",
        "severity": "error",
        "pointer": "/accounts/0/bic",
        "line": 3,
        "column": 5,
        "message": invalid["violations"][0]["message"],
        "code": "005",
    }
    assert gone["error"] == "no such file or directory"
    assert document["summary"] == {
        "files": 2,
        "valid": 1,
        "invalid": 1,
        "errors": 2,
        "warnings": 0,
        "unreadable": 1,
    }
    assert err.strip() == f"amlyze-contracts validate: error: {missing}: no such file or directory"


def test_junit_format(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--format", "junit", VALID, INVALID, SAMPLES / "bogus-missing.json")
    assert code == 2
    root = ET.fromstring(out.split("\n", 1)[1])
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "1")
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases][:2] == [str(VALID), str(INVALID)]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None and failure.get("message") == "2 errors"
    assert "accounts.closing-date-required" in (failure.text or "")
    assert cases[2].find("error") is not None


def test_junit_warnings_go_to_system_out(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--format", "junit", SAMPLES / "activeMinPayload.json")
    assert code == 0
    case = ET.fromstring(out.split("\n", 1)[1]).find("./testsuite/testcase")
    assert case is not None and case.find("failure") is None
    system_out = case.find("system-out")
    assert system_out is not None and "accounts.iban-checksum" in (system_out.text or "")


def test_github_format(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--format", "github", INVALID, SAMPLES / "activeMinPayload.json")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith(
        f"::error file={escape_property(str(INVALID))},line=3,col=5,"
        "title=accounts.bic-required-for-external::`bic` is mandatory"
    )
    assert lines[0].endswith("[code 005]")
    assert any(line.startswith("::warning ") and "accounts.iban-checksum" in line for line in lines)
    assert lines[-1].startswith("2 files checked")


def test_github_escaping() -> None:
    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    assert (
        annotation("error", "x\ny", file="dir,1/a:b.json", line=2, col=3, title="r.x")
        == "::error file=dir%2C1/a%3Ab.json,line=2,col=3,title=r.x::x%0Ay"
    )
    assert annotation("warning", "m", file="f") == "::warning file=f::m"


# ------------------------------------------------------------------ operations


def test_operation_item_and_response_options(capsys: pytest.CaptureFixture[str]) -> None:
    item = SAMPLES / "activeMinPayload.json"
    code, out, _ = run(capsys, "--format", "json", "--operation", "batchAccounts", "--item", item)
    assert json.loads(out)["files"][0]["kind"] == "item"
    assert code == 0
    # The item is not a batch body: forcing the batch schema reports it.
    code, out, _ = run(
        capsys, "--format", "json", "--operation", "registerBatchAccountBalances", item
    )
    assert code == 1
    code, out, _ = run(
        capsys, "--operation", "retrieveAccumulatedBalance", "--response", "200", BRM
    )
    assert code == 0
    code, out, _ = run(
        capsys, "--operation", "retrieveAccumulatedBalance", "--response", "404", BRM
    )
    assert code == 1
    assert "schema.required" in out  # a TMF Error needs code and reason


def test_unknown_shape(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text('{"customers": []}\n', encoding="utf-8")
    code, out, _ = run(capsys, path)
    assert code == 1
    assert violation_lines(out)[0]["rule"] == "input.operation-unknown"


def test_user_spec(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = {
        "openapi": "3.1.0",
        "info": {"title": "newer vendor spec", "version": "2"},
        "paths": {
            "/amlyze-ws-rest/batch-accounts": {
                "post": {
                    "operationId": "batchAccounts",
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Batch"}}
                        }
                    },
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
        "components": {
            "schemas": {
                "Batch": {
                    "type": "object",
                    "required": ["accounts"],
                    "properties": {
                        "accounts": {"type": "array", "items": {"$ref": "#/components/schemas/A"}}
                    },
                },
                "A": {
                    "type": "object",
                    "required": ["riskLevel"],
                    "properties": {"riskLevel": {"type": "string"}},
                },
            }
        },
    }
    spec_file = tmp_path / "newer.openapi.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    code, out, _ = run(capsys, "--spec", spec_file, "--format", "json", VALID)
    entry = json.loads(out)["files"][0]
    assert code == 1
    assert ("schema.required", "/accounts/0/riskLevel") in {
        (v["rule"], v["pointer"]) for v in entry["violations"]
    }
    # Operations the user's spec lacks still come from the bundled specs.
    code, out, _ = run(capsys, "--spec", spec_file, BALANCES)
    assert code == 0


# ------------------------------------------------------------------ rules and severities


def test_severity_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    sample = SAMPLES / "activeOtherFinancialInstitution.json"
    code, out, _ = run(capsys, "--severity", "accounts.iban-checksum=off", sample)
    assert "accounts.iban-checksum" not in out and "accounts.bic-format" in out
    assert code == 0
    code, out, _ = run(capsys, "--severity", "accounts.bic-format=error", sample)
    assert code == 1
    assert any(
        m["rule"] == "accounts.bic-format" and m["sev"] == "error" for m in violation_lines(out)
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--severity", "accounts.bic-format=fatal"], "'fatal' is not one of error, warning, off"),
        (["--severity", "no.such-rule=off"], "unknown rule 'no.such-rule'"),
        (["--severity", "accounts.bic-format"], "expected RULE=off|warning|error"),
        (["--rules", "/nonexistent/rules.yaml"], "no such rule file"),
        (["--classifiers", "/nonexistent/classifiers.json"], "cannot read"),
        (["--operation", "noSuchOperation"], "unknown operation 'noSuchOperation'"),
        (["--item"], "--item needs --operation"),
        (["--response", "200"], "--response needs --operation"),
        (["--operation", "retrieveAccumulatedBalance", "--item"], "has no batch items"),
        (["--operation", "retrieveAccumulatedBalance"], "use --response STATUS"),
        (["--spec", "/nonexistent/spec.yaml"], "no such spec file"),
    ],
)
def test_configuration_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv, VALID)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("amlyze-contracts validate: error: ")
    assert message in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--jobs", "many"], "not a number"),
        (["--jobs", "-1"], "must be 0"),
        (["--response", "abc", "--operation", "batchAccounts"], "not an HTTP status code"),
        (["--format", "xml"], "invalid choice"),
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["validate", *argv, str(VALID)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_no_path(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys)
    assert code == 2 and "no PATH given" in err


def test_bad_rule_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [\n", encoding="utf-8")
    unknown_key = tmp_path / "unknown.yaml"
    unknown_key.write_text(
        "rules:\n  - id: bank.x\n    message: m\n    applies-to: '*'\n    colour: red\n",
        encoding="utf-8",
    )
    for path, message in ((broken, "not valid YAML"), (unknown_key, "unknown keys colour")):
        code, _, err = run(capsys, "--rules", path, VALID)
        assert code == 2
        assert message in err and len(err.strip().splitlines()) == 1


def test_user_rule_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rules = tmp_path / "bank-rules.yaml"
    rules.write_text(
        "rules:\n"
        "  - id: bank.lt-accounts-only\n"
        "    severity: error\n"
        "    code: B01\n"
        "    applies-to: AmlyzeAccountApi\n"
        "    require:\n"
        "      accountNumber: {matches: '^LT'}\n"
        "    message: our bank only opens Lithuanian accounts\n",
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "--rules", rules, VALID, SAMPLES / "closedFullPayload.json")
    hits = [m for m in violation_lines(out) if m["rule"] == "bank.lt-accounts-only"]
    assert [Path(m["path"]).name for m in hits] == ["closedFullPayload.json"]  # LI... IBAN
    assert "[code B01]" in out
    assert code == 1


# ------------------------------------------------------------------ classifiers


def _item_with_account_type(tmp_path: Path, account_type: str) -> Path:
    body = json.loads(VALID.read_text(encoding="utf-8"))
    body["accounts"][0]["accountType"] = account_type
    path = tmp_path / f"{account_type}.json"
    path.write_text(json.dumps(body, indent=2), encoding="utf-8")
    return path


def test_classifier_snapshot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    snapshot = tmp_path / "classifiers.json"
    snapshot.write_text(
        json.dumps({"accountType": [{"code": "IND_B2B", "name": "x"}, "ORG_B2B"]}),
        encoding="utf-8",
    )
    good = _item_with_account_type(tmp_path, "IND_B2B")
    bad = _item_with_account_type(tmp_path, "PRIVATE")
    code, out, _ = run(capsys, "--format", "json", "--classifiers", snapshot, good, bad)
    files = json.loads(out)["files"]
    assert files[0]["violations"] == []
    assert [(v["rule"], v["code"]) for v in files[1]["violations"]] == [
        ("common.classifier", "006")
    ]
    assert code == 1
    # Without a snapshot the classifier is not checked.
    code, _, _ = run(capsys, bad)
    assert code == 0


def test_bad_classifier_snapshot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    snapshot = tmp_path / "classifiers.json"
    snapshot.write_text("[1, 2", encoding="utf-8")
    code, _, err = run(capsys, "--classifiers", snapshot, VALID)
    assert code == 2 and "not a JSON classifier snapshot" in err


@pytest.fixture
def classifier_server() -> Iterator[str]:
    served = {"/classifier/accountType": [{"code": "IND_B2B", "name": "Individual"}]}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = served.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body or {"error": "not found"}).encode())

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler) as url:
        yield url


@pytest.mark.network
def test_classifiers_url(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, classifier_server: str
) -> None:
    bad = _item_with_account_type(tmp_path, "ORG_B2B")
    code, out, _ = run(capsys, "--classifiers-url", classifier_server, bad)
    assert code == 1 and "common.classifier" in out
    code, _, err = run(capsys, "--classifiers-url", "http://127.0.0.1:9/", bad)
    assert code == 2 and "classifier" in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------ stdin


def test_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(INVALID.read_bytes()))
    monkeypatch.setattr("sys.stdin", stdin)
    code, out, _ = run(capsys, "-")
    assert code == 1
    assert out.startswith("<stdin>:3:5: error accounts.bic-required-for-external ")


# ------------------------------------------------------------------ bad input

BAD_INPUTS: list[tuple[str, bytes, str, int, int]] = [
    # (name, bytes, rule, line, column)
    ("trailing-comma", b'{\n  "accounts": [],\n}\n', "input.json-syntax", 2, 17),  # at the comma
    ("comment", b'{\n  // the batch\n  "accounts": []\n}\n', "input.json-syntax", 2, 3),
    ("unquoted-key", b"{accounts: []}", "input.json-syntax", 1, 2),
    ("truncated", b'{"accounts": [{"requester": "x"', "input.json-syntax", 1, 32),
    ("utf16", '{"accounts": []}'.encode("utf-16"), "input.encoding", 1, 1),
    (
        "latin1",
        '{"accounts": [{"requester": "M\xfcller"}]}'.encode("latin-1"),
        "input.encoding",
        1,
        31,
    ),
    ("duplicate-key", b'{"accounts": [],\n "accounts": []}', "input.duplicate-key", 2, 2),
    ("nan", b'{"accounts": [{"value": NaN}]}', "input.non-finite", 1, 25),
    ("infinity", b'{"accounts": [{"value": -Infinity}]}', "input.non-finite", 1, 25),
    ("too-deep", b"[" * 5000 + b"]" * 5000, "input.too-deep", 1, 1026),
    ("empty", b"", "input.json-syntax", 1, 1),
    ("whitespace", b"  \n\t\n", "input.json-syntax", 1, 1),
    ("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01", "input.encoding", 1, 1),
    ("nul-bytes", b"\x00\x00\x00\x00", "input.encoding", 1, 1),
]


@pytest.mark.parametrize(
    ("name", "data", "rule", "line", "column"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS]
)
def test_bad_input_is_one_clear_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    name: str,
    data: bytes,
    rule: str,
    line: int,
    column: int,
) -> None:
    path = tmp_path / f"{name}.json"
    path.write_bytes(data)
    code, out, err = run(capsys, path)
    lines = violation_lines(out)
    # The first line names the input problem and its position; duplicate keys are the
    # one input error after which the body is still validated (CONTRACT.md section 2).
    assert (lines[0]["rule"], int(lines[0]["line"]), int(lines[0]["col"])) == (rule, line, column)
    if rule != "input.duplicate-key":
        assert len(lines) == 1
    assert code == 1
    assert err == ""


def test_bom_is_a_warning(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + VALID.read_bytes())
    code, out, _ = run(capsys, path)
    assert [(m["rule"], m["sev"]) for m in violation_lines(out)] == [("input.bom", "warning")]
    assert code == 0
    brm = tmp_path / "bom-brm.json"
    brm.write_bytes(b"\xef\xbb\xbf" + BRM.read_bytes())  # the BOM does not hide the shape
    code, out, _ = run(capsys, "--format", "json", brm)
    assert json.loads(out)["files"][0]["operation"] == "retrieveAccumulatedBalance"


def test_missing_path_other_files_still_checked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "nope.json"
    code, out, err = run(capsys, missing, INVALID)
    assert code == 2
    assert err == f"amlyze-contracts validate: error: {missing}: no such file or directory\n"
    assert len(violation_lines(out)) == 2
    assert out.splitlines()[-1] == (
        "1 file checked: 2 errors, 0 warnings in 1 file; 1 path could not be read"
    )


def test_broken_symlink(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "gone.json")
    code, _, err = run(capsys, link)
    assert code == 2 and err.strip().endswith(f"{link}: broken symbolic link")


def test_empty_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not json", encoding="utf-8")
    code, out, err = run(capsys, tmp_path, VALID)
    assert code == 2
    assert (
        err.strip()
        == f"amlyze-contracts validate: error: {tmp_path}: no *.json files in this directory"
    )
    assert out.splitlines()[-1].startswith("1 file checked")


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="running as root: chmod 000 does not stop root from reading the file",
)
def test_unreadable_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "secret.json"
    path.write_bytes(VALID.read_bytes())
    path.chmod(0)
    try:
        code, _, err = run(capsys, path, VALID)
    finally:
        path.chmod(0o600)
    assert code == 2
    assert (
        err.strip() == f"amlyze-contracts validate: error: {path}: cannot read: Permission denied"
    )


def test_unreadable_path_is_reported_not_raised(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read error path, also when running as root (where chmod 000 cannot trigger it)."""
    path = tmp_path / "secret.json"
    path.write_bytes(VALID.read_bytes())
    real_open = open

    def deny(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", deny)
    code, out, err = run(capsys, path, VALID)
    assert code == 2
    assert (
        err.strip() == f"amlyze-contracts validate: error: {path}: cannot read: Permission denied"
    )
    assert out.splitlines()[-1].startswith("1 file checked")


# ------------------------------------------------------------------ directories and jobs


def test_directory_recursion_is_sorted_and_skips_hidden(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    invalid = INVALID.read_bytes()
    for rel in ["b.json", "a/z.json", "a/b/c.json", "a.json", ".git/x.json", "a/.cache/y.json"]:
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(invalid)
    (tmp_path / "a" / "readme.txt").write_text("x", encoding="utf-8")
    code, out, _ = run(capsys, "--format", "json", tmp_path)
    paths = [Path(f["path"]).relative_to(tmp_path).as_posix() for f in json.loads(out)["files"]]
    assert paths == ["a/b/c.json", "a/z.json", "a.json", "b.json"]
    assert code == 1


def test_jobs_keep_input_order(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    valid, invalid = VALID.read_bytes(), INVALID.read_bytes()
    files = []
    for i in range(150):
        path = tmp_path / f"{i:03d}.json"
        path.write_bytes(invalid if i % 7 == 0 else valid)
        files.append(path)
    # Reverse input order: the output follows the arguments, not file names.
    files.reverse()
    _, serial, _ = run(capsys, "--format", "json", *files)
    code, parallel, _ = run(capsys, "--format", "json", "--jobs", "3", *files)
    assert parallel == serial
    assert code == 1
    assert json.loads(parallel)["summary"]["invalid"] == 22
