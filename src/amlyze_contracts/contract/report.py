"""Reports of a contract-suite run: a summary table per operation and rule, each
failure with a curl reproduction (``Authorization: Bearer ***``) and the response,
JSON for CI, and JUnit XML (one testcase per operation and rule)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, TextIO

from .checks import RULES
from .runner import FailureRecord, RunResult

STATUS_WORDS = {"error": "FAIL", "warning": "WARN", "none": "ok"}


def _rows(result: RunResult) -> list[tuple[str, str, int, int, str]]:
    rows = []
    for (operation, rule), stat in sorted(result.stats.items()):
        rows.append(
            (operation, rule, stat.examples, stat.failures, stat.worst if stat.failures else "none")
        )
    return rows


def write_text(result: RunResult, out: TextIO, *, verbose: bool = False) -> None:
    rows = _rows(result)
    widths = [max([len(r[0]) for r in rows] + [9]), max([len(r[1]) for r in rows] + [4])]
    out.write(
        f"{'operation':<{widths[0]}}  {'rule':<{widths[1]}}  {'sent':>6}  {'failed':>6}  result\n"
    )
    for operation, rule, examples, failures, worst in rows:
        if not verbose and not failures and examples == 0:
            continue
        out.write(
            f"{operation:<{widths[0]}}  {rule:<{widths[1]}}  {examples:>6}  {failures:>6}  {STATUS_WORDS[worst]}\n"
        )
    records = result.failures()
    for record in records:
        out.write("\n" + format_failure(record))
    errors = sum(1 for f in records if f.severity == "error")
    warnings = len(records) - errors
    verdict = "PASSED" if result.ok else "FAILED"
    out.write(
        f"\n{verdict}: {len(rows)} checks, {errors} failing, {warnings} warnings; "
        f"{result.requests} requests in {result.duration:.1f} s "
        f"({result.requests / max(result.duration, 1e-9):.0f}/s), run id {result.run_id}, "
        f"classifiers from {result.classifier_source}\n"
    )
    for note in result.notes:
        out.write(f"note: {note}\n")


def format_failure(record: FailureRecord) -> str:
    head = f"[{record.severity.upper()}] {record.rule} — {record.operation} — {record.label}"
    lines = [head, f"  {record.message}", "  reproduce:", f"    {record.curl}"]
    if record.error:
        lines.append(f"  response: none ({record.error})")
    else:
        ctype = {k.lower(): v for k, v in record.response_headers.items()}.get("content-type", "")
        lines.append(f"  response: {record.status} {ctype}".rstrip())
        if record.response_body:
            lines.append(f"    {record.response_body}")
    return "\n".join(lines) + "\n"


def to_dict(result: RunResult) -> dict[str, Any]:
    options = result.options
    return {
        "passed": result.ok,
        "run_id": result.run_id,
        "base_url": options.base_url,
        "brm_base_url": options.brm_base_url,
        "operations": list(options.only),
        "read_only": options.read_only,
        "seed": options.seed,
        "max_examples": options.max_examples,
        "requests": result.requests,
        "duration_seconds": round(result.duration, 3),
        "requests_per_second": round(result.requests / max(result.duration, 1e-9), 1),
        "first_failure_seconds": result.first_failure_seconds(),
        "classifiers": result.classifier_source,
        "notes": result.notes,
        "checks": [
            {
                "operation": operation,
                "rule": rule,
                "description": RULES.get(rule, ""),
                "examples": examples,
                "failures": failures,
                "result": {"none": "passed", "warning": "warning", "error": "failed"}[worst],
            }
            for operation, rule, examples, failures, worst in _rows(result)
        ],
        "failures": [f.to_dict() for f in result.failures()],
    }


def write_json(result: RunResult, path: str | Path) -> None:
    Path(path).write_text(
        json.dumps(to_dict(result), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def write_junit(result: RunResult, path: str | Path) -> None:
    suite = ET.Element(
        "testsuite",
        name="amlyze-contracts",
        tests=str(len(result.stats)),
        failures=str(sum(1 for s in result.stats.values() if s.failures and s.worst == "error")),
        errors="0",
        skipped="0",
        time=f"{result.duration:.3f}",
    )
    for (operation, rule), stat in sorted(result.stats.items()):
        case = ET.SubElement(suite, "testcase", classname=operation, name=rule, time="0")
        record = stat.smallest
        if stat.failures and record is not None:
            tag = (
                "failure"
                if stat.worst == "error" or result.options.fail_on == "warning"
                else "system-out"
            )
            element = ET.SubElement(case, tag)
            if tag == "failure":
                element.set("message", record.message[:500])
                element.set("type", f"{rule} ({record.severity})")
            element.text = (
                f"{stat.failures} failing of {stat.examples} examples\n" + format_failure(record)
            )
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="examples", value=str(stat.examples))
    root = ET.Element("testsuites")
    root.append(suite)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
