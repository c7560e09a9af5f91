"""The proxy over real HTTP on 127.0.0.1: the reference server (with and without
catalogued bugs) or a hostile upstream behind it, httpx in front."""

from __future__ import annotations

import contextlib
import io
import json
import signal
import socket
import time
import urllib.parse
from pathlib import Path

import httpx
import orjson
import pytest

from amlyze_contracts.proxy.server import (
    NOT_VALIDATED_HEADER,
    VIOLATIONS_HEADER,
    Options,
    running,
)
from amlyze_contracts.server import running as reference
from amlyze_contracts.server.fixtures import DEFAULT_TOKEN
from tests.proxy.helpers import ACCOUNTS, AUTH, batch, hostile, proxy_process

pytestmark = pytest.mark.network

BRM = "/brm/prepayBalanceManagement/v1/accumulatedBalance/"
BRM_ID = "0.0.0.1+-account+102879"


def _broken_batch() -> bytes:
    body = orjson.loads(batch(2))
    del body["accounts"][1]["currencyCode"]
    return orjson.dumps(body)


def _lines(log: io.StringIO) -> list[str]:
    return log.getvalue().splitlines()


def test_valid_traffic_passes_through_unchanged() -> None:
    log = io.StringIO()
    with reference() as upstream, running(Options(upstream=upstream), log=log) as (url, stats):
        body = batch(3)
        response = httpx.post(url + ACCOUNTS, content=body, headers=AUTH)
        brm = httpx.get(url + BRM + urllib.parse.quote(BRM_ID, safe=""), headers=AUTH)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["resultType"] for r in results] == ["REQUEST_ACCEPTED"] * 3
    assert response.headers[VIOLATIONS_HEADER] == "0"
    assert brm.status_code == 200 and brm.json()["id"] == BRM_ID
    assert brm.headers[VIOLATIONS_HEADER] == "0"
    assert _lines(log) == []
    assert (stats.exchanges, stats.validated, stats.errors) == (2, 2, 0)


def test_request_violations_logged_and_forwarded() -> None:
    log = io.StringIO()
    with reference() as upstream, running(Options(upstream=upstream), log=log) as (url, stats):
        response = httpx.post(url + ACCOUNTS, content=_broken_batch(), headers=AUTH)
    # Forwarded: the upstream itself rejected the item.
    assert response.status_code == 200
    assert response.json()["results"][1]["resultType"] == "REQUEST_REJECTED"
    assert response.headers[VIOLATIONS_HEADER] == "1"
    [line] = _lines(log)
    assert "#1 POST /amlyze-ws-rest/batch-accounts batchAccounts request error" in line
    assert "schema.required /accounts/1/currencyCode" in line
    assert stats.errors == 1


def test_enforce_answers_400_and_never_forwards() -> None:
    with hostile() as upstream:
        options = Options(upstream=upstream.url, enforce=True)
        with running(options) as (url, stats):
            rejected = httpx.post(url + ACCOUNTS, content=_broken_batch(), headers=AUTH)
            passed = httpx.post(url + "/sink" + ACCOUNTS, content=batch(1), headers=AUTH)
    assert rejected.status_code == 400
    body = rejected.json()
    assert body["status"] == 400 and body["path"] == ACCOUNTS
    assert [(v["rule"], v["pointer"]) for v in body["violations"]] == [
        ("schema.required", "/accounts/1/currencyCode")
    ]
    assert rejected.headers[VIOLATIONS_HEADER] == "1"
    # Only the valid request reached the upstream.
    assert passed.status_code == 200
    assert [head.split(" ", 2)[1] for head in upstream.heads] == ["/sink" + ACCOUNTS]
    assert stats.enforced == 1


