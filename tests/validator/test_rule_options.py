"""User rule files, severity overrides, classifier snapshots and user specs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from amlyze_contracts import validate_request
from amlyze_contracts.catalogue import RuleFileError, load_rules
from amlyze_contracts.classifiers import ClassifierError
from amlyze_contracts.specs import bundled_dir, load

from .builders import account, accounts_body, dumps

OP = "batchAccounts"


def write_rules(
    tmp_path: Path, rules: list[dict[str, object]], name: str = "bank.rules.yaml"
) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"version": 1, "rules": rules}), encoding="utf-8")
    return path


def test_user_rule_file_adds_a_rule(tmp_path: Path) -> None:
    path = write_rules(
        tmp_path,
        [
            {
                "id": "bank.requester-upper",
                "severity": "error",
                "code": "B01",
                "applies-to": "AmlyzeAccountApi",
                "require": {"requester": {"matches": "^[A-Z_]+$"}},
                "message": "`requester` must be an upper-case system name",
                "source": "our integration guide",
            }
        ],
    )
    body = accounts_body(account(0), account(1, requester="core banking"))
    report = validate_request(OP, body, rules=[path])
    (hit,) = report.violations
    assert (hit.rule, hit.pointer, hit.code, hit.severity) == (
        "bank.requester-upper",
        "/accounts/1/requester",
        "B01",
        "error",
    )
    # The same body without the file: nothing.
    assert validate_request(OP, body).valid


def test_severity_overrides() -> None:
    body = accounts_body(account(0, bic="BICXX22"))
    assert validate_request(OP, body).rules() == {"accounts.bic-format"}
    assert validate_request(OP, body, severities={"accounts.bic-format": "off"}).violations == []
    strict = validate_request(OP, body, severities={"accounts.bic-format": "error"})
    assert not strict.valid and strict.errors[0].rule == "accounts.bic-format"
    missing = accounts_body(account(0, bic=None, isOtherFinInstAccount=False))
    relaxed = validate_request(OP, missing, severities={"schema.type": "warning"})
    assert relaxed.valid and relaxed.warnings[0].rule == "schema.type"


@pytest.mark.parametrize(
    ("severities", "needle"),
    [
        ({"accounts.nope": "off"}, "unknown rule 'accounts.nope'"),
        ({"accounts.bic-format": "fatal"}, "'fatal' is not one of error, warning, off"),
    ],
)
def test_bad_severity_overrides(severities: dict[str, str], needle: str) -> None:
    with pytest.raises(RuleFileError, match=needle):
        validate_request(OP, accounts_body(account(0)), severities=severities)


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        (
            {"id": "x", "message": "m", "applies-to": "A", "when": {"a": {"present": True}}},
            "'id' must look like",
        ),
        (
            {"id": "bank.a", "message": "m", "applies-to": "A", "when": {"a": {"looks-like": 1}}},
            "unknown condition 'looks-like'",
        ),
        (
            {"id": "bank.a", "message": "m", "applies-to": "A", "when": {"a": {"matches": "("}}},
            "bad regular expression",
        ),
        ({"id": "bank.a", "message": "m", "when": {"a": {"present": True}}}, "'applies-to'"),
        (
            {"id": "bank.a", "applies-to": "A", "when": {"a": {"present": True}}},
            "'message' is required",
        ),
        (
            {
                "id": "bank.a",
                "message": "m",
                "applies-to": "A",
                "severity": "fatal",
                "when": {"a": {"present": True}},
            },
            "severity",
        ),
        (
            {"id": "bank.a", "message": "m", "applies-to": "A", "when": {"a": {"in-set": "nope"}}},
            "unknown set 'nope'",
        ),
        (
            {"id": "bank.a", "message": "m", "applies-to": "A", "when": {"a": {"check": "luhn"}}},
            "unknown check 'luhn'",
        ),
        (
            {
                "id": "bank.a",
                "message": "m",
                "applies-to": "A",
                "typo": 1,
                "when": {"a": {"present": True}},
            },
            "unknown keys typo",
        ),
    ],
)
def test_invalid_rule_files_name_file_and_entry(
    tmp_path: Path, entry: dict[str, object], needle: str
) -> None:
    path = write_rules(tmp_path, [entry])
    with pytest.raises(RuleFileError) as info:
        validate_request(OP, accounts_body(account(0)), rules=[path])
    assert str(path) in str(info.value) and needle in str(info.value)


def test_unregistered_functions_fail_when_the_file_loads(tmp_path: Path) -> None:
    # A typo in `function:` used to disable the rule silently.
    path = write_rules(
        tmp_path, [{"id": "batch.typo", "message": "m", "function": "batch_not_emtpy"}]
    )
    with pytest.raises(RuleFileError) as info:
        load_rules([path])
    text = str(info.value)
    assert str(path) in text and "batch.typo" in text and "'batch_not_emtpy'" in text
    assert "batch_not_empty" in text  # the known names are listed
    ok = write_rules(
        tmp_path,
        [{"id": "batch.mine", "message": "m", "function": "batch_not_empty"}],
        name="ok.rules.yaml",
    )
    assert load_rules([ok]).by_id["batch.mine"].function == "batch_not_empty"


def test_every_bundled_function_is_registered() -> None:
    from amlyze_contracts import rule_functions

    named = {r.function for r in load_rules().rules if r.function}
    assert named <= set(rule_functions.KINDS)
    # The response rules that are code run from the registry, like the others.
    assert {"status_documented", "content_type"} <= set(rule_functions.RESPONSE_RULES)


def test_unreadable_rule_files(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError, match="no such rule file"):
        load_rules([tmp_path / "missing.yaml"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [unclosed", encoding="utf-8")
    with pytest.raises(RuleFileError, match="not valid YAML"):
        load_rules([bad])
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(RuleFileError, match="must be a mapping"):
        load_rules([wrong])


def test_bundled_rule_files_are_the_catalogue() -> None:
    files = sorted(p.name for p in (bundled_dir() / "rules").glob("*.yaml"))
    assert files == ["request-rules.yaml", "response-rules.yaml"]
    ids = [r.id for r in load_rules().rules]
    assert len(ids) == len(set(ids))


def test_classifier_snapshot_from_file_and_mapping(tmp_path: Path) -> None:
    body = accounts_body(account(0, businessUnit="BU_9", accountType="ORG_B2B"))
    assert validate_request(OP, body).valid  # unchecked without a snapshot
    snapshot = {
        "businessUnit": [{"code": "sandbox", "name": "Sandbox"}],
        "accountType": ["IND_B2B"],
    }
    path = tmp_path / "classifiers.json"
    path.write_text(json.dumps(snapshot), encoding="utf-8")
    for given in (snapshot, str(path), path):
        report = validate_request(OP, body, classifiers=given)  # type: ignore[arg-type]
        assert {(v.rule, v.pointer, v.code) for v in report} == {
            ("common.classifier", "/accounts/0/businessUnit", None),
            ("common.classifier", "/accounts/0/accountType", "006"),
        }
        assert "/classifier/accountType" in next(v.message for v in report if v.code == "006")


def test_bad_classifier_snapshots(tmp_path: Path) -> None:
    with pytest.raises(ClassifierError, match="cannot read"):
        validate_request(OP, accounts_body(account(0)), classifiers=str(tmp_path / "none.json"))
    with pytest.raises(ClassifierError, match="must be a list"):
        validate_request(OP, accounts_body(account(0)), classifiers={"currency": "EUR"})


def test_user_spec_that_forbids_extras(tmp_path: Path) -> None:
    """A newer vendor spec: same operationId, item closed with additionalProperties: false."""
    document = yaml.safe_load(
        (bundled_dir() / "batch-accounts.openapi.yaml").read_text(encoding="utf-8")
    )
    document["components"]["schemas"]["AmlyzeAccountApi"]["additionalProperties"] = False
    document["info"]["version"] = "v1-closed"
    path = tmp_path / "vendor-v1.openapi.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    spec = load(path)
    body = dumps(accounts_body(account(0, nickname="savings")))
    report = validate_request(OP, body, spec=spec)
    (extra,) = report.violations
    assert (extra.rule, extra.pointer, extra.severity) == (
        "schema.additional",
        "/accounts/0/nickname",
        "error",
    )
    assert extra.line is not None
    # The bundled spec still treats it as an unknown member (a warning).
    assert validate_request(OP, body).rules() == {"common.unknown-field"}
