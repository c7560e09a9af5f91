"""The contract suite against hostile servers (issue 12, point 3): every request ends
by its own deadline (not per read), bodies and their decompression are capped, the
server's behaviour is reported as a finding, and the token never reaches another
origin. The servers are in ``hostile_servers.py``: the operation endpoints misbehave,
``GET /classifier/{name}`` answers, so each run is a real run that finds a violation."""

from __future__ import annotations

import gc
import shutil
import ssl
import subprocess
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from amlyze_contracts.contract.client import BUDGET_GRACE, Client, Received, Sent, _Inflater
from amlyze_contracts.contract.config import Options, brm_base
from amlyze_contracts.contract.suite import run

from .hostile_servers import DEEP, CliRun, hostile, run_cli

TOKEN = "s3cret-t0ken-value"
BATCH = "/amlyze-ws-rest/batch-accounts"
CAP = 1 << 20
TIMEOUT = 1.0
SLACK = 1.5  # scheduling on a busy CI machine
# The bounds for a whole run: budget + 10 s, 300 MB.
RUN_SLACK = 10.0
MAX_MB = 300


def _send(url: str, *, timeout: float = TIMEOUT, run_deadline: float | None = None) -> Received:
    with Client(
        timeout=timeout, max_response_bytes=CAP, secret=TOKEN, run_deadline=run_deadline
    ) as client:
        return client.send(
            Sent("POST", url + BATCH, {"Authorization": f"Bearer {TOKEN}"}, b'{"accounts":[]}')
        )


def _error(start: str) -> Callable[[Received], bool]:
    return lambda r: r.error is not None and r.error.startswith(start)


def _truncated(r: Received) -> bool:
    return r.error is None and r.truncated and len(r.body) <= CAP


def _deep(r: Received) -> bool:
    return r.error is None and r.status == 200 and len(r.body) == 2 * DEEP and r.json() is None


# behaviour -> what the client must make of one request, within TIMEOUT (+ slack).
ONE_REQUEST: dict[str, Callable[[Received], bool]] = {
    "drip-body": _error("the body did not arrive within 1 s"),
    "drip-head": _error("the status line and headers did not arrive within 1 s"),
    "endless-slow": _error("the body did not arrive within 1 s"),
    "endless-interim": _error("the status line and headers did not arrive within 1 s"),
    "endless-headers": _error("transport error: RemoteProtocolError"),
    "endless-chunked": _truncated,
    "huge-declared": _truncated,
    "gzip-bomb": _error("gzip body decompresses beyond 1 MiB"),
    "deflate-bomb": _error("deflate body decompresses beyond 1 MiB"),
    "hang": _error("no answer within 1 s (timeout)"),
    "reset": _error("transport error: "),
    "truncated": _error("transport error: RemoteProtocolError: peer closed connection"),
    "deep-json": _deep,
}


@pytest.mark.network
@pytest.mark.timeout(20)  # a regression hangs: fail fast
@pytest.mark.parametrize("behaviour", sorted(ONE_REQUEST))
def test_one_request_is_bounded(behaviour: str) -> None:
    with hostile(behaviour) as server:
        got = _send(server.url)
    assert ONE_REQUEST[behaviour](got), (got.error, got.status, got.truncated, len(got.body))
    assert got.elapsed <= TIMEOUT + SLACK
    assert not got.out_of_budget


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    """A server context and its self-signed certificate for 127.0.0.1."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl to make a test certificate")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context, cert


@pytest.mark.network
@pytest.mark.timeout(20)
def test_https_requests_are_bounded_too(
    tls: tuple[ssl.SSLContext, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through TLS: an answer is read and inflated as over plain HTTP; a body dripping
    through TLS records, and a server that never completes the handshake, are cut by
    the request's deadline."""
    context, cert = tls
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trusted as a company CA would be
    with hostile("gzip-bomb", tls=context) as server:
        got = _send(server.url)
        assert ONE_REQUEST["gzip-bomb"](got), got.error
        with Client(timeout=TIMEOUT, max_response_bytes=CAP, secret=TOKEN) as client:
            classifier = client.send(Sent("GET", server.url + "/classifier/currency"))
        assert classifier.status == 200 and "EUR" in str(classifier.json())
    with hostile("drip-body", tls=context) as server:
        got = _send(server.url)
        assert ONE_REQUEST["drip-body"](got), got.error
        assert got.elapsed <= TIMEOUT + SLACK
    with hostile("hang") as plain:  # never answers the TLS ClientHello
        got = _send(plain.url.replace("http:", "https:"))
        assert got.error == "no answer within 1 s (timeout)"
        assert got.elapsed <= TIMEOUT + SLACK


