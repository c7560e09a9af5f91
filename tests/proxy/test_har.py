"""HAR files: written complete after every entry, and ``validate --har`` on any
tool's HAR (here a hand-written browser export: base64 content, postData.text,
missing optional members, a failed request, a page of no operation)."""

from __future__ import annotations

import base64
import contextlib
import io
import json
from pathlib import Path

import pytest

from amlyze_contracts.cli import main
from amlyze_contracts.proxy.har import HarWriter, read_har
from tests.conftest import DATA

BROWSER = DATA / "har" / "browser.har"

EXPECTED = {
    ("1/request", "schema.required", "/accounts/1/currencyCode"),
    ("1/response", "batch.result-correlation", "/results/0/communicationNumber"),
    ("1/response", "batch.result-correlation", "/results/0/accountExtId"),
    ("1/response", "batch.result-correlation", "/results/1/communicationNumber"),
    ("1/response", "batch.result-correlation", "/results/1/accountExtId"),
    ("2/response", "brm.fields-honored", "/name"),
    ("2/response", "brm.fields-honored", "/bucket"),
    ("2/response", "brm.fields-honored", "/totalBalance"),
    ("3/request", "schema.required", "/accountBalances"),
    ("3/request", "common.unknown-field", "/balances"),
}


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["validate", *args])
    return code, out.getvalue(), err.getvalue()


def test_browser_har_every_violation_located_by_entry_and_pointer() -> None:
    code, out, _err = _run("--har", str(BROWSER), "--format", "json")
    assert code == 1
    report = json.loads(out)
    prefix = f"{BROWSER}#/log/entries/"
    found = set()
    for result in report["files"]:
        assert result["path"].startswith(prefix)
        entry = result["path"][len(prefix) :]
        found |= {(entry, v["rule"], v["pointer"]) for v in result["violations"]}
    assert found == EXPECTED


@pytest.mark.parametrize("fmt", ["text", "junit", "github"])
def test_every_format_names_entry_and_pointer(fmt: str) -> None:
    code, out, _err = _run("--har", str(BROWSER), "--format", fmt)
    assert code == 1
    assert "entries/2/response" in out and "at /totalBalance" in out
    assert "entries/1/request" in out and "at /accounts/1/currencyCode" in out


def test_clean_har_exits_0(tmp_path: Path) -> None:
    document = json.loads(BROWSER.read_text(encoding="utf-8"))
    entry = document["log"]["entries"][1]
    body = json.loads(entry["request"]["postData"]["text"])
    body["accounts"][1]["currencyCode"] = "EUR"
    entry["request"]["postData"]["text"] = json.dumps(body)
    content = entry["response"]["content"]
    answer = json.loads(base64.b64decode(content["text"]))
    answer["results"].reverse()
    answer["results"][1]["resultType"] = "REQUEST_ACCEPTED"
    del answer["results"][1]["errorCode"], answer["results"][1]["errorDescription"]
    content["text"] = base64.b64encode(json.dumps(answer).encode()).decode()
    document["log"]["entries"] = document["log"]["entries"][:2]
    clean = tmp_path / "clean.har"
    clean.write_text(json.dumps(document), encoding="utf-8")
    code, out, _err = _run("--har", str(clean))
    assert (code, out) == (0, "2 files checked: 0 errors, 0 warnings in 0 files\n")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read: no such file"),
        (b"{not json", "not a HAR file: not JSON"),
        (b'{"log": {"entries": {}}}', "not a HAR file: log.entries is not a list"),
        (b'{"log": {"entries": [{"request": 3}]}}', "entries[0].request is not an object"),
    ],
)
def test_unreadable_har_exit_2_one_line(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "input.har"
    if content is not None:
        path.write_bytes(content)
    code, _out, err = _run("--har", str(path))
    assert code == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_har_with_operation_is_a_usage_error() -> None:
    code, _out, err = _run("--har", str(BROWSER), "--operation", "batchAccounts")
    assert code == 2 and "--har" in err


def test_writer_leaves_a_complete_document_after_every_entry(tmp_path: Path) -> None:
    path = tmp_path / "w.har"
    writer = HarWriter(str(path))
    assert json.loads(path.read_bytes())["log"]["entries"] == []
    for i in range(3):
        writer.add({"request": {"method": "GET", "url": f"http://x/{i}"}, "response": {}})
        # Read while the writer is still open: what a killed process leaves behind.
        document = json.loads(path.read_bytes())
        assert [e["request"]["url"] for e in document["log"]["entries"]] == [
            f"http://x/{n}" for n in range(i + 1)
        ]
    writer.close()
    assert document["log"]["version"] == "1.2"
    assert [e.url for e in read_har(path.read_bytes())] == [f"http://x/{n}" for n in range(3)]
