"""Throughput of the reference server for 100-item ``batchAccounts`` requests.

Starts ``amlyze-contracts serve --port 0`` as a separate process (so the load
generator does not share its GIL), then sends a bounded number of requests from a
few concurrent keep-alive connections on loopback. Bodies are pre-serialised,
every communicationNumber is unique, and every item must be accepted, so the
measured path is the full valid path (rule set + state).

Two load generators: ``httpx`` (the default here: a client as applications use it)
and ``raw`` (asyncio streams writing pre-built requests and reading
Content-Length-framed answers, as wrk does: about 0.1 ms of CPU per request
against httpx's 1.5 ms, which on a 2-core machine competes with the processes
being measured; the proxy benchmark's default).

    python bench/server_throughput.py [--requests 400] [--concurrency 4] [--state] [--client raw]

Prints a summary and one JSON line (items/s, requests/s, p50/p99 latency in ms).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson

ACCOUNTS = "/amlyze-ws-rest/batch-accounts"
TOKEN = "bench-token"


def make_bodies(count: int, items: int) -> list[bytes]:
    from amlyze_contracts.server.fixtures import valid_account

    run = uuid.uuid4().hex[:8]
    return [
        orjson.dumps(
            {
                "accounts": [
                    valid_account(f"bench-{run}-{r}-{i}", f"acc-{run}-{r}-{i}")
                    for i in range(items)
                ]
            }
        )
        for r in range(count)
    ]


@contextlib.contextmanager
def server_process(state: Path | None) -> Iterator[str]:
    args = [sys.executable, "-m", "amlyze_contracts", "serve", "--port", "0", "--token", TOKEN]
    if state is not None:
        args += ["--state", str(state)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("serving on "):
            raise RuntimeError(f"server did not start: {line!r}")
        yield line.split()[2].rstrip(",")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def load(url: str, bodies: list[bytes], concurrency: int, items: int) -> list[float]:
    """Send every body once; returns per-request latencies in seconds."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    # httpx writes headers and body separately; without TCP_NODELAY, Nagle plus the
    # server's delayed ACK would add ~40 ms to every request and measure nothing else.
    transport = httpx.AsyncHTTPTransport(
        limits=limits, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    )
    async with httpx.AsyncClient(
        base_url=url, headers=headers, transport=transport, timeout=30
    ) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post(ACCOUNTS, content=body)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"status {response.status_code}: {response.text[:200]}")
                results = orjson.loads(response.content)["results"]
                if len(results) != items or any(
                    r["resultType"] != "REQUEST_ACCEPTED" for r in results
                ):
                    raise RuntimeError(f"not all items accepted: {response.text[:300]}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def raw_load(url: str, bodies: list[bytes], concurrency: int, items: int) -> list[float]:
    """As :func:`load`, with a minimal HTTP/1.1 client: each request one pre-built
    write, each answer a head and a Content-Length body (chunked answers are an
    error here: neither the server nor the proxy sends them for these bodies)."""
    split = urllib.parse.urlsplit(url)
    assert split.hostname is not None and split.port is not None
    pending = list(reversed(bodies))
    latencies: list[float] = []
    head = (
        f"POST {ACCOUNTS} HTTP/1.1\r\nHost: {split.netloc}\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
    ).encode()
    accepted = b'"resultType":"REQUEST_ACCEPTED"'

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(split.hostname, split.port)
        try:
            while pending:
                body = pending.pop()
                request = b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)
                started = time.perf_counter()
                writer.write(request)
                answer = await reader.readuntil(b"\r\n\r\n")
                lowered = answer.lower()
                at = lowered.find(b"\r\ncontent-length:")
                if at < 0:
                    raise RuntimeError(f"no Content-Length: {answer[:300]!r}")
                length = int(lowered[at + 17 : lowered.index(b"\r\n", at + 2)])
                payload = await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if not answer.startswith(b"HTTP/1.1 200 "):
                    raise RuntimeError(f"{answer[:40]!r}: {payload[:200]!r}")
                # Checked in C: orjson writes members without spaces.
                if payload.count(accepted) != items or payload.count(b'"resultType"') != items:
                    raise RuntimeError(f"not all items accepted: {payload[:300]!r}")
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


CLIENTS = {"httpx": load, "raw": raw_load}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=400, help="measured requests")
    parser.add_argument("--warmup", type=int, default=40, help="unmeasured requests first")
    parser.add_argument("--items", type=int, default=100, help="items per request")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent connections")
    parser.add_argument("--state", action="store_true", help="serve with --state (SQLite)")
    parser.add_argument("--url", help="benchmark this running server instead (token: bench-token)")
    parser.add_argument("--client", choices=sorted(CLIENTS), default="httpx", help="load generator")
    args = parser.parse_args(argv)

    bodies = make_bodies(args.warmup + args.requests, args.items)
    with contextlib.ExitStack() as stack:
        if args.url:
            url = args.url
        else:
            state = None
            if args.state:
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                state = tmp / "state.sqlite"
            url = stack.enter_context(server_process(state))
        send = CLIENTS[args.client]
        asyncio.run(send(url, bodies[: args.warmup], args.concurrency, args.items))
        started = time.perf_counter()
        latencies = asyncio.run(send(url, bodies[args.warmup :], args.concurrency, args.items))
        wall = time.perf_counter() - started

    result = {
        "benchmark": "server_throughput",
        "operation": "batchAccounts",
        "items_per_request": args.items,
        "requests": args.requests,
        "concurrency": args.concurrency,
        "client": args.client,
        "state": "sqlite" if args.state else "memory",
        "cpus": os.cpu_count(),
        "items_per_s": round(args.requests * args.items / wall),
        "requests_per_s": round(args.requests / wall, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
    }
    print(
        f"batchAccounts x{args.items} items, {args.requests} requests, "
        f"{args.concurrency} connections, state={result['state']}: "
        f"{result['items_per_s']} items/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
