"""Benchmark: the contract suite against the reference server and every catalogued
bug, next to a plain ``schemathesis run`` on the *published* spec; and false alarms
on conforming servers (both server profiles) over many seeds.

    .venv/bin/python -m bench contract [--seeds N] [--bugs NAME ...] [--json PATH]
    .venv/bin/python -m bench.contract_suite --seeds 20 --bugs --no-schemathesis
    .venv/bin/python -m bench contract --matrix [--jobs 2] [--max-examples 8] [--json PATH]

``--matrix``: the mutation matrix of every vendor revision: the reference server and
every catalogued bug that shows under the revision (``BUGS[name].revisions``), in both
profiles, each run with ``--revision DATE``; for each cell whether the bug was caught
(an error, or a warning no conforming server earns) and by which rules. ``make test``
runs a slice of it (tests/contract/test_mutation.py).

Reports, for our suite: a default run's duration and requests per second on the
correct server, and for each bug whether it was caught, by which rules, and the time
to the first failure. For plain Schemathesis (published batch-accounts spec, auth
header, default checks): false alarms on the correct server, bugs caught, time to
the first failure (a run with --max-failures 1, process start included).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from amlyze_contracts.contract.checks import softened_rules
from amlyze_contracts.contract.config import Options, brm_base
from amlyze_contracts.contract.suite import run
from amlyze_contracts.server import BUGS, PROFILES, running

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "tests" / "data" / "specs" / "published-batch-accounts.openapi.yaml"
TOKEN = "dev-token"


def ours(
    bugs: list[str],
    profile: str = "default",
    seed: int | None = None,
    revision: str | None = None,
    max_examples: int = 25,
) -> dict[str, Any]:
    with running(bugs=bugs, profile=profile, revision=revision) as url:
        options = Options(
            base_url=url,
            brm_base_url=brm_base(url, None),
            token=TOKEN,
            seed=seed,
            revision=revision,
            max_examples=max_examples,
        )
        result = run(options, progress=None)
    records = result.failures()
    errors = {f.rule for f in records if f.severity == "error"}
    warned = {f.rule for f in records if f.severity == "warning"} - softened_rules()
    return {
        "passed": result.ok,
        # A bug counts as caught by an error, or by a warning no conforming server earns.
        "caught": bool(errors or warned),
        "requests": result.requests,
        "seconds": round(result.duration, 2),
        "rps": round(result.requests / result.duration, 1),
        "first_failure_s": result.first_failure_seconds(),
        "rules": sorted(result.failed_rules()),
        "errors": sorted({f.rule for f in records if f.severity == "error"}),
        "warnings": sorted({f"{f.rule}: {f.label}" for f in records if f.severity == "warning"}),
    }


def false_alarms(seeds: int) -> dict[str, Any]:
    """Default runs (seeds 1..N) against both conforming profiles: every error is a
    false alarm; warnings are listed (CONTRACT.md 3.1: allowed, not fatal)."""
    out: dict[str, Any] = {}
    for profile in PROFILES:
        runs = [ours([], profile, seed) for seed in range(1, seeds + 1)]
        warnings: dict[str, int] = {}
        for r in runs:
            for w in r["warnings"]:
                warnings[w] = warnings.get(w, 0) + 1
        out[profile] = {
            "runs": len(runs),
            "passed": sum(r["passed"] for r in runs),
            "false_alarms": sum(len(r["errors"]) for r in runs),
            "error_rules": sorted({e for r in runs for e in r["errors"]}),
            "warnings": warnings,
            "requests": round(sum(r["requests"] for r in runs) / len(runs)),
            "seconds_mean": round(sum(r["seconds"] for r in runs) / len(runs), 2),
            "seconds_max": max(r["seconds"] for r in runs),
        }
    return out


def print_false_alarms(table: dict[str, Any]) -> None:
    print(
        "\n| profile | runs | passed | false alarms (errors) | requests/run | s/run (mean, max) |"
    )
    print("|---|---:|---:|---:|---:|---|")
    for profile, row in table.items():
        print(
            f"| {profile} | {row['runs']} | {row['passed']} | {row['false_alarms']} "
            f"| {row['requests']} | {row['seconds_mean']}, {row['seconds_max']} |"
        )
    for profile, row in table.items():
        for warning, count in sorted(row["warnings"].items()):
            print(f"- {profile}: warning in {count}/{row['runs']} runs: {warning}")


def plain_schemathesis(bugs: list[str], *, first_only: bool) -> dict[str, Any]:
    exe = str(Path(sys.executable).with_name("schemathesis"))
    with running(bugs=bugs) as url, tempfile.TemporaryDirectory() as tmp:
        cmd = [
            exe, "run", str(PUBLISHED), "--url", url, "-H", f"Authorization: Bearer {TOKEN}",
            "--max-examples", "25", "--seed", "1", "--request-timeout", "10",
            "--report", "junit", "--report-junit-path", f"{tmp}/j.xml", "--max-time", "30",
        ]  # fmt: skip
        if first_only:
            cmd += ["--max-failures", "1"]
        started = time.monotonic()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp)
        seconds = time.monotonic() - started
        junit = Path(f"{tmp}/j.xml").read_text() if Path(f"{tmp}/j.xml").exists() else ""
    failures = len(re.findall(r"<failure", junit))
    # Failure kinds: testcase name + the failure's title line (values vary, titles do not).
    titles = sorted(set(re.findall(r'<failure[^>]*message="([^"&\n]{0,60})', junit)))
    return {
        "exit": done.returncode,
        "failed": done.returncode != 0,
        "seconds": round(seconds, 2),
        "failures": failures,
        "titles": titles,
    }


def _cell(job: tuple[str, str, str, int]) -> tuple[str, str, str, dict[str, Any]]:
    bug, revision, profile, max_examples = job
    result = ours([bug] if bug else [], profile, 1, revision, max_examples)
    return bug, revision, profile, result


def matrix(bugs: list[str], jobs: int, max_examples: int) -> dict[str, Any]:
    """Every revision x both profiles: the reference server, and every bug that shows."""
    from concurrent.futures import ProcessPoolExecutor

    from amlyze_contracts import revisions
    from amlyze_contracts.server.bugs import bugs_for

    work = [
        (bug, revision, profile, max_examples)
        for revision in revisions.names()
        for profile in PROFILES
        for bug in ["", *(b for b in bugs_for(revision) if b in bugs)]
    ]
    started = time.monotonic()
    cells: dict[str, Any] = {}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for bug, revision, profile, result in pool.map(_cell, work):
            cells.setdefault(revision, {}).setdefault(profile, {})[bug or "(none)"] = result
            verdict = ("caught" if result["caught"] else "MISSED") if bug else (
                "passed" if not result["errors"] else "FALSE ALARM"
            )  # fmt: skip
            print(
                f"{revision} {profile:10} {bug or '(reference server)':34} {verdict:11} "
                f"{result['seconds']:6.1f}s  {', '.join(result['rules'])}",
                flush=True,
            )
    summary = {}
    for revision, profiles in cells.items():
        for profile, row in profiles.items():
            bugs_here = {b: r for b, r in row.items() if b != "(none)"}
            summary[f"{revision} {profile}"] = {
                "bugs": len(bugs_here),
                "caught": sum(r["caught"] for r in bugs_here.values()),
                "reference_errors": row["(none)"]["errors"],
                "seconds_mean": round(
                    sum(r["seconds"] for r in row.values()) / max(len(row), 1), 2
                ),
            }
    print(
        "\n| revision | profile | bugs | caught | mutation score | reference server errors | s/run |"
    )
    print("|---|---|---:|---:|---:|---|---:|")
    for key, row in summary.items():
        revision, profile = key.split()
        score = 100 * row["caught"] / max(row["bugs"], 1)
        print(
            f"| {revision} | {profile} | {row['bugs']} | {row['caught']} | {score:.0f}% "
            f"| {', '.join(row['reference_errors']) or 'none'} | {row['seconds_mean']} |"
        )
    print(f"\n{len(work)} runs in {time.monotonic() - started:.0f} s ({jobs} jobs)")
    return {"cells": cells, "summary": summary}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bugs", nargs="*", default=sorted(BUGS))
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--no-schemathesis", action="store_true")
    parser.add_argument(
        "--seeds", type=int, default=3, help="runs per server profile for false alarms"
    )
    parser.add_argument(
        "--matrix", action="store_true", help="every bug x every revision x both profiles"
    )
    parser.add_argument("--jobs", type=int, default=2, help="--matrix: runs in parallel")
    parser.add_argument(
        "--max-examples", type=int, default=8, help="--matrix: per phase (make test's 8)"
    )
    args = parser.parse_args(argv)
    if args.matrix:
        result = matrix(args.bugs, args.jobs, args.max_examples)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        return 0
    out: dict[str, Any] = {"clean": {"ours": ours([])}, "bugs": {}}
    print("correct server, our suite:", out["clean"]["ours"], flush=True)
    if args.seeds:
        out["false_alarms"] = false_alarms(args.seeds)
        print_false_alarms(out["false_alarms"])
    if not args.no_schemathesis:
        out["clean"]["schemathesis"] = plain_schemathesis([], first_only=False)
        print("correct server, plain schemathesis:", out["clean"]["schemathesis"], flush=True)
    for bug in args.bugs:
        row: dict[str, Any] = {"ours": ours([bug]), "production": ours([bug], "production")}
        if not args.no_schemathesis:
            row["schemathesis"] = plain_schemathesis([bug], first_only=False)
            clean = set(out["clean"]["schemathesis"]["titles"])
            # Caught only if it reports a kind of failure the correct server does not get.
            row["schemathesis"]["new_kinds"] = sorted(set(row["schemathesis"]["titles"]) - clean)
        out["bugs"][bug] = row
        st = row.get("schemathesis", {})
        prod = row["production"]
        print(
            f"{bug:28} ours: {'caught' if row['ours']['caught'] else 'MISSED':6} "
            f"first {row['ours']['first_failure_s'] or 0:6.2f}s  "
            f"production: {'caught' if prod['caught'] else 'MISSED':6} "
            f"first {prod['first_failure_s'] or 0:6.2f}s  "
            f"schemathesis: {'caught' if st.get('new_kinds') else 'missed':6} {st.get('new_kinds')}",
            flush=True,
        )
    caught = sum(1 for r in out["bugs"].values() if r["ours"]["caught"])
    prod_caught = sum(1 for r in out["bugs"].values() if r["production"]["caught"])
    print(
        f"\nour suite: {caught}/{len(out['bugs'])} bugs caught (default profile), "
        f"{prod_caught}/{len(out['bugs'])} (production profile)"
    )
    if not args.no_schemathesis:
        st_caught = sum(1 for r in out["bugs"].values() if r["schemathesis"]["new_kinds"])
        print(
            f"plain schemathesis: {st_caught}/{len(out['bugs'])} bugs caught "
            f"(it also fails on the correct server: {out['clean']['schemathesis']['failed']}, "
            f"{out['clean']['schemathesis']['failures']} failing testcases)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
