"""``amlyze-contracts rules``: the catalogue of every rule id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amlyze_contracts.catalogue import BUILTIN_RULES, load_rules
from amlyze_contracts.cli import main


def _ids() -> set[str]:
    return {r.id for r in BUILTIN_RULES} | {r.id for r in load_rules().rules}


def test_text_lists_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["RULE", "SEVERITY", "CODE", "APPLIES"]
    listed = {line.split()[0] for line in lines[1:]}
    assert listed == _ids()
    row = next(line for line in lines if line.startswith("accounts.bic-required-for-external "))
    assert row.split()[1:4] == ["error", "005", "AmlyzeAccountApi"]


def test_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "--format", "json"]) == 0
    rules = json.loads(capsys.readouterr().out)["rules"]
    by_id = {r["id"]: r for r in rules}
    assert set(by_id) == _ids()
    assert by_id["batch.communication-number-unique"]["code"] == "O005"
    assert by_id["common.classifier"]["codes"] == {"accountType": "006"}
    assert by_id["input.bom"]["severity"] == "warning"
    assert by_id["schema.required"]["applies_to"] == "any body"
    assert all(r["message"] for r in rules)


def test_user_rules_and_overrides(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    extra = tmp_path / "bank.yaml"
    extra.write_text(
        "rules:\n  - id: bank.extra\n    applies-to: AmlyzeAccountApi\n"
        "    when: {bic: {present: true}}\n    message: extra rule\n",
        encoding="utf-8",
    )
    argv = ["rules", "--format", "json", "--rules", str(extra), "--severity", "input.bom=off"]
    assert main(argv) == 0
    by_id = {r["id"]: r for r in json.loads(capsys.readouterr().out)["rules"]}
    assert by_id["bank.extra"]["severity"] == "error"
    assert by_id["input.bom"]["severity"] == "off"


def test_bad_rule_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["rules", "--rules", str(tmp_path / "none.yaml")]) == 2
    assert "no such rule file" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["input.bom", "=off", "input.bom="])
def test_bad_severity_gets_validates_message(
    capsys: pytest.CaptureFixture[str], value: str
) -> None:
    # The same parser and message as validate and proxy (one RULE=LEVEL reader).
    assert main(["rules", "--severity", value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"amlyze-contracts rules: error: --severity {value!r}: expected RULE=off|warning|error"
    ]