@pytest.mark.network
@pytest.mark.timeout(20)
def test_a_request_ends_with_the_run_budget() -> None:
    """A timeout longer than the budget left: cut at the run's deadline plus the grace,
    and marked as not the server's fault; once past it, nothing is sent at all."""
    with hostile("drip-body") as server:
        got = _send(server.url, timeout=60, run_deadline=time.monotonic() + 0.5)
        assert got.out_of_budget and got.error is not None
        assert got.elapsed <= 0.5 + BUDGET_GRACE + SLACK
        before = len(server.requests)
        late = _send(server.url, timeout=60, run_deadline=time.monotonic() - BUDGET_GRACE)
        assert late.out_of_budget and late.elapsed < SLACK
        assert len(server.requests) == before


@pytest.mark.network
@pytest.mark.timeout(30)
def test_a_request_cut_by_the_budget_is_not_judged() -> None:
    """Its own timeout had not passed, so its silence is no finding: a note says so."""
    with hostile("hang") as server:
        started = time.monotonic()
        result = run(_options(server.url, 1.0).with_(timeout=30), progress=None)
        wall = time.monotonic() - started
    assert wall <= 1.0 + BUDGET_GRACE + SLACK
    assert not result.failures() and not result.judged  # no pass either: the CLI exits 2
    assert any("not judged" in note and "time budget" in note for note in result.notes)


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.timeout(30)
def test_a_run_that_judged_nothing_is_not_a_pass() -> None:
    """Every request cut by the budget: neither green nor red, exit 2 naming the cause."""
    with hostile("hang") as server:
        done = run_cli(
            server.url, "--time-budget", "1", "--timeout", "30", token=TOKEN, kill_after=20
        )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "no check was judged" in done.stderr, done.stderr
    assert "PASSED" not in done.stdout


