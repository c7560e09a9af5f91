"""Reports of a contract-suite run: a summary table per operation and rule, each
failure with a curl reproduction (``Authorization: Bearer ***``) and the response,
each flaky failure (failed once, passed when re-sent) with the request before it,
JSON for CI, and JUnit XML (one testcase per operation and rule, timed by the
requests that exercised it)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, TextIO

from .checks import RULES
from .runner import FailureRecord, RunResult

STATUS_WORDS = {"error": "FAIL", "warning": "WARN", "flaky": "FLAKY", "none": "ok"}
JSON_RESULTS = {"none": "passed", "flaky": "flaky", "warning": "warning", "error": "failed"}


def _rows(result: RunResult) -> list[tuple[str, str, int, int, str]]:
    """(operation, rule, examples, failures, outcome): outcome is the worst severity
    of the failures that reproduced, else "flaky" or "none"."""
    rows = []
    for (operation, rule), stat in sorted(result.stats.items()):
        outcome = stat.worst if stat.failures else ("flaky" if stat.flaky else "none")
        rows.append((operation, rule, stat.examples, stat.failures, outcome))
    return rows


def write_text(
    result: RunResult, out: TextIO, *, verbose: bool = False, quiet: bool = False
) -> None:
    """The table (not with ``quiet``), each failure and flaky failure, the summary."""
    rows = _rows(result)
    if result.detected:
        out.write(result.detected + "\n")
    if not quiet:
        widths = [max([len(r[0]) for r in rows] + [9]), max([len(r[1]) for r in rows] + [4])]
        out.write(
            f"{'operation':<{widths[0]}}  {'rule':<{widths[1]}}  {'sent':>6}  {'failed':>6}  result\n"
        )
        for operation, rule, examples, failures, outcome in rows:
            if not verbose and not failures and examples == 0:
                continue
            out.write(
                f"{operation:<{widths[0]}}  {rule:<{widths[1]}}  {examples:>6}  {failures:>6}  {STATUS_WORDS[outcome]}\n"
            )
    records = result.failures()
    flaky = result.flaky()
    blocks = [format_failure(r) for r in (*records, *flaky)]
    if blocks:
        out.write(("" if quiet else "\n") + "\n".join(blocks))
    if blocks or not quiet:
        out.write("\n")
    errors = sum(1 for f in records if f.severity == "error")
    warnings = len(records) - errors
    verdict = ("PASSED" if result.judged else "NOT JUDGED") if result.ok else "FAILED"
    out.write(
        f"{verdict}: {len(rows)} checks, {errors} failing, {warnings} warnings, "
        f"{len(flaky)} flaky; {result.requests} requests in {result.duration:.1f} s "
        f"({result.requests / max(result.duration, 1e-9):.0f}/s), run id {result.run_id}, "
        f"seed {result.seed} (replay: --seed {result.seed}), "
        + (f"revision {result.options.revision}, " if result.options.revision else "")
        + f"classifiers from {result.classifier_source}\n"
    )
    for note in result.notes:
        out.write(f"note: {note}\n")


def format_failure(record: FailureRecord) -> str:
    if record.resent is not None:
        head = f"[FLAKY] {record.rule} — {record.operation} — {record.label}"
    else:
        head = f"[{record.severity.upper()}] {record.rule} — {record.operation} — {record.label}"
    lines = [head, f"  {record.message}", "  reproduce:", f"    {record.curl}"]
    if record.error:
        lines.append(f"  response: none ({record.error})")
    else:
        ctype = {k.lower(): v for k, v in record.response_headers.items()}.get("content-type", "")
        lines.append(f"  response: {record.status} {ctype}".rstrip())
        if record.response_body:
            lines.append(f"    {record.response_body}")
    if record.resent is not None:
        lines.append(f"  {record.resent}; not a violation")
        before = record.preceded_by or "none (the first request of the run)"
        lines += ["  preceded on the connection by:", f"    {before}"]
    return "\n".join(lines) + "\n"


def to_dict(result: RunResult) -> dict[str, Any]:
    options = result.options
    return {
        "passed": result.ok,
        "run_id": result.run_id,
        "base_url": options.base_url,
        "brm_base_url": options.brm_base_url,
        "operations": list(options.operations),
        # The vendor revision tested (null: the default revision's documents, the seeds'
        # operations), and what --revision auto found.
        "revision": options.revision,
        "revision_detected": result.detected,
        "read_only": options.read_only,
        "seed": result.seed,
        "max_examples": options.max_examples,
        "requests": result.requests,
        "resent": result.resent,
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
                "flaky": result.stats[(operation, rule)].flaky,
                "seconds": round(result.stats[(operation, rule)].seconds, 3),
                "result": JSON_RESULTS[outcome],
            }
            for operation, rule, examples, failures, outcome in _rows(result)
        ],
        "failures": [f.to_dict() for f in result.failures()],
        "flaky": [f.to_dict() for f in result.flaky()],
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
        case = ET.SubElement(
            suite, "testcase", classname=operation, name=rule, time=f"{stat.seconds:.3f}"
        )
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
        elif stat.flaky and stat.flaky_record is not None:
            # Passed: failed once but not when re-sent; shown, never counted as a failure.
            ET.SubElement(case, "system-out").text = (
                f"FLAKY: {stat.flaky} of {stat.examples} examples failed once but not when "
                "re-sent\n" + format_failure(stat.flaky_record)
            )
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="examples", value=str(stat.examples))
        ET.SubElement(props, "property", name="flaky", value=str(stat.flaky))
    props = ET.Element("properties")
    ET.SubElement(props, "property", name="seed", value=str(result.seed))
    ET.SubElement(props, "property", name="run_id", value=result.run_id)
    if result.options.revision:
        ET.SubElement(props, "property", name="revision", value=result.options.revision)
    suite.insert(0, props)
    root = ET.Element("testsuites")
    root.append(suite)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