@pytest.mark.parametrize(
    ("bug", "rule", "pointer"),
    [
        ("results-reversed", "batch.result-correlation", "/results/0/communicationNumber"),
        ("drop-last-result", "batch.result-per-item", "/results"),
    ],
)
def test_catalogued_bug_upstream_caught_by_the_response_rules(
    bug: str, rule: str, pointer: str
) -> None:
    log = io.StringIO()
    with reference(bugs=[bug]) as upstream:
        options = Options(upstream=upstream, log_format="json")
        with running(options, log=log) as (url, stats):
            response = httpx.post(url + ACCOUNTS, content=batch(3), headers=AUTH)
    assert response.status_code == 200
    assert int(response.headers[VIOLATIONS_HEADER]) >= 1
    events = [json.loads(line) for line in _lines(log)]
    found = {(e["kind"], e["rule"], e["pointer"]) for e in events}
    assert ("response", rule, pointer) in found
    assert all(e["operation"] == "batchAccounts" and e["severity"] == "error" for e in events)
    assert stats.errors == len(events)


def test_brm_echo_bug_caught_with_request_parameters() -> None:
    log = io.StringIO()
    target = BRM + urllib.parse.quote(BRM_ID, safe="") + "?@type=AccumulatedBalanceOracle"
    with (
        reference(bugs=["brm-type-ignored"]) as upstream,
        running(Options(upstream=upstream), log=log) as (url, _stats),
    ):
        response = httpx.get(url + target, headers=AUTH)
    assert response.status_code == 200
    assert response.headers[VIOLATIONS_HEADER] == "1"
    [line] = _lines(log)
    assert "retrieveAccumulatedBalance response error brm.type-echo /@type" in line


def test_brm_upstream_routed_separately() -> None:
    with reference() as amlyze, hostile() as brm:
        options = Options(upstream=amlyze, brm_upstream=brm.url + "/sink/brm/v9")
        with running(options) as (url, _stats):
            httpx.get(url + BRM + "abc?fields=id", headers=AUTH)
            accounts = httpx.post(url + ACCOUNTS, content=batch(1), headers=AUTH)
    assert [h.split(" ", 2)[1] for h in brm.heads] == [
        "/sink/brm/v9/accumulatedBalance/abc?fields=id"
    ]
    assert accounts.json()["results"][0]["resultType"] == "REQUEST_ACCEPTED"


def test_unreachable_upstream_gets_502() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens
    with running(Options(upstream=f"http://127.0.0.1:{port}")) as (url, stats):
        response = httpx.post(url + ACCOUNTS, content=batch(1), headers=AUTH)
    assert response.status_code == 502
    body = response.json()
    assert body["status"] == 502 and f"127.0.0.1:{port}" in body["message"]
    assert "unreachable" in body["message"]
    assert stats.bad_gateway == 1


def test_slow_upstream_gets_504_at_the_deadline() -> None:
    with hostile() as upstream, running(Options(upstream=upstream.url, timeout=0.5)) as (url, s):
        started = time.monotonic()
        response = httpx.post(url + "/slow", content=b"{}", headers=AUTH, timeout=10)
        elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert "did not answer within --timeout 0.5 s" in response.json()["message"]
    assert elapsed < 2.5
    assert s.gateway_timeout == 1


def test_drip_fed_upstream_bounded_by_the_deadline() -> None:
    with hostile() as upstream, running(Options(upstream=upstream.url, timeout=1)) as (url, _s):
        started = time.monotonic()
        response = httpx.get(url + "/drip", timeout=10)
        elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert elapsed < 3


def test_endless_upstream_stream_cut_at_the_deadline() -> None:
    with hostile() as upstream:
        options = Options(upstream=upstream.url, timeout=1, max_validate_bytes=1024)
        with running(options) as (url, _s):
            started = time.monotonic()
            with pytest.raises(httpx.RemoteProtocolError):
                httpx.get(url + "/endless", timeout=10)
            elapsed = time.monotonic() - started
            # ... and the proxy still serves.
            assert httpx.post(url + "/sink", content=b"{}").json() == {"received": 2}
    assert elapsed < 3


