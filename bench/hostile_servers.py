"""Benchmark: the contract suite against each hostile server of the tests (issue 12),
through the CLI as CI runs it: wall time against ``--time-budget`` and the peak
memory of the CLI process, beside a run against the reference server.

    .venv/bin/python -m bench hostile            # or: bench/hostile_servers.py
    .venv/bin/python bench/hostile_servers.py --budget 20 --only drip-body gzip-bomb

Every run uses the default ``--timeout`` (10 s). The bounds (issue 12): a run ends
within the budget plus 10 s and stays under 300 MB; against a hostile server it
exits 1 with the server's behaviour as a finding; a redirect's other origin receives
nothing. Exit status 1 if any row breaks a bound.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the tests' servers live in tests/
    sys.path.insert(0, str(ROOT))

from tests.contract.hostile_servers import BEHAVIOURS, hostile, run_cli  # noqa: E402

from amlyze_contracts.server import running  # noqa: E402

TOKEN = "bench-t0ken-value"
SLACK, MAX_MB = 10.0, 300.0
CONTROL = "reference server"
REDIRECT = "redirect"
SERVERS = [CONTROL, *sorted(set(BEHAVIOURS) - {"record"}), REDIRECT]


@contextmanager
def _server(name: str) -> Iterator[tuple[str, list[bytes] | None]]:
    """(base URL, requests seen by another origin, for the redirect)."""
    if name == CONTROL:
        with running(token=TOKEN) as url:
            yield url, None
    elif name == REDIRECT:
        with hostile("record") as other, hostile("record", redirect_to=other.url) as server:
            yield server.url, other.requests
    else:
        with hostile(name) as server:
            yield server.url, None


# The rules that speak for a server's behaviour, preferred in the table's last column
# (the run also fails other checks, e.g. a 200 where a 401 was due).
TELLING = ("server.no-5xx", "response.schema", "response.status-documented")


def _finding(stdout: str) -> str:
    """The most telling failure: its rule and message."""
    found = re.findall(r"^\[(?:ERROR|WARNING)\] (\S+) .*\n\s+(.*)$", stdout, re.M)
    if not found:
        return "none"
    rule, message = min(found, key=lambda f: TELLING.index(f[0]) if f[0] in TELLING else 9)
    return f"`{rule}`: {message[:90]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=20.0, help="--time-budget (s)")
    parser.add_argument("--only", nargs="+", choices=SERVERS, default=SERVERS)
    args = parser.parse_args(argv)
    budget = args.budget
    print(
        f"`amlyze-contracts test --time-budget {budget:g}` (default --timeout 10), one run each\n"
    )
    print("| server | exit | wall | wall - budget | peak memory | first finding |")
    print("|---|---:|---:|---:|---:|---|")
    broken = 0
    for name in args.only:
        with _server(name) as (url, elsewhere):
            done = run_cli(url, "--time-budget", f"{budget:g}", token=TOKEN, kill_after=budget + 60)
        finding = _finding(done.stdout)
        if elsewhere is not None:
            finding += f"; the other origin received {len(elsewhere)} requests"
        ok = (
            done.returncode == (0 if name == CONTROL else 1)
            and done.wall <= budget + SLACK
            and done.peak_mb < MAX_MB
            and TOKEN not in done.stdout + done.stderr
            and "Traceback" not in done.stderr
            and not elsewhere
        )
        broken += not ok
        print(
            f"| {name} | {done.returncode} | {done.wall:.1f} s | {done.wall - budget:+.1f} s "
            f"| {done.peak_mb:.0f} MB | {finding}{'' if ok else ' **(bound broken)**'} |",
            flush=True,
        )
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
