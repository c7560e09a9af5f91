"""``--revision DATE|latest`` on the commands (issue 13, point 1): ``specs list``,
``specs lint``, ``specs revisions``, ``rules`` and ``validate --har``; one option
definition and one message for an unknown revision everywhere."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from amlyze_contracts import revisions
from amlyze_contracts.cli import build_parser, main
from amlyze_contracts.commands.options import REVISION_HELP
from tests.conftest import REVISIONS

BALANCE = REVISIONS / "2024-12-12/accountBalance/samples/dailyBalance.json"
ACCOUNT = REVISIONS / "2024-12-12/account/samples/activeMinPayload.json"
UNKNOWN = (
    "unknown revision '2023-01-01' (known: 2024-11-04, 2024-11-05, 2024-11-28, 2024-12-12, latest)"
)


def _run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    """A listing command's JSON (it must exit 0)."""
    code, out, _ = _run(capsys, *argv, "--format", "json")
    assert code == 0
    listing: dict[str, Any] = json.loads(out)
    return listing


def _cli(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "amlyze_contracts", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# ------------------------------------------------------------------ one option, one message


def _revision_actions() -> dict[str, argparse.Action]:
    """The --revision action of every command (and specs subcommand) that has one."""
    found: dict[str, argparse.Action] = {}

    def walk(parser: argparse.ArgumentParser, name: str) -> None:
        for action in parser._actions:
            if "--revision" in action.option_strings:
                found[name] = action
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    walk(sub, f"{name} {sub_name}".strip())

    for command in ("validate", "specs", "rules"):
        walk(build_parser(command), "")
    return found


def test_every_command_takes_the_same_revision_option() -> None:
    actions = _revision_actions()
    assert {"validate", "specs list", "specs lint", "specs revisions", "rules"} <= set(actions)
    for name, action in actions.items():
        assert action.dest == "revision" and action.default is None, name
        assert action.help is not None and action.help.startswith(REVISION_HELP), name


def test_the_shared_option_offers_auto_only_where_a_command_says_what_it_does() -> None:
    from amlyze_contracts.commands.options import AUTO, UsageError, add_revision_option
    from amlyze_contracts.commands.options import resolve_revision as resolve

    parser = argparse.ArgumentParser()
    add_revision_option(parser, auto="detect it from the server's answers")
    (action,) = [a for a in parser._actions if a.dest == "revision"]
    assert action.metavar == "DATE|latest|auto"
    assert action.help == f"{REVISION_HELP}; auto: detect it from the server's answers"
    assert parser.parse_args(["--revision", AUTO]).revision == "auto"
    # The resolver knows dates and latest only; a command handles auto before it.
    assert resolve(None).name == revisions.table().default
    assert resolve("latest").name == "2024-12-12"
    with pytest.raises(UsageError, match=r"^unknown revision 'auto' \(known: "):
        resolve(AUTO)


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "--revision", "2023-01-01", str(BALANCE)],
        ["validate", "--revision", "2023-01-01", "--har", "missing.har"],
        ["specs", "list", "--revision", "2023-01-01"],
        ["specs", "lint", "--revision", "2023-01-01"],
        ["specs", "revisions", "--revision", "2023-01-01"],
        ["rules", "--revision", "2023-01-01"],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_an_unknown_revision_is_one_line_and_exit_2_everywhere(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = _run(capsys, *argv)
    assert (code, out) == (2, "")
    prog = "amlyze-contracts " + argv[0]
    assert err == f"{prog}: error: {UNKNOWN}\n"


def test_an_unknown_revision_in_a_process() -> None:
    done = _cli("rules", "--revision", "2023-01-01")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"amlyze-contracts rules: error: {UNKNOWN}\n"


# ------------------------------------------------------------------ specs revisions


def test_specs_revisions_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "specs", "revisions", "--format", "json")
    listing = json.loads(out)
    assert code == 0
    table = revisions.table()
    assert (listing["default"], listing["latest"]) == (table.default, table.latest)
    by_name = {r["name"]: r for r in listing["revisions"]}
    assert list(by_name) == table.names()
    assert [n for n, r in by_name.items() if r["default"]] == ["2024-11-04"]
    assert [n for n, r in by_name.items() if r["latest"]] == ["2024-12-12"]
    for name, entry in by_name.items():
        rev = table.revisions[name]
        assert (entry["commit"], entry["changes"]) == (rev.commit, rev.changes)
        assert [op["operationId"] for op in entry["operations"]] == list(rev.documents)
    routes = {
        name: {
            op["operationId"]: (op["method"], op["path"], op["document"]) for op in r["operations"]
        }
        for name, r in by_name.items()
    }
    balances = "/amlyze-ws-rest/batch-account-balances"
    assert routes["2024-11-05"]["registerBatchAccountBalances"] == (
        "PUT", balances, "revisions/batch-account-balances.2024-11-05.openapi.yaml",
    )  # fmt: skip
    assert routes["2024-11-28"]["registerBatchAccountBalances"][:2] == ("POST", balances)
    assert routes["2024-12-12"] == routes["2024-11-28"]  # latest changed no operation
    assert routes["2024-11-04"]["createAccount"] == (
        "POST", "/amlyze-ws-rest/account", "revisions/account.2024-11-04.openapi.yaml",
    )  # fmt: skip
    assert routes["2024-11-04"]["batchAccounts"][2] == "batch-accounts.openapi.yaml"