@pytest.mark.network
def test_only_decodable_encodings_are_advertised(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx advertises br and zstd when brotli or zstandard happen to be installed;
    the suite inflates only gzip and deflate (capped), so it asks for nothing else."""
    import httpx._client

    monkeypatch.setattr(httpx._client, "ACCEPT_ENCODING", "gzip, deflate, br, zstd")
    with hostile("record") as server:
        _send(server.url)
    (head,) = server.requests
    lines = {line.lower() for line in head.decode("latin-1").split("\r\n")}
    assert "accept-encoding: gzip, deflate" in lines


def _inflate(data: bytes, encoding: str, cap: int, step: int = 7) -> tuple[bytes | None, bool]:
    inflater = _Inflater(encoding, cap)
    for i in range(0, len(data), step):
        if not inflater.feed(data[i : i + step]):
            break
    return inflater.finish(), inflater.over


def _deflate(body: bytes, wbits: int) -> bytes:
    squeeze = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return squeeze.compress(body) + squeeze.flush()


@pytest.mark.parametrize(
    ("encoding", "wbits"),
    [("gzip", 16 + zlib.MAX_WBITS), ("deflate", zlib.MAX_WBITS), ("deflate", -zlib.MAX_WBITS)],
)
def test_inflating_is_capped_not_refused(encoding: str, wbits: int) -> None:
    """Up to the cap a body inflates exactly (also raw deflate, which some servers send
    for "deflate"); one byte more is refused; bytes that do not inflate stay as sent."""
    body = b'{"results": [' + b" " * 5000 + b"]}"
    packed = _deflate(body, wbits)
    assert _inflate(packed, encoding, len(body)) == (body, False)
    assert _inflate(packed, encoding, len(body) - 1) == (None, True)
    assert _inflate(b"not compressed at all", encoding, len(body)) == (None, False)


@pytest.mark.network
@pytest.mark.timeout(30)
def test_failures_keep_no_body_alive() -> None:
    """A failing check must not keep the response (up to max_response_bytes) alive
    until the cyclic GC happens to run: with it off, every body is freed."""
    gc.collect()
    gc.disable()
    try:
        # 3 s, not 1: on a loaded CI machine a 1 s budget could end before a few
        # requests were judged, and the test is about memory, not speed.
        with hostile("endless-chunked") as server:
            result = run(_options(server.url, 3.0), progress=None)
        alive = [o for o in gc.get_objects() if isinstance(o, Received) and len(o.body) > CAP]
    finally:
        gc.enable()
    assert result.failed_rules() and result.requests > 3
    assert alive == []


def _cli(url: str, budget: float) -> CliRun:
    return run_cli(
        url, "--time-budget", f"{budget:g}", "--timeout", f"{TIMEOUT:g}",
        token=TOKEN, kill_after=budget + RUN_SLACK + 5,
    )  # fmt: skip


def _options(url: str, budget: float) -> Options:
    return Options(
        base_url=url, brm_base_url=brm_base(url, None), token=TOKEN, max_examples=5,
        time_budget=budget, timeout=TIMEOUT, seed=1,
    )  # fmt: skip


# behaviour -> a phrase of the finding a whole run reports (as server.no-5xx, or, for
# a body cut at the cap or one that is not JSON, as the rules judging the body).
WHOLE_RUN = {
    "drip-head": ("server.no-5xx", "the status line and headers did not arrive within 1 s"),
    "endless-slow": ("server.no-5xx", "the body did not arrive within 1 s"),
    "endless-interim": ("server.no-5xx", "the status line and headers did not arrive"),
    "endless-headers": ("server.no-5xx", "RemoteProtocolError"),
    "hang": ("server.no-5xx", "no answer within 1 s (timeout)"),
    "reset": ("server.no-5xx", "transport error"),
    "truncated": ("server.no-5xx", "peer closed connection"),
    "huge-declared": ("response.schema", f"the body exceeds {8 * 1024 * 1024} bytes"),
    "deep-json": ("response.schema", ""),
}


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.timeout(30)
@pytest.mark.parametrize("behaviour", sorted(WHOLE_RUN))
def test_whole_run_is_bounded_and_reports_the_server(behaviour: str) -> None:
    # Room for the preflight request, a probe and its re-send (each up to --timeout).
    budget = 4.0
    rule, phrase = WHOLE_RUN[behaviour]
    with hostile(behaviour) as server:
        started = time.monotonic()
        result = run(_options(server.url, budget), progress=None)
        wall = time.monotonic() - started
    assert wall <= budget + RUN_SLACK
    found = [f for f in result.failures() if f.rule == rule]
    assert found and not result.ok
    assert any(phrase in f.message for f in found), [f.message for f in found]


# Through the real CLI: exit 1, within budget + 10 s, under 300 MB, no traceback, the
# finding in the output and the token nowhere in it.
CLI = {
    "drip-body": "the body did not arrive within 1 s",
    "gzip-bomb": "gzip body decompresses beyond 8 MiB",
    "deflate-bomb": "deflate body decompresses beyond 8 MiB",
    "endless-chunked": "the body exceeds",
}


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize("behaviour", sorted(CLI))
def test_cli_run_is_bounded_in_time_and_memory(behaviour: str) -> None:
    budget = 3
    with hostile(behaviour) as server:
        done = _cli(server.url, budget)
    assert done.wall <= budget + RUN_SLACK and done.peak_mb < MAX_MB, done
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert CLI[behaviour] in done.stdout
    assert TOKEN not in done.stdout + done.stderr


@pytest.mark.network
@pytest.mark.slow
def test_a_redirect_to_another_origin_is_not_followed() -> None:
    """Every operation answers 307 to another origin (another port): the suite judges
    the 307 and never sends anything there, so never the token."""
    with hostile("record") as elsewhere, hostile("record", redirect_to=elsewhere.url) as server:
        done = _cli(server.url, 3)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert any(b" /amlyze-ws-rest/" in head for head in server.requests)
    assert elsewhere.requests == []
    assert "response.status-documented" in done.stdout and "307" in done.stdout
    assert TOKEN not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
