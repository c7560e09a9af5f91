"""The contract-page cross-check (``make contract-sync``) itself, on pages made here:
the real page is not in this repository, so ``make test`` never reads it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from amlyze_contracts.catalogue import load_rules
from amlyze_contracts.contract.checks import RULES as SERVER_RULES
from tests.conftest import REPO
from tests.contract_sync import main


def _page(severity_of: dict[str, str] | None = None, extra_server: str = "") -> str:
    """A contract page in CONTRACT.md's form, made from the catalogue itself."""
    rows = []
    for rule in load_rules().rules:
        if rule.function or rule.id.startswith(("response.", "brm.")):
            continue
        severity = (severity_of or {}).get(rule.id, rule.severity)
        code = rule.code or (rule.codes.get("accountType") if rule.codes else None) or "—"
        rows.append(f"| `{rule.id}` | item | condition | {severity} | {code} |")
    servers = "\n".join(f"| `{rule}` | what |" for rule in SERVER_RULES)
    return (
        "# The contract\n\n## 2. Request rules\n\n| rule id | applies to | condition | severity | vendor code |\n"
        "|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n## 3. Server rules\n\n" + servers
        + extra_server + "\n\n## 4. Fixtures\n"
    )  # fmt: skip


def test_a_page_that_matches_the_catalogue_passes(tmp_path: Path, capsys: object) -> None:
    page = tmp_path / "CONTRACT.md"
    page.write_text(_page(), encoding="utf-8")
    assert main([str(page)]) == 0


def test_a_changed_severity_and_an_unknown_server_rule_are_named(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    page = tmp_path / "CONTRACT.md"
    page.write_text(
        _page({"accounts.bic-format": "error"}, "\n| `server.brand-new` | what |"), encoding="utf-8"
    )
    assert main([str(page)]) == 1
    out = capsys.readouterr().out
    assert "accounts.bic-format: severity warning, the contract says error" in out
    assert "server.brand-new: a server rule of the contract the suite does not report" in out
    assert "2 mismatch(es)" in out


def test_make_target_without_a_page_says_how(tmp_path: Path) -> None:
    done = subprocess.run(
        ["make", "-s", "contract-sync", f"BIN={Path(sys.executable).parent}"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "usage: make contract-sync CONTRACT=path/to/CONTRACT.md" in done.stderr
    missing = subprocess.run(
        ["make", "-s", "contract-sync", f"CONTRACT={tmp_path / 'nope.md'}", f"BIN={Path(sys.executable).parent}"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 2
    assert "cannot read the contract page" in missing.stderr