def test_compression_bomb_not_inflated_and_encodings_bounded() -> None:
    log = io.StringIO()
    with hostile() as upstream:
        options = Options(upstream=upstream.url, max_validate_bytes=1024 * 1024)
        with running(options, log=log) as (url, _s):
            response = httpx.get(
                url + "/bomb" + ACCOUNTS, headers={"Accept-Encoding": "br, zstd, gzip"}
            )
    # Answered as is (the client asked for gzip); never inflated past the cap here.
    assert response.status_code == 200
    assert len(response.content) == 64 * 1024 * 1024
    # The proxy asked the upstream only for codings it can bound.
    assert "Accept-Encoding: gzip, identity" in upstream.heads[0]


def test_bomb_on_a_known_operation_logged_as_not_validated() -> None:
    log = io.StringIO()
    with hostile() as upstream:
        options = Options(upstream=upstream.url + "/bomb", max_validate_bytes=1024 * 1024)
        with running(options, log=log) as (url, stats):
            response = httpx.post(url + ACCOUNTS, content=batch(1), headers=AUTH)
    assert response.status_code == 200
    assert (
        "larger than --max-validate-bytes (1048576) once decoded"
        in response.headers[NOT_VALIDATED_HEADER]
    )
    assert "not-validated: response body in Content-Encoding 'gzip'" in log.getvalue()
    assert stats.not_validated == 1


def test_bodies_over_the_cap_forwarded_not_validated() -> None:
    log = io.StringIO()
    with reference() as upstream:
        options = Options(upstream=upstream, max_validate_bytes=2000)
        with running(options, log=log) as (url, stats):
            response = httpx.post(url + ACCOUNTS, content=batch(20), headers=AUTH)
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 20 and {r["resultType"] for r in results} == {"REQUEST_ACCEPTED"}
    notes = response.headers[NOT_VALIDATED_HEADER]
    assert "request body larger than --max-validate-bytes (2000)" in notes
    assert "response body larger than --max-validate-bytes (2000)" in notes
    assert stats.not_validated == 1 and stats.validated == 0


def test_chunked_request_over_the_cap_streamed_upstream() -> None:
    pieces = (b"x" * 700 for _ in range(10))
    with (
        hostile() as upstream,
        running(Options(upstream=upstream.url, max_validate_bytes=1000)) as (url, _s),
    ):
        response = httpx.post(url + "/sink", content=pieces)
    assert response.json() == {"received": 7000}
    assert "Transfer-Encoding: chunked" in upstream.heads[0]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_credentials_never_in_log_or_har(tmp_path: Path, fmt: str) -> None:
    har_path = str(tmp_path / "traffic.har")
    log = io.StringIO()
    secret = "tok-" + "9" * 24
    cookie = "session=cookie-value-123"
    with hostile() as upstream:
        options = Options(upstream=upstream.url + "/echo", har=har_path, log_format=fmt)
        with running(options, log=log) as (url, _s):
            headers = {"Authorization": f"Bearer {secret}", "Cookie": cookie}
            # A client that put its token in a body: the violation message quotes it.
            body = orjson.loads(batch(1))
            body["accounts"][0]["accountStatus"] = secret
            response = httpx.post(url + ACCOUNTS, content=orjson.dumps(body), headers=headers)
    # The upstream got the real credentials (the proxy is transparent) and echoed them.
    assert response.json()["authorization"] == f"Bearer {secret}"
    har_text = Path(har_path).read_text(encoding="utf-8")
    for text in (har_text, log.getvalue()):
        assert secret not in text
        assert "cookie-value-123" not in text
        assert "s3cr3t-session" not in text
    entry = json.loads(har_text)["log"]["entries"][0]
    sent = {h["name"]: h["value"] for h in entry["request"]["headers"]}
    assert sent["Authorization"] == "Bearer ***" and sent["Cookie"] == "***"
    got = {h["name"].lower(): h["value"] for h in entry["response"]["headers"]}
    assert got["set-cookie"] == "***"
    assert "Bearer ***" in entry["response"]["content"]["text"]
    # The violation was logged and recorded, the token in its message replaced.
    assert "got '***'" in log.getvalue()
    assert "got '***'" in entry["_amlyzeContracts"]["violations"][0]["message"]
    assert f"'{secret}'" not in entry["request"]["postData"]["text"]