def test_specs_revisions_text_one_revision(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "specs", "revisions", "--revision", "latest")
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == "2024-12-12 (latest)  commit a1c706a"
    assert lines[1].startswith("  Latest. Both balances pages drop")
    rows = {
        line.split()[0]: line.split()[1:] for line in lines if line.startswith("  ") and "/" in line
    }
    assert rows["registerBatchAccountBalances"] == [
        "POST", "/amlyze-ws-rest/batch-account-balances",
        "revisions/batch-account-balances.2024-11-28.openapi.yaml",
    ]  # fmt: skip
    assert rows["validateBatchAccounts"][:2] == ["POST", "/amlyze-ws-rest/validate-batch-accounts"]
    assert rows["registerAccountBalance"][:2] == ["PUT", "/amlyze-ws-rest/account-balance"]
    assert "2024-11-04" not in out.split("\n", 1)[0]


def test_specs_revisions_in_a_process() -> None:
    done = _cli("specs", "revisions")
    assert done.returncode == 0, done.stderr
    heads = [line for line in done.stdout.splitlines() if line[:1].isdigit()]
    assert heads == [
        "2024-11-04 (default)  commit 8b4626c",
        "2024-11-05  commit 79c6a40",
        "2024-11-28  commit c54ab5a",
        "2024-12-12 (latest)  commit a1c706a",
    ]


# ------------------------------------------------------------------ specs list / lint / diff


def test_specs_list_revision_lists_its_documents_and_operations(
    capsys: pytest.CaptureFixture[str],
) -> None:
    listing = _json(capsys, "specs", "list", "--revision", "2024-11-28")
    assert listing["revision"] == "2024-11-28"
    ops = {
        op["operationId"]: (spec["name"], op["method"])
        for spec in listing["specs"]
        for op in spec["operations"]
    }
    assert ops == {
        "batchAccounts": ("batch-accounts", "POST"),
        "validateBatchAccounts": ("validate-batch-accounts.2024-11-04", "POST"),
        "createAccount": ("account.2024-11-04", "POST"),
        "registerBatchAccountBalances": ("batch-account-balances.2024-11-28", "POST"),
        "registerAccountBalance": ("account-balance.2024-11-28", "PUT"),
        "retrieveAccumulatedBalance": ("accumulated-balance", "GET"),
    }
    assert _json(capsys, "specs", "list", "--revision", "latest")["revision"] == "2024-12-12"
    seeds = _json(capsys, "specs", "list", "--revision", "2024-11-04")["specs"]
    assert {s["name"] for s in seeds} >= {"batch-account-balances", "account.2024-11-04"}
    # Without --revision: the bundled specs, as before (no revision member).
    bundled = _json(capsys, "specs", "list")
    assert "revision" not in bundled
    assert [s["name"] for s in bundled["specs"]] == [
        "accumulated-balance", "batch-account-balances", "batch-accounts",
    ]  # fmt: skip


def test_specs_list_revision_text_and_conflict(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "specs", "list", "--revision", "2024-11-05")
    assert code == 0 and len(out.splitlines()) == 6
    line = next(row for row in out.splitlines() if row.startswith("batch-account-balances"))
    assert "registerBatchAccountBalances PUT /amlyze-ws-rest/batch-account-balances" in line
    assert line.split()[0] == "batch-account-balances.2024-11-05"
    code, out, err = _run(capsys, "specs", "list", "batch-accounts", "--revision", "latest")
    assert (code, out) == (2, "")
    assert err == "amlyze-contracts specs: error: give spec files or --revision, not both\n"


def test_specs_lint_revision_lints_its_documents(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "specs", "lint", "--examples-only", "--revision", "latest")
    assert (code, out) == (0, "6 specs linted: no violations\n")
    code, out, _ = _run(
        capsys, "specs", "lint", "--examples-only", "--format", "json", "--revision", "2024-11-05"
    )
    paths = [f["path"] for f in json.loads(out)["files"]]
    assert code == 0 and len(paths) == 6
    assert any(
        p.endswith("revisions/batch-account-balances.2024-11-05.openapi.yaml") for p in paths
    )
    assert not any(p.endswith("2024-11-28.openapi.yaml") for p in paths)
    code, _, err = _run(capsys, "specs", "lint", "x.yaml", "--revision", "latest")
    assert code == 2 and "not both" in err


