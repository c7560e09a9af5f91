"""The validator of this tree against the one of a git revision, in one process.

On a shared, loaded machine two runs of ``bench validate`` minutes apart differ by
more than a change does; here both validators run in the same process, interleaved
round by round (order alternating), on the same bodies, each timed as a ratio to
``orjson.loads`` in the same round. Before timing, both must produce the same
reports (behaviour identical).

    python -m bench.validate_ab [--base main] [--items 10000] [--rounds 15]

The base revision's ``src/`` and ``specs/`` are extracted with ``git archive`` into a
temporary folder and its package imported under another name.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from amlyze_contracts import validate_request
from amlyze_contracts.domain import BATCH_ACCOUNTS

from .validate_throughput import break_every_item, break_every_item_twice, make_items

REPO = Path(__file__).resolve().parents[1]
ALIAS = "amlyze_base"


def load_base(revision: str, into: Path) -> Callable[..., Any]:
    """``validate_request`` of ``revision``, imported as package ``amlyze_base``."""
    archive = into / "base.tar"
    with archive.open("wb") as out:
        subprocess.run(
            ["git", "archive", revision, "src", "specs"], cwd=REPO, stdout=out, check=True
        )
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    # Its bundled specs are found next to the package: <into>/specs.
    shutil.move(into / "src" / "amlyze_contracts", into / "src" / ALIAS)
    sys.path.insert(0, str(into / "src"))
    module = importlib.import_module(ALIAS)
    return module.validate_request  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main", help="git revision to compare against")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    items = make_items(args.items)
    bodies = {
        "valid": orjson.dumps({"accounts": items}),
        "every item broken": orjson.dumps({"accounts": break_every_item(items)}),
        "every item broken twice": orjson.dumps({"accounts": break_every_item_twice(items)}),
    }
    with tempfile.TemporaryDirectory() as tmp:
        impls = {args.base: load_base(args.base, Path(tmp)), "this tree": validate_request}
        for name, body in bodies.items():
            reports = [[v.to_dict() for v in f(BATCH_ACCOUNTS, body)] for f in impls.values()]
            assert reports[0] == reports[1], f"{name}: the reports differ"
        ratios: dict[tuple[str, str], list[float]] = {(i, b): [] for i in impls for b in bodies}
        clock = time.perf_counter
        for r in range(args.rounds):
            order = list(impls.items()) if r % 2 else list(reversed(impls.items()))
            for body_name, body in bodies.items():
                for impl_name, validate in order:
                    start = clock()
                    orjson.loads(body)
                    floor = clock() - start
                    start = clock()
                    validate(BATCH_ACCOUNTS, body)
                    ratios[(impl_name, body_name)].append((clock() - start) / floor)
    print(f"{args.items} items, {args.rounds} interleaved rounds; median of per-round ratios "
          f"to orjson.loads (the reports of both are equal)\n")  # fmt: skip
    print(f"| body | {' | '.join(impls)} |\n|---|{'---:|' * len(impls)}")
    for body_name in bodies:
        cells = [f"{statistics.median(ratios[(i, body_name)]):.2f}x" for i in impls]
        print(f"| {body_name} | {' | '.join(cells)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