def test_har_round_trip(tmp_path: Path) -> None:
    from amlyze_contracts.cli import main

    har_path = str(tmp_path / "traffic.har")
    log = io.StringIO()
    with reference(bugs=["drop-last-result"]) as upstream:
        options = Options(upstream=upstream, har=har_path, log_format="json")
        with running(options, log=log) as (url, _s):
            httpx.post(url + ACCOUNTS, content=_broken_batch(), headers=AUTH)
            httpx.get(url + BRM + urllib.parse.quote(BRM_ID, safe=""), headers=AUTH)
            httpx.get(url + "/amlyze-ws-rest/classifier/currency", headers=AUTH)
    document = json.loads(Path(har_path).read_text(encoding="utf-8"))
    assert document["log"]["version"] == "1.2"
    entries = document["log"]["entries"]
    assert [e["request"]["method"] for e in entries] == ["POST", "GET", "GET"]
    assert entries[0]["response"]["status"] == 200
    for entry in entries:  # HAR 1.2's required members
        assert {"startedDateTime", "time", "request", "response", "cache", "timings"} <= set(entry)
        assert {"method", "url", "httpVersion", "cookies", "headers", "queryString"} <= set(
            entry["request"]
        )
        assert {"status", "statusText", "content", "redirectURL", "bodySize"} <= set(
            entry["response"]
        )
    logged = {
        (e["kind"], e["rule"], e["pointer"]) for e in map(json.loads, log.getvalue().splitlines())
    }
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["validate", "--har", har_path, "--format", "json"])
    assert code == 1
    report = json.loads(out.getvalue())
    found = {
        (f["path"].rsplit("/", 1)[1], v["rule"], v["pointer"])
        for f in report["files"]
        for v in f["violations"]
    }
    assert found == logged
    assert ("request", "schema.required", "/accounts/1/currencyCode") in found
    assert ("response", "batch.result-per-item", "/results") in found
    paths = [f["path"] for f in report["files"]]
    assert paths == [
        f"{har_path}#/log/entries/0/request",
        f"{har_path}#/log/entries/0/response",
        f"{har_path}#/log/entries/1/response",
    ]


@pytest.mark.slow
def test_har_valid_after_a_kill(tmp_path: Path) -> None:
    har_path = str(tmp_path / "killed.har")
    with (
        reference() as upstream,
        proxy_process("--upstream", upstream, "--har", har_path) as (
            url,
            proc,
        ),
    ):
        for _ in range(3):
            assert httpx.post(url + ACCOUNTS, content=batch(2), headers=AUTH).status_code == 200
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    entries = json.loads(Path(har_path).read_text(encoding="utf-8"))["log"]["entries"]
    assert len(entries) == 3


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_exit_code_and_summary(sig: signal.Signals, tmp_path: Path) -> None:
    log_path = str(tmp_path / "proxy.log")
    with reference() as upstream:
        with proxy_process("--upstream", upstream) as (url, proc):
            httpx.post(url + ACCOUNTS, content=batch(2), headers=AUTH)
            proc.send_signal(sig)
            _out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "summary: 1 exchange (1 validated" in err
        assert DEFAULT_TOKEN not in err
        with proxy_process("--upstream", upstream, "--log", log_path, "--log-format", "json") as (
            url,
            proc,
        ):
            httpx.post(url + ACCOUNTS, content=_broken_batch(), headers=AUTH)
            proc.send_signal(sig)
            _out, err = proc.communicate(timeout=20)
        assert proc.returncode == 1, err
        assert "1 error, 0 warnings in 1 exchange" in err
        events = [
            json.loads(line) for line in Path(log_path).read_text(encoding="utf-8").splitlines()
        ]
        assert [e["event"] for e in events] == ["violation", "summary"]
        assert events[-1]["errors"] == 1


def _ci_recipe() -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("### In CI: wrap the client's test run")
    block = readme[start:].split("```sh\n", 1)[1].split("```", 1)[0]
    assert "pytest tests/integration" in block
    return block


