"""The proxy's plumbing, bounded: decompression caps, the codings asked upstream,
message heads, operation matching, and the memory of a proxy process under
concurrent large uploads."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import threading
import tracemalloc
import zlib

import httpx
import pytest

from amlyze_contracts.proxy.exchange import Matcher
from amlyze_contracts.proxy.http import ProtocolError, accept_encoding, decode, parse_head
from tests.proxy.helpers import BOMB, hostile


def test_a_compression_bomb_is_never_inflated_past_the_cap() -> None:
    cap = 1024 * 1024
    tracemalloc.start()
    try:
        assert decode(BOMB, "gzip", cap) is None
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * cap  # the bomb inflates to 64 MiB


@pytest.mark.parametrize(
    ("data", "coding", "expected"),
    [
        (gzip.compress(b'{"a": 1}', mtime=0), "gzip", b'{"a": 1}'),
        (zlib.compress(b"[]"), "deflate", b"[]"),
        (zlib.compress(b"[]")[2:-4], "deflate", b"[]"),  # raw deflate, as some servers send
        (b"{}", "identity", b"{}"),
        (b"{}", "", b"{}"),
        (b"not gzip", "gzip", None),
        (b"\x1b", "br", None),  # a coding the proxy cannot bound is not decoded at all
    ],
)
def test_decode(data: bytes, coding: str, expected: bytes | None) -> None:
    assert decode(data, coding, 1000) == expected


@pytest.mark.parametrize(
    ("client", "upstream"),
    [
        (None, "identity"),
        ("br", "identity"),
        ("gzip, deflate, br, zstd", "gzip, deflate, identity"),
        ("GZIP;q=0.5", "gzip, identity"),
    ],
)
def test_only_bounded_codings_are_asked_for(client: str | None, upstream: str) -> None:
    assert accept_encoding(client) == upstream


@pytest.mark.parametrize(
    "head",
    [
        b"GET",
        b"GET / HTTP/1.1\r\nno colon",
        b"GET / HTTP/1.1\r\nbad name: x",
        b"GET / HTTP/1.1\r\n: x",
    ],
)
def test_malformed_heads_are_protocol_errors(head: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_head(head)


def test_operations_matched_by_method_and_path() -> None:
    matcher = Matcher()
    found = matcher.match("post", "/amlyze-ws-rest/batch-accounts")
    assert found is not None and found.operation_id == "batchAccounts" and found.batch
    assert matcher.match("GET", "/amlyze-ws-rest/batch-accounts") is None
    mounted = matcher.match("PUT", "https://h.example/ctx/amlyze-ws-rest/batch-account-balances/")
    assert mounted is not None and mounted.operation_id == "registerBatchAccountBalances"
    brm = matcher.match(
        "GET", "/brm/prepayBalanceManagement/v1/accumulatedBalance/0.0.0.1%2B-account%2B1?fields=id"
    )
    assert brm is not None and brm.operation_id == "retrieveAccumulatedBalance"
    assert brm.params == {"id": "0.0.0.1+-account+1", "fields": "id"}
    assert not brm.has_request_body and not brm.batch
    assert matcher.match("GET", "/amlyze-ws-rest/batch-accountsX") is None


@pytest.mark.slow
@pytest.mark.network
def test_memory_bounded_under_concurrent_large_uploads() -> None:
    """4 clients upload 48 MiB each through a proxy with a 1 MiB cap: the proxy's
    peak RSS grows by far less than one upload (they are streamed, not held)."""

    def peak_rss_kib(upstream: str, uploads: int) -> int:
        proc = subprocess.Popen(
            [sys.executable, "-m", "amlyze_contracts", "proxy", "--port", "0",
             "--upstream", upstream, "--max-validate-bytes", str(1 << 20)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[2]
        errors: list[BaseException] = []

        def upload() -> None:
            pieces = (b"x" * (1 << 20) for _ in range(48))
            try:
                got = httpx.post(url + "/sink", content=pieces, timeout=60).json()
                assert got == {"received": 48 << 20}
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=upload) for _ in range(uploads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
        proc.send_signal(signal.SIGTERM)
        _pid, _status, usage = os.wait4(proc.pid, 0)
        proc.returncode = 0
        proc.stdout.close()
        assert not errors, errors
        return usage.ru_maxrss

    with hostile() as upstream:
        idle = peak_rss_kib(upstream.url, 0)
        loaded = peak_rss_kib(upstream.url, 4)
    assert loaded - idle < 24 * 1024, (idle, loaded)
