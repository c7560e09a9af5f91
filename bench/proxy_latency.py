"""What the validating proxy costs: the reference server direct vs through
``amlyze-contracts proxy``, side by side in one run (issue 15).

Both the server and the proxy run as separate processes (``serve --port 0``,
``proxy --port 0 --upstream ...``); the load generator is the one of
``bench/server_throughput.py`` (httpx, keep-alive connections, 100-item
``batchAccounts`` bodies, every item fresh and accepted, so both the request and
the response/correlation rules run in full). Rounds alternate direct and proxied
runs; per round, the added latency is the difference of the medians and the
throughput ratio proxied / direct.

    python -m bench proxy            # or: python bench/proxy_latency.py [--rounds 5]

Targets: median added latency <= 2 ms, throughput >= 0.5x direct.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

from bench.server_throughput import load, make_bodies, percentile, server_process

TARGET_ADDED_MS = 2.0
TARGET_THROUGHPUT = 0.5


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def proxy_process(upstream: str) -> Iterator[tuple[str, int]]:
    args = [
        sys.executable,
        "-m",
        "amlyze_contracts",
        "proxy",
        "--port",
        "0",
        "--upstream",
        upstream,
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("proxying on "):
            raise RuntimeError(f"proxy did not start: {line!r}")
        yield line.split()[2], proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _out, err = proc.communicate()
        summary = [line for line in err.splitlines() if "summary:" in line]
        print(summary[-1] if summary else err[-500:], file=sys.stderr)


def timed(url: str, bodies: list[bytes], concurrency: int, items: int) -> tuple[list[float], float]:
    started = time.perf_counter()
    latencies = asyncio.run(load(url, bodies, concurrency, items))
    return latencies, len(bodies) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200, help="per contender and round")
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv)

    per_run = args.requests
    bodies = make_bodies(2 * args.warmup + 2 * args.rounds * per_run, args.items)
    rows: list[dict[str, float]] = []
    proxy_cpu = 0.0
    with server_process(None) as direct, proxy_process(direct) as (proxied, pid):
        for url in (direct, proxied):  # warm both paths (imports, compiled rules)
            timed(url, [bodies.pop() for _ in range(args.warmup)], args.concurrency, args.items)
        for round_ in range(args.rounds):
            order = [("direct", direct), ("proxy", proxied)]
            if round_ % 2:
                order.reverse()
            got: dict[str, tuple[list[float], float]] = {}
            for name, url in order:
                chunk = [bodies.pop() for _ in range(per_run)]
                before = cpu_seconds(pid)
                got[name] = timed(url, chunk, args.concurrency, args.items)
                if name == "proxy":
                    proxy_cpu += cpu_seconds(pid) - before
            d_lat, d_rps = got["direct"]
            p_lat, p_rps = got["proxy"]
            rows.append(
                {
                    "direct_p50_ms": statistics.median(d_lat) * 1000,
                    "proxy_p50_ms": statistics.median(p_lat) * 1000,
                    "direct_p99_ms": percentile(d_lat, 0.99) * 1000,
                    "proxy_p99_ms": percentile(p_lat, 0.99) * 1000,
                    "direct_rps": d_rps,
                    "proxy_rps": p_rps,
                }
            )

    print(
        f"\n100-item batchAccounts, {args.concurrency} connections, {per_run} requests per "
        f"contender and round, {args.rounds} interleaved rounds\n"
    )
    print(
        "| round | direct p50 ms | proxy p50 ms | added ms | direct req/s | proxy req/s | ratio |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for i, row in enumerate(rows, 1):
        added = row["proxy_p50_ms"] - row["direct_p50_ms"]
        ratio = row["proxy_rps"] / row["direct_rps"]
        print(
            f"| {i} | {row['direct_p50_ms']:.2f} | {row['proxy_p50_ms']:.2f} | {added:.2f} | "
            f"{row['direct_rps']:.0f} | {row['proxy_rps']:.0f} | {ratio:.2f}x |"
        )
    added_ms = statistics.median(r["proxy_p50_ms"] - r["direct_p50_ms"] for r in rows)
    ratio = statistics.median(r["proxy_rps"] / r["direct_rps"] for r in rows)
    print()
    print("| target (issue 15) | measured (median of rounds) | met |")
    print("|---|---:|---|")
    print(
        f"| median added latency <= {TARGET_ADDED_MS:g} ms | {added_ms:.2f} ms | "
        f"{'yes' if added_ms <= TARGET_ADDED_MS else 'NO'} |"
    )
    print(
        f"| throughput >= {TARGET_THROUGHPUT:g}x direct | {ratio:.2f}x | "
        f"{'yes' if ratio >= TARGET_THROUGHPUT else 'NO'} |"
    )
    cpu_ms = proxy_cpu / (args.rounds * per_run) * 1000
    print(f"\nproxy CPU time per exchange (user + system, /proc): {cpu_ms:.2f} ms")
    print(json.dumps({"benchmark": "proxy_latency", "added_p50_ms": round(added_ms, 3),
                      "throughput_ratio": round(ratio, 3), "proxy_cpu_ms": round(cpu_ms, 3),
                      "rounds": rows}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