@pytest.mark.slow
@pytest.mark.parametrize(("broken", "expected"), [(False, 0), (True, 1)])
def test_readme_ci_recipe_fails_the_job_on_a_violation(
    tmp_path: Path, broken: bool, expected: int
) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / "body.json").write_bytes(_broken_batch() if broken else batch(2))
    client = (
        f'sh -c \'curl -sf -H "Authorization: Bearer {DEFAULT_TOKEN}"'
        ' -H "Content-Type: application/json" --data-binary @body.json'
        ' "$AMLYZE_BASE_URL/amlyze-ws-rest/batch-accounts"\''
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = _ci_recipe().replace("pytest tests/integration", client)
    script = script.replace("PORT=8081", f"PORT={port}")
    with reference() as upstream:
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "AMLYZE_SANDBOX_URL": upstream,
        }
        # Its own process group: on a hang, the proxy it started goes too.
        proc = subprocess.Popen(
            ["sh", "-c", script], cwd=tmp_path, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        try:
            _out, err = proc.communicate(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == expected, err
    assert json.loads((tmp_path / "traffic.har").read_text(encoding="utf-8"))["log"]["entries"]
    events = [json.loads(line) for line in (tmp_path / "proxy.log").read_text().splitlines()]
    assert events[-1]["event"] == "summary" and events[-1]["errors"] == (1 if broken else 0)


def test_an_internal_error_costs_one_connection_not_the_proxy() -> None:
    from amlyze_contracts.proxy.exchange import ExchangeValidator

    validator = ExchangeValidator()
    real = validator.matcher.match

    def match(method: str, target: str) -> object:
        if "explode" in target:
            raise RuntimeError("boom")
        return real(method, target)

    validator.matcher.match = match  # type: ignore[method-assign,assignment]
    log = io.StringIO()
    with (
        hostile() as upstream,
        running(Options(upstream=upstream.url), validator=validator, log=log) as (url, _s),
    ):
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(url + "/explode")
        assert httpx.post(url + "/sink", content=b"{}").json() == {"received": 2}
    assert "internal-error: RuntimeError: boom (please report)" in log.getvalue()


def test_the_proxys_own_answers_are_not_judged_as_the_upstreams(tmp_path: Path) -> None:
    from amlyze_contracts.cli import main

    har_path = str(tmp_path / "own.har")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    options = Options(upstream=f"http://127.0.0.1:{port}", har=har_path, enforce=True)
    with running(options) as (url, _s):
        assert httpx.post(url + ACCOUNTS, content=batch(1), headers=AUTH).status_code == 502
        assert httpx.post(url + ACCOUNTS, content=_broken_batch(), headers=AUTH).status_code == 400
    entries = json.loads(Path(har_path).read_text(encoding="utf-8"))["log"]["entries"]
    assert [e["_amlyzeContracts"]["answeredBy"] for e in entries] == ["proxy", "proxy"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["validate", "--har", har_path, "--format", "json"])
    # Only the requests are judged: a 502 is not an undocumented status of the upstream.
    report = json.loads(out.getvalue())
    assert [f["path"].rsplit("#", 1)[1] for f in report["files"]] == [
        "/log/entries/0/request",
        "/log/entries/1/request",
    ]
    assert code == 1 and report["summary"]["errors"] == 1


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def test_https_upstream_verified(
    tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ssl

    cert, key = tls_files
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with hostile(tls=context) as upstream, running(Options(upstream=upstream.url)) as (url, _s):
        # Not trusted: answered 502, naming the reason.
        refused = httpx.post(url + "/sink", content=b"{}")
        # Trusted the usual OpenSSL way (a private CA of a sandbox): forwarded.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        trusted = httpx.post(url + "/sink", content=b"{}")
    assert refused.status_code == 502
    assert "CERTIFICATE_VERIFY_FAILED" in refused.json()["message"]
    assert trusted.status_code == 200 and trusted.json() == {"received": 2}