def test_specs_lint_revision_reports_a_broken_document(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The revision's documents are the ones linted: break one (a copy of the specs
    folder) and the lint of that revision fails on it, not the other revisions'."""
    import shutil

    from amlyze_contracts import specs

    folder = tmp_path / "specs"
    shutil.copytree(specs.bundled_dir(), folder)
    doc = folder / "revisions" / "account-balance.2024-11-05.openapi.yaml"
    doc.write_text(
        doc.read_text(encoding="utf-8").replace("balanceAt: '", "balanceAt: 'x", 1),
        encoding="utf-8",
    )
    monkeypatch.setenv("AMLYZE_CONTRACTS_SPECS_DIR", str(folder))
    code, out, _ = _run(capsys, "specs", "lint", "--examples-only", "--revision", "2024-11-05")
    assert code == 1 and "account-balance.2024-11-05.openapi.yaml" in out
    assert "spec.example-mismatch" in out
    code, out, _ = _run(capsys, "specs", "lint", "--examples-only", "--revision", "2024-11-28")
    assert code == 0, out


def test_specs_diff_takes_latest(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "specs", "diff", "2024-11-28", "latest")
    assert (code, out) == (0, "2024-11-28 -> latest\nno differences\n")
    code, out, _ = _run(capsys, "specs", "diff", "2024-11-05", "latest", "--format", "json")
    assert code == 1 and json.loads(out)["breaking"] == 1


# ------------------------------------------------------------------ rules --revision


def test_rules_revision_switches_the_rename_rule_off_from_2024_11_05(
    capsys: pytest.CaptureFixture[str],
) -> None:
    every = {r["id"] for r in _json(capsys, "rules")["rules"]}
    seeds = _json(capsys, "rules", "--revision", "2024-11-04")
    by_id = {r["id"]: r for r in seeds["rules"]}
    assert seeds["revision"] == "2024-11-04" and seeds["notApplied"] == []
    assert set(by_id) == every
    assert by_id["balances.balance-at-renamed"]["operations"] == [
        "registerBatchAccountBalances", "registerAccountBalance",
    ]  # fmt: skip
    assert by_id["accounts.closing-date-required"]["operations"] == [
        "batchAccounts", "validateBatchAccounts", "createAccount",
    ]  # fmt: skip
    assert by_id["schema.required"]["operations"] is None  # not bound to a schema
    for date in ("2024-11-05", "2024-11-28", "latest"):
        later = _json(capsys, "rules", "--revision", date)
        assert {r["id"] for r in later["rules"]} == every - {"balances.balance-at-renamed"}
        assert later["notApplied"] == [
            {
                "id": "balances.balance-at-renamed",
                "reason": "unless-defined: AccountBalance defines balanceAt in "
                "registerBatchAccountBalances, registerAccountBalance",
            }
        ]


