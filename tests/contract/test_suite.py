"""The contract suite's parts: generation from the rule catalogue, reproductions and
redaction, reports, the CLI's exit codes, read-only mode, robustness against a
misbehaving server, and the pytest plugin."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings

from amlyze_contracts.contract import client as client_mod
from amlyze_contracts.contract.client import Sent, curl, redact_headers
from amlyze_contracts.contract.config import (
    ConfigError,
    Options,
    brm_base,
    fixtures_from,
    load_config,
)
from amlyze_contracts.contract.generate import (
    ItemModel,
    Target,
    Uniques,
    knowledge,
    negative_batches,
    realize,
)
from amlyze_contracts.contract.suite import run
from amlyze_contracts.engine.api import validate_request
from amlyze_contracts.server import running
from amlyze_contracts.server.fixtures import CUSTOMERS, FIXTURE_CLASSIFIERS

from .servers import TOKEN, cli, run_pytest

KNOW = knowledge(FIXTURE_CLASSIFIERS, tuple(sorted(CUSTOMERS)))
# Fewer examples than the conftest profile: each builds and validates whole batches.
FAST = settings(max_examples=15)


# ------------------------------------------------------------------ generation


@pytest.mark.parametrize("op", ["batchAccounts", "registerBatchAccountBalances"])
def test_valid_items_are_valid_under_the_rule_set(op: str) -> None:
    model = ItemModel(op, KNOW)

    @FAST
    @given(model.valid_items())
    def check(template: dict[str, Any]) -> None:
        item = realize(template, Uniques("test00"))
        report = validate_request(op, {model.item_key: [item]}, classifiers=FIXTURE_CLASSIFIERS)
        assert report.valid, report.errors
        assert item["communicationNumber"].startswith("test00-")

    check()


def test_every_error_rule_of_the_catalogue_is_a_target() -> None:
    targets = {t.rule for t in ItemModel("batchAccounts", KNOW).targets()}
    for rule in KNOW.ruleset.declarative():
        if rule.applies_to in ("AmlyzeAccountApi", "*") and rule.severity == "error":
            assert rule.id in targets
    assert {"schema.required", "schema.type", "schema.enum", "schema.maxLength"} <= targets
    assert {"schema.format", "common.classifier", "common.currency-code"} <= targets


def _breaks_exactly(model: ItemModel, target: Target) -> None:
    op = model.operation_id

    @settings(max_examples=2)
    @given(negative_batches(model, target))
    def check(batch: Any) -> None:
        items = realize(batch.items, Uniques("neg000"))
        (bad,) = batch.invalid
        report = validate_request(
            op, {model.item_key: [items[bad]]}, classifiers=FIXTURE_CLASSIFIERS
        )
        assert {v.rule for v in report.errors} == {target.rule}
        (good,) = batch.valid
        ok = validate_request(op, {model.item_key: [items[good]]}, classifiers=FIXTURE_CLASSIFIERS)
        assert ok.valid

    check()


@pytest.mark.parametrize("op", ["batchAccounts", "registerBatchAccountBalances"])
def test_negative_batches_break_exactly_one_rule(op: str) -> None:
    model = ItemModel(op, KNOW)
    for target in model.targets():
        if not target.rule.startswith("known-data"):
            _breaks_exactly(model, target)


def test_uniques_differ_between_runs() -> None:
    a, b = Uniques(), Uniques()
    assert a.run_id != b.run_id
    assert a.next() != a.next()


# ------------------------------------------------------------------ redaction and config


def test_curl_redacts_the_token_and_reproduces_bytes() -> None:
    sent = Sent(
        "POST",
        "http://h/x",
        {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        b'{"a": "it\'s"}',
    )
    command = curl(sent)
    assert TOKEN not in command and "Bearer ***" in command
    assert "--data-binary" in command
    raw = curl(Sent("POST", "http://h/x", {}, b'{"a": "\xff"}'))
    assert raw.startswith("printf '") and "\\377" in raw
    assert redact_headers({"authorization": "Basic abc"}) == {"authorization": "Basic ***"}


def test_config_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[fixtures]\ncustomers = ["A", "B"]\nbrm_ids = ["x+1"]\n[classifiers]\ncurrency = ["EUR"]\n'
    )
    fx = fixtures_from(load_config(path), str(path))
    assert fx.customers == ("A", "B") and fx.brm_ids == ("x+1",)
    assert fx.classifiers["currency"] == frozenset({"EUR"})
    path.write_text('[fixtures]\ncustomers = ["only-one"]\n')
    with pytest.raises(ConfigError):
        fixtures_from(load_config(path), str(path))
    path.write_text("not toml [")
    with pytest.raises(ConfigError):
        load_config(path)


# ------------------------------------------------------------------ CLI


@pytest.mark.network
@pytest.mark.slow
def test_cli_exit_codes_reports_and_no_token_leak(tmp_path: Path) -> None:
    with running(token=TOKEN, bugs=["no-o005"], max_body=65536) as url:
        config = tmp_path / "c.toml"
        config.write_text(
            '[fixtures]\ncustomers = ["CUST-0001", "CUST-0002"]\n[run]\nmax_examples = 6\n'
        )
        jpath, xpath = tmp_path / "r.json", tmp_path / "r.xml"
        done = cli(
            "--base-url", url, "--config", str(config), "--seed", "1",
            "--report-json", str(jpath), "--junit-xml", str(xpath),
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    everything = done.stdout + done.stderr + jpath.read_text() + xpath.read_text()
    assert TOKEN not in everything
    assert "Bearer ***" in done.stdout
    assert "batch.communication-number-reuse" in done.stdout and "FAILED" in done.stdout
    report = json.loads(jpath.read_text())
    assert not report["passed"]
    assert any(f["rule"] == "batch.communication-number-reuse" for f in report["failures"])
    cases = ET.parse(xpath).getroot().iter("testcase")
    names = {(c.get("classname"), c.get("name")) for c in cases}
    assert ("batchAccounts", "batch.communication-number-reuse") in names


@pytest.mark.network
def test_cli_usage_errors_and_unreachable() -> None:
    assert cli().returncode == 2
    assert cli("--base-url", "ftp://x").returncode == 2
    assert cli("--base-url", "http://x", "--only", "nope").returncode == 2
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = cli("--base-url", f"http://127.0.0.1:{port}")
    assert done.returncode == 2
    assert "unreachable" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.network
@pytest.mark.slow
def test_cli_passes_against_the_reference_server() -> None:
    with running(token=TOKEN) as url:
        done = cli("--base-url", url, "--max-examples", "5")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "PASSED" in done.stdout


# ------------------------------------------------------------------ read-only


@pytest.mark.network
def test_read_only_sends_no_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[Sent] = []
    original = client_mod.Client.send

    def spy(self: client_mod.Client, request: Sent, **kw: Any) -> client_mod.Received:
        sent.append(request)
        return original(self, request, **kw)

    monkeypatch.setattr(client_mod.Client, "send", spy)
    with running() as url:
        options = Options(
            base_url=url, brm_base_url=brm_base(url, None), token="dev-token",
            max_examples=5, time_budget=30, read_only=True, seed=1,
        )  # fmt: skip
        result = run(options, progress=None)
    assert result.ok, [f.to_dict() for f in result.failures()]
    for request in sent:
        if request.method in ("POST", "PUT") and "/amlyze-ws-rest/" in request.url:
            try:
                body = orjson.loads(request.body or b"")
            except orjson.JSONDecodeError:
                continue
            items = (
                [v for v in body.values() if isinstance(v, list)] if isinstance(body, dict) else []
            )
            assert all(not v for v in items), request
    assert any("/accumulatedBalance/" in r.url for r in sent)


# ------------------------------------------------------------------ robustness


class _BadServer:
    """Answers by path prefix: hangs, resets, non-JSON, a huge body, or a 200 batch."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                head = conn.recv(65536).decode("latin-1")
            except OSError:
                return
            path = head.split(" ", 2)[1] if head.count(" ") >= 2 else "/"
            if "batch-accounts" in path:
                time.sleep(2)  # hangs past the client's timeout
                return
            if "batch-account-balances" in path:
                conn.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                return  # reset
            if "accumulatedBalance" in path and "102879" in path:
                body = b"[" + b"1," * 3_000_000 + b"1]"  # ~6 MB
            else:
                body = b"<html>not json</html>"
            with contextlib.suppress(OSError):
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def bad_server() -> Iterator[_BadServer]:
    server = _BadServer()
    yield server
    server.close()


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.timeout(60)
def test_misbehaving_server_is_reported_not_crashed(bad_server: _BadServer) -> None:
    options = Options(
        base_url=bad_server.url, brm_base_url=brm_base(bad_server.url, None), token=TOKEN,
        max_examples=3, time_budget=15, timeout=0.5, max_response_bytes=1_000_000, seed=1,
        schemathesis=False,
    )  # fmt: skip
    started = time.monotonic()
    result = run(options, progress=None)
    assert time.monotonic() - started < 30
    assert not result.ok
    failed = result.failed_rules()
    assert {"server.no-5xx", "errors.auth-required", "response.schema"} <= failed
    messages = " ".join(f.message for f in result.failures())
    assert "timeout" in messages or "transport error" in messages


# ------------------------------------------------------------------ pytest plugin


def test_plugin_is_inert_without_a_base_url(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text(
        "import sys\n"
        "def test_x():\n"
        "    assert 'amlyze_contracts.contract.runner' not in sys.modules\n"
        "    assert 'amlyze_contracts.contract' not in sys.modules\n"
    )
    done = run_pytest(tmp_path)
    assert done.returncode == 0, done.stdout
    assert "1 passed" in done.stdout


@pytest.mark.network
@pytest.mark.slow
def test_plugin_runs_the_suite(tmp_path: Path) -> None:
    with running(token=TOKEN, bugs=["results-reversed"]) as url:
        done = run_pytest(
            tmp_path, "--amlyze-base-url", url, "--amlyze-max-examples", "5",
            "--junitxml", str(tmp_path / "j.xml"),
        )  # fmt: skip
    assert done.returncode == 1, done.stdout[-2000:]
    assert "batch.result-correlation" in done.stdout
    assert TOKEN not in done.stdout
    names = {c.get("name") for c in ET.parse(tmp_path / "j.xml").getroot().iter("testcase")}
    assert any("batch.result-correlation" in (n or "") for n in names)
