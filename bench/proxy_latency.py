"""What the validating proxy costs: the reference server direct vs through
``amlyze-contracts proxy``, side by side in one run (issue 15).

Both the server and the proxy run as separate processes (``serve --port 0``,
``proxy --port 0 --upstream ...``); the load generator is one of
``bench/server_throughput.py`` (keep-alive connections, 100-item ``batchAccounts``
bodies, every item fresh and accepted, so both the request and the
response/correlation rules run in full): ``raw`` by default, a minimal client as
wrk is, so that on two cores the load generator's own CPU does not queue the
server and the proxy; ``--client httpx`` for an application's client. Rounds
alternate direct and proxied runs; per round, the added latency is the difference
of the medians and the throughput ratio proxied / direct.

    python -m bench proxy            # or: python bench/proxy_latency.py [--rounds 5]

Targets: median added latency <= 2 ms, throughput >= 0.5x direct.

    python bench/proxy_latency.py --breakdown   # the proxy's CPU per exchange, by part
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
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from bench.server_throughput import CLIENTS, make_bodies, percentile, server_process

_T = TypeVar("_T")

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
def proxy_process(upstream: str, *options: str) -> Iterator[tuple[str, int]]:
    args = [
        sys.executable,
        "-m",
        "amlyze_contracts",
        "proxy",
        "--port",
        "0",
        "--upstream",
        upstream,
        *options,
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


def timed(
    url: str, bodies: list[bytes], concurrency: int, items: int, client: str = "raw"
) -> tuple[list[float], float]:
    started = time.perf_counter()
    latencies = asyncio.run(CLIENTS[client](url, bodies, concurrency, items))
    return latencies, len(bodies) / (time.perf_counter() - started)


def breakdown(args: argparse.Namespace) -> int:
    """Where the proxy's CPU goes, per exchange: the proxy runs in this process (its
    event loop in one thread, timed by that thread's CPU clock), its validator's
    entry points timed the same way; the server and the load generator
    (``bench/server_throughput.py --url``) are processes of their own."""
    import threading

    from amlyze_contracts.proxy.exchange import ExchangeValidator
    from amlyze_contracts.proxy.server import Options, running

    spent: dict[str, float] = {"request": 0.0, "prepare": 0.0, "response": 0.0}

    def timed_call(part: str, method: Callable[..., _T]) -> Callable[..., _T]:
        def call(*a: Any, **k: Any) -> _T:
            started = time.thread_time()
            try:
                return method(*a, **k)
            finally:
                spent[part] += time.thread_time() - started

        return call

    validator = ExchangeValidator()
    validator.request = timed_call("request", validator.request)  # type: ignore[method-assign]
    validator.request_value = timed_call("prepare", validator.request_value)  # type: ignore[method-assign]
    validator.response = timed_call("response", validator.response)  # type: ignore[method-assign]

    def client(url: str, requests: int) -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, "-m", "bench.server_throughput", "--url", url, "--warmup", "0",
             "--requests", str(requests), "--items", str(args.items),
             "--concurrency", str(args.concurrency), "--client", args.client],
            capture_output=True, text=True, check=True, timeout=600,
        )  # fmt: skip
        result: dict[str, Any] = json.loads(out.stdout.splitlines()[-1])
        return result

    requests = args.rounds * args.requests
    with (
        server_process(None) as direct,
        running(Options(upstream=direct), validator=validator) as (proxied, stats),
    ):
        [thread] = [t for t in threading.enumerate() if t.name == "amlyze-proxy"]
        assert thread.ident is not None
        clock = time.pthread_getcpuclockid(thread.ident)
        client(proxied, args.warmup)
        for part in spent:
            spent[part] = 0.0
        before = time.clock_gettime(clock)
        result = client(proxied, requests)
        total = time.clock_gettime(clock) - before
        assert stats.errors == 0, "the benchmark's traffic must be valid"
    rows = [
        ("request validation (`validate_request`; off the latency path)", spent["request"]),
        ("the request parsed once, for both validations (off the path)", spent["prepare"]),
        ("response validation (`validate_response(..., request=...)`)", spent["response"]),
        ("forwarding: HTTP, sockets, asyncio, counting", total - sum(spent.values())),
        ("total (the proxy thread's CPU clock)", total),
    ]
    print(
        f"\nproxy CPU per exchange, in-process: {requests} exchanges of {args.items}-item "
        f"batchAccounts, {args.concurrency} connections, {args.client} client (proxied p50 {result['p50_ms']} ms)\n"
    )
    print("| part | CPU per exchange |")
    print("|---|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds / requests * 1000:.3f} ms |")
    print(json.dumps({"benchmark": "proxy_breakdown", "exchanges": requests,
                      **{k: round(v / requests * 1000, 4) for k, v in spent.items()},
                      "total_ms": round(total / requests * 1000, 4)}))  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200, help="per contender and round")
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--client",
        choices=sorted(CLIENTS),
        default="raw",
        help="load generator (see the docstring)",
    )
    parser.add_argument("--har", action="store_true", help="the proxy records a HAR file")
    parser.add_argument(
        "--enforce", action="store_true", help="the proxy validates requests first (--enforce)"
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="instead: the proxy in this process, its CPU per exchange split by part",
    )
    args = parser.parse_args(argv)
    if args.breakdown:
        return breakdown(args)

    per_run = args.requests
    bodies = make_bodies(2 * args.warmup + 2 * args.rounds * per_run, args.items)
    rows: list[dict[str, float]] = []
    proxy_cpu = 0.0
    options = ["--enforce"] if args.enforce else []
    shown = [*options, *(["--har FILE"] if args.har else [])]
    with contextlib.ExitStack() as stack:
        if args.har:
            folder = stack.enter_context(tempfile.TemporaryDirectory())
            options += ["--har", os.path.join(folder, "bench.har")]
        direct = stack.enter_context(server_process(None))
        proxied, pid = stack.enter_context(proxy_process(direct, *options))
        for url in (direct, proxied):  # warm both paths (imports, compiled rules)
            timed(url, [bodies.pop() for _ in range(args.warmup)], args.concurrency, args.items,
                  args.client)  # fmt: skip
        for round_ in range(args.rounds):
            order = [("direct", direct), ("proxy", proxied)]
            if round_ % 2:
                order.reverse()
            got: dict[str, tuple[list[float], float]] = {}
            for name, url in order:
                chunk = [bodies.pop() for _ in range(per_run)]
                before = cpu_seconds(pid)
                got[name] = timed(url, chunk, args.concurrency, args.items, args.client)
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
        f"\n{args.items}-item batchAccounts, {args.concurrency} connections ({args.client} client), "
        f"{per_run} requests "
        f"per contender and round, {args.rounds} interleaved rounds, proxy options: "
        f"{' '.join(shown) or '(defaults)'}\n"
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
    print(json.dumps({"benchmark": "proxy_latency", "client": args.client, "added_p50_ms": round(added_ms, 3),
                      "throughput_ratio": round(ratio, 3), "proxy_cpu_ms": round(cpu_ms, 3),
                      "rounds": rows}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