def test_rules_revision_text_and_a_user_rule(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    extra = tmp_path / "bank.yaml"
    extra.write_text(
        "rules:\n  - id: bank.no-such-schema\n    applies-to: NotASchema\n"
        "    when: {x: {present: true}}\n    message: never\n"
        "  - id: bank.balance-value\n    applies-to: AccountBalance\n    severity: 'off'\n"
        "    when: {value: {present: true}}\n    message: shown although off\n",
        encoding="utf-8",
    )
    code, out, _ = _run(capsys, "rules", "--revision", "2024-11-28", "--rules", str(extra))
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split()[:2] == ["RULE", "SEVERITY"]
    listed = {line.split()[0] for line in lines[1:]}
    assert "bank.balance-value" in listed  # off, but it applies: shown with its severity
    assert "bank.no-such-schema" not in listed and "balances.balance-at-renamed" not in listed
    assert lines[-3].startswith("revision 2024-11-28 (commit c54ab5a): ")
    assert lines[-2:] == [
        "not applied under 2024-11-28: balances.balance-at-renamed (unless-defined: "
        "AccountBalance defines balanceAt in registerBatchAccountBalances, "
        "registerAccountBalance)",
        "not applied under 2024-11-28: bank.no-such-schema "
        "(no request schema NotASchema in this revision)",
    ]


def test_rules_revision_in_a_process() -> None:
    done = _cli("rules", "--revision", "2024-11-05")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith(
        "not applied under 2024-11-05: balances.balance-at-renamed (unless-defined"
    )


# ------------------------------------------------------------------ validate --har --revision


def _entry(method: str, path: str, body: Any, answer: Any) -> dict[str, Any]:
    request: dict[str, Any] = {"method": method, "url": f"https://bank.example{path}"}
    if body is not None:
        request["postData"] = {"mimeType": "application/json", "text": json.dumps(body)}
    content = {"mimeType": "application/json", "text": json.dumps(answer)}
    return {"request": request, "response": {"status": 200, "content": content}}


def _accepted(item: dict[str, Any]) -> dict[str, Any]:
    keys = ("communicationNumber", "accountExtId", "businessUnit")
    echoed = {k: item[k] for k in keys if k in item}
    return {
        "results": [{"resultType": "REQUEST_ACCEPTED", **echoed, "timeElapsedMs": 3}],
        "timeElapsedMs": 4,
    }


@pytest.fixture
def latest_har(tmp_path: Path) -> Path:
    """Traffic of a server of the latest revision: the vendor's own samples, sent to the
    four operations whose routes are not in the bundled specs or moved (POST balances)."""
    balance = json.loads(BALANCE.read_text(encoding="utf-8"))
    account = json.loads(ACCOUNT.read_text(encoding="utf-8"))
    entries = [
        _entry(
            "POST", "/amlyze-ws-rest/batch-account-balances",
            {"accountBalances": [balance]}, _accepted(balance),
        ),
        _entry("POST", "/amlyze-ws-rest/account", account, {"resultType": "OK"}),
        _entry(
            "POST", "/amlyze-ws-rest/validate-batch-accounts",
            {"accounts": [account]}, _accepted(account),
        ),
        _entry(
            "PUT", "/amlyze-ws-rest/account-balance", balance, {"resultType": "REQUEST_ACCEPTED"}
        ),
        _entry("GET", "/favicon.ico", None, {}),  # no operation anywhere: skipped
    ]  # fmt: skip
    path = tmp_path / "traffic.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "entries": entries}}), "utf-8")
    return path


def _har(
    capsys: pytest.CaptureFixture[str], har: Path, *argv: str
) -> tuple[int, dict[str, list[tuple[str, str, str]]]]:
    code, out, _ = _run(capsys, "validate", "--har", har, "--format", "json", *argv)
    found: dict[str, list[tuple[str, str, str]]] = {}
    for result in json.loads(out)["files"]:
        entry = result["path"].split("#/log/entries/")[1]
        found[entry] = [(v["severity"], v["rule"], v["message"]) for v in result["violations"]]
    return code, found


def test_har_under_its_own_revision_has_no_error(
    capsys: pytest.CaptureFixture[str], latest_har: Path
) -> None:
    for date in ("latest", "2024-11-28"):
        code, found = _har(capsys, latest_har, "--revision", date)
        assert code == 0
        assert sorted(found) == [
            f"{i}/{part}" for i in range(4) for part in ("request", "response")
        ]
        assert all(severity != "error" for v in found.values() for severity, _, _ in v)


def test_har_routes_of_another_revision_name_it(
    capsys: pytest.CaptureFixture[str], latest_har: Path
) -> None:
    code, found = _har(capsys, latest_har, "--revision", "2024-11-04")
    assert code == 1
    assert found["0/request"] == [
        (
            "error",
            "input.operation-unknown",
            "POST /amlyze-ws-rest/batch-account-balances is no operation of revision "
            "2024-11-04; the route fits vendor revision 2024-11-28 (also 2024-12-12) as "
            "registerBatchAccountBalances: use --revision 2024-11-28",
        )
    ]
    assert "0/response" not in found  # no operation, so nothing to judge the answer by
    # The single balance is at the same route in 2024-11-04: its body gets the body hint.
    errors = [m for s, r, m in found["3/request"] if s == "error"]
    assert len(errors) == 1 and errors[0].endswith(
        "the body fits vendor revision 2024-11-05 (also 2024-11-28, 2024-12-12): "
        "use --revision 2024-11-05"
    )
    assert [r for _, r, _ in found["1/request"]] == ["accounts.iban-checksum"]  # vendor's IBAN


def test_har_without_revision_names_the_revisions_of_the_new_operations(
    capsys: pytest.CaptureFixture[str], latest_har: Path
) -> None:
    code, found = _har(capsys, latest_har)
    assert code == 1
    assert sorted(found) == ["0/request", "1/request", "2/request", "3/request"]
    assert found["1/request"][0][2] == (
        "POST /amlyze-ws-rest/account is no operation of the bundled specs; the route fits "
        "vendor revision 2024-11-04 (also 2024-11-05, 2024-11-28, 2024-12-12) as "
        "createAccount: use --revision 2024-11-04"
    )
    # The rule's severity is the catalogue's: off, and the entries are skipped again.
    code, found = _har(capsys, latest_har, "--severity", "input.operation-unknown=off")
    assert (code, found) == (0, {})


def test_har_revision_in_a_process(latest_har: Path) -> None:
    done = _cli("validate", "--har", latest_har, "--revision", "latest", "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == "8 files checked: 0 errors, 2 warnings in 2 files\n"
    done = _cli("validate", "--har", latest_har, "--revision", "2024-11-05", "-q")
    assert done.returncode == 1
