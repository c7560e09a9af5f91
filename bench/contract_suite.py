"""Benchmark: the contract suite against the reference server and every catalogued
bug, next to a plain ``schemathesis run`` on the *published* spec.

    .venv/bin/python bench/contract_suite.py [--bugs NAME ...] [--json PATH]

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

from amlyze_contracts.contract.config import Options, brm_base
from amlyze_contracts.contract.suite import run
from amlyze_contracts.server import BUGS, running

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "tests" / "data" / "specs" / "published-batch-accounts.openapi.yaml"
TOKEN = "dev-token"


def ours(bugs: list[str]) -> dict[str, Any]:
    with running(bugs=bugs) as url:
        options = Options(base_url=url, brm_base_url=brm_base(url, None), token=TOKEN)
        result = run(options, progress=None)
    return {
        "passed": result.ok,
        "requests": result.requests,
        "seconds": round(result.duration, 2),
        "rps": round(result.requests / result.duration, 1),
        "first_failure_s": result.first_failure_seconds(),
        "rules": sorted(result.failed_rules()),
    }


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bugs", nargs="*", default=sorted(BUGS))
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--no-schemathesis", action="store_true")
    args = parser.parse_args(argv)
    out: dict[str, Any] = {"clean": {"ours": ours([])}, "bugs": {}}
    print("correct server, our suite:", out["clean"]["ours"], flush=True)
    if not args.no_schemathesis:
        out["clean"]["schemathesis"] = plain_schemathesis([], first_only=False)
        print("correct server, plain schemathesis:", out["clean"]["schemathesis"], flush=True)
    for bug in args.bugs:
        row: dict[str, Any] = {"ours": ours([bug])}
        if not args.no_schemathesis:
            row["schemathesis"] = plain_schemathesis([bug], first_only=False)
            clean = set(out["clean"]["schemathesis"]["titles"])
            # Caught only if it reports a kind of failure the correct server does not get.
            row["schemathesis"]["new_kinds"] = sorted(set(row["schemathesis"]["titles"]) - clean)
        out["bugs"][bug] = row
        st = row.get("schemathesis", {})
        print(
            f"{bug:28} ours: {'caught' if not row['ours']['passed'] else 'MISSED':6} "
            f"first {row['ours']['first_failure_s'] or 0:6.2f}s  "
            f"schemathesis: {'caught' if st.get('new_kinds') else 'missed':6} {st.get('new_kinds')}",
            flush=True,
        )
    caught = sum(1 for r in out["bugs"].values() if not r["ours"]["passed"])
    print(f"\nour suite: {caught}/{len(out['bugs'])} bugs caught")
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
