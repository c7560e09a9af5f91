"""``amlyze-contracts validate`` against ``check-jsonschema`` on the same payloads.

Two cases, each a fresh process per run (so start-up counts, as it does in a
pre-commit hook or a CI step):

* one small ``batchAccounts`` body (one account);
* 1,000 such bodies (distinct identifiers) named on one command line.

check-jsonschema gets the same request schema as JSON, ``$ref``s inlined by
``amlyze_contracts.specs``. Runs are interleaved (ours, theirs, theirs, ours, ...)
after one untimed warm-up each, and the median wall time is reported.

    python bench/cli_vs_check_jsonschema.py [--repeat 9] [--files 1000]

Prints a Markdown table (medians, ratio, target) and the exact commands. Exit code 1
when a target ratio is missed, 2 when a tool fails to accept the valid payloads.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Targets from the project's performance budget (ours / check-jsonschema).
TARGET_ONE = 0.6
TARGET_MANY = 0.3


def tool(name: str) -> str:
    """The console script next to this interpreter (the project's venv), else PATH."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def account(index: int) -> dict[str, object]:
    return {
        "communicationNumber": f"BENCH-{index:06d}",
        "requester": "amlyze-contracts bench",
        "businessEntityExtId": "CUST-0001",
        "accountExtId": f"ACC-{index:06d}",
        "accountNumber": "LT121000011101001000",
        "accountStatus": "ACTIVE",
        "currencyCode": "EUR",
        "openingDate": "2024-01-15T09:30:00Z",
        "isOtherFinInstAccount": False,
        "bic": "SANDLT22",
    }


def write_inputs(folder: Path, count: int) -> tuple[Path, Path, list[Path]]:
    """The JSON Schema file, one small body, and ``count`` bodies."""
    from amlyze_contracts.domain import BATCH_ACCOUNTS
    from amlyze_contracts.specs import load

    schema = load("batch-accounts").operations[BATCH_ACCOUNTS].request_schema
    assert schema is not None
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema", **copy.deepcopy(schema)}
    schema_file = folder / "batch-accounts.request.schema.json"
    schema_file.write_text(json.dumps(document, indent=2), encoding="utf-8")

    one = folder / "one-small-file.json"
    one.write_text(json.dumps({"accounts": [account(0)]}, indent=2), encoding="utf-8")
    many_dir = folder / "many"
    many_dir.mkdir()
    many = []
    for i in range(count):
        path = many_dir / f"{i:05d}.json"
        path.write_text(json.dumps({"accounts": [account(i + 1)]}, indent=2), encoding="utf-8")
        many.append(path)
    return schema_file, one, many


@dataclass
class Case:
    name: str
    ours: list[str]
    theirs: list[str]
    target: float
    ours_times: list[float]
    theirs_times: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ours_times) / statistics.median(self.theirs_times)


# Installed packages (check-jsonschema) ship .pyc files; an editable checkout gets them
# on first import unless bytecode writing is disabled, so allow it for both.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: Sequence[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        shown = shlex.join(argv[:6]) + (" ..." if len(argv) > 6 else "")
        print(f"{shown} exited {done.returncode}: {done.stderr.decode()[-2000:]}", file=sys.stderr)
        raise SystemExit(2)
    return elapsed


def shown_command(argv: Sequence[str], folder: Path, many: int) -> str:
    head = argv if not many else argv[: len(argv) - many]
    text = shlex.join(head) + (" $TMP/many/*.json" if many else "")
    return text.replace(str(folder), "$TMP")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=9, help="timed runs per command")
    parser.add_argument("--files", type=int, default=1000, help="files in the many-files case")
    args = parser.parse_args(argv)

    ours_bin, theirs_bin = tool("amlyze-contracts"), tool("check-jsonschema")
    with tempfile.TemporaryDirectory(prefix="amlyze-bench-") as tmp:
        folder = Path(tmp)
        schema_file, one, many = write_inputs(folder, args.files)
        theirs_base = [theirs_bin, "--schemafile", str(schema_file)]
        ours_base = [ours_bin, "validate"]
        cases = [
            Case(
                "1 small file (cold start)",
                [*ours_base, str(one)],
                [*theirs_base, str(one)],
                TARGET_ONE,
                [],
                [],
            ),
            Case(
                f"{args.files:,} small files, one call",
                [*ours_base, *map(str, many)],
                [*theirs_base, *map(str, many)],
                TARGET_MANY,
                [],
                [],
            ),
        ]
        for case in cases:  # warm-up: OS file cache and .pyc files, not timed
            timed(case.ours)
            timed(case.theirs)
        for rep in range(args.repeat):
            for case in cases:
                # Alternate who goes first so drift (thermal, caches) hits both alike.
                if rep % 2 == 0:
                    case.ours_times.append(timed(case.ours))
                    case.theirs_times.append(timed(case.theirs))
                else:
                    case.theirs_times.append(timed(case.theirs))
                    case.ours_times.append(timed(case.ours))

        print(f"Median wall time of {args.repeat} interleaved runs each (after one warm-up).\n")
        print("| case | amlyze-contracts | check-jsonschema | ratio | target | met |")
        print("|---|---:|---:|---:|---:|:---:|")
        for case in cases:
            ours_med = statistics.median(case.ours_times)
            theirs_med = statistics.median(case.theirs_times)
            met = "yes" if case.ratio <= case.target else "**no**"
            print(
                f"| {case.name} | {ours_med * 1000:.0f} ms | {theirs_med * 1000:.0f} ms | "
                f"{case.ratio:.2f}x | <= {case.target}x | {met} |"
            )
        print(
            "\nCommands ($TMP is a fresh temporary folder; $TMP/many/*.json the generated files):\n"
        )
        for case in cases:
            n = args.files if "files" in case.name else 0
            print(f"- `{shown_command(case.ours, folder, n)}`")
            print(f"- `{shown_command(case.theirs, folder, n)}`")
        print(
            f"\nPython {sys.version.split()[0]}; check-jsonschema "
            f"{_version('check-jsonschema')}; amlyze-contracts {_version('amlyze-contracts')}"
        )
    return 0 if all(case.ratio <= case.target for case in cases) else 1


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
