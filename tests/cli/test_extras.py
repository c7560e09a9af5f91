"""A command whose optional extra is missing answers with one line and exit 2."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from amlyze_contracts import extras
from amlyze_contracts.cli import COMMANDS, main


def _without(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name in modules else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.mark.parametrize(("command", "extra"), [("serve", "server"), ("test", "contract")])
def test_missing_extra_is_one_line_and_exit_2(
    command: str, extra: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _without(monkeypatch, extras.EXTRAS[extra][-1])
    args = [command] + (["--base-url", "http://127.0.0.1:9"] if command == "test" else [])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err == (
        f"amlyze-contracts {command} needs the '{extra}' extra "
        f"({extras.EXTRAS[extra][-1]} is not installed): pip install 'amlyze-contracts[{extra}]'\n"
    )


def test_every_command_names_a_known_extra() -> None:
    assert {extra for _, _, extra in COMMANDS.values()} - {None} <= set(extras.EXTRAS)


def test_extra_of_maps_submodules() -> None:
    assert extras.extra_of("uvicorn.config") == "server"
    assert extras.extra_of("httpx") == "contract"
    assert extras.extra_of("yaml") is None and extras.extra_of(None) is None
