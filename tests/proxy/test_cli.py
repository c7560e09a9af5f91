"""``amlyze-contracts proxy`` refusing to start: one line, exit 2."""

from __future__ import annotations

import contextlib
import io
import socket
from pathlib import Path

import pytest

from amlyze_contracts.cli import main


def _run(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(["proxy", *args])
        except SystemExit as exc:  # argparse's own usage errors
            code = int(exc.code or 0)
    return code, err.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--upstream", "ftp://example.invalid"], "--upstream: not an http(s) URL"),
        (["--upstream", "http://h?x=1"], "--upstream: an upstream URL has no query"),
        (["--upstream", "http://h", "--brm-upstream", "nope"], "--brm-upstream: not an http(s)"),
        (["--upstream", "http://h", "--port", "70000"], "--port 70000: not a TCP port"),
        (["--upstream", "http://h", "--max-validate-bytes", "0"], "must be more than 0"),
        (["--upstream", "http://h", "--timeout", "x"], "not a number: 'x'"),
        # Loaded as `validate` loads them, with its messages.
        (["--upstream", "http://h", "--revision", "2099-01-01"], "unknown revision '2099-01-01'"),
        (["--upstream", "http://h", "--severity", "no.such-rule=off"], "unknown rule"),
        (["--upstream", "http://h", "--severity", "accounts.bic-format"], "expected RULE="),
        (["--upstream", "http://h", "--rules", "/nonexistent/r.yaml"], "no such rule file"),
        (["--upstream", "http://h", "--classifiers", "/nonexistent/c.json"], "cannot read"),
    ],
)
def test_bad_options_exit_2_with_one_line(args: list[str], message: str) -> None:
    code, err = _run(*args)
    assert code == 2
    assert message in err and "Traceback" not in err


@pytest.mark.network
def test_port_in_use_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = _run("--upstream", "http://127.0.0.1:9", "--port", str(port))
    assert code == 2
    assert err.startswith(f"amlyze-contracts proxy: error: cannot listen on 127.0.0.1:{port}")
    assert err.count("\n") == 1


def test_unwritable_har_exit_2(tmp_path: Path) -> None:
    har = tmp_path / "missing-folder" / "t.har"
    code, err = _run("--upstream", "http://127.0.0.1:9", "--port", "0", "--har", str(har))
    assert code == 2
    assert f"--har {har}:" in err and err.count("\n") == 1
