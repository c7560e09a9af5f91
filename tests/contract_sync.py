"""Cross-check the rule catalogue against the domain contract page (CONTRACT.md).

Not part of ``make test``: the page is not in this repository. Run it where the page
is, with ``make contract-sync CONTRACT=path/to/CONTRACT.md`` (or
``python -m tests.contract_sync PATH``). Exit 0 when the catalogue matches, 1 with one
line per mismatch, 2 when the page cannot be read.

What must hold: every request rule id of section 2 exists in the catalogue with the
page's severity and vendor code and has a failing case in the tests; every server rule
id of section 3 is one the contract suite reports.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

RULE_ID = re.compile(
    r"`((?:schema|input|accounts|common|balances|batch|response|errors|server|brm)\.[a-zA-Z-]+)`"
)
# Covered by tests other than a CASE of test_request_rules (named there).
COVERED_ELSEWHERE = frozenset({"schema.minItems", "schema.additional", "input.operation-unknown"})


def section(text: str, title: str) -> str:
    """The text of ``## <title>`` up to the next ``## `` heading ('' when absent)."""
    if f"## {title}" not in text:
        return ""
    return text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def rule_ids(text: str) -> set[str]:
    return set(RULE_ID.findall(text))


def table_rows(text: str) -> list[tuple[str, str, str | None]]:
    """(rule id, severity, code) of each 5-column rule table row."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`") and cells[3] in ("error", "warning"):
            code = cells[4].split()[0] if cells[4] not in ("—", "-", "") else None
            rows.append((cells[0].strip("`"), cells[3], code))
    return rows


def mismatches(text: str) -> list[str]:
    from amlyze_contracts.catalogue import BUILTIN_RULES, load_rules
    from amlyze_contracts.contract.checks import RULES as SERVER_RULES
    from tests.validator.test_request_rules import CASES

    problems: list[str] = []
    requests = section(text, "2. Request rules")
    servers = section(text, "3. Server rules")
    if not requests or not servers:
        return ["the page has no '## 2. Request rules' or '## 3. Server rules' section"]
    ruleset = load_rules()
    catalogue = {r.id for r in (*BUILTIN_RULES, *ruleset.rules)}
    covered = {c.rule for c in CASES} | COVERED_ELSEWHERE
    for rule_id in sorted(rule_ids(requests)):
        if rule_id not in catalogue:
            problems.append(f"{rule_id}: in the contract, not in the rule catalogue")
        elif rule_id not in covered:
            problems.append(f"{rule_id}: no failing case in tests/validator/test_request_rules.py")
    for rule_id, severity, code in table_rows(requests):
        rule = ruleset.by_id.get(rule_id)
        if rule is None:
            continue  # reported above
        if rule.severity != severity:
            problems.append(f"{rule_id}: severity {rule.severity}, the contract says {severity}")
        ours = rule.code or (rule.codes.get("accountType") if rule.codes else None)
        if ours != code:
            problems.append(f"{rule_id}: vendor code {ours}, the contract says {code}")
    for rule_id in sorted(rule_ids(servers.split("### 3.1", 1)[0]) - set(SERVER_RULES)):
        problems.append(f"{rule_id}: a server rule of the contract the suite does not report")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0]:
        print("usage: make contract-sync CONTRACT=path/to/CONTRACT.md", file=sys.stderr)
        return 2
    path = Path(args[0])
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        print(
            f"contract-sync: {path}: cannot read the contract page: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    problems = mismatches(text)
    for problem in problems:
        print(f"{path}: {problem}")
    print(f"contract-sync: {len(problems)} mismatch(es) between {path} and the catalogue")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
