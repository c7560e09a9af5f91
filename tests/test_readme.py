"""The README's library section is executed: its examples are doctests, so the
documented API (names, outputs, exceptions) cannot drift from the library."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

README = REPO / "README.md"


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(title)
    end = re.compile(r"^#{2,3} ", re.M).search(text, start + len(title))
    return text[start : end.start() if end else len(text)]


def _examples(section: str) -> str:
    blocks = re.findall(r"```pycon\n(.*?)```", section, re.S)
    assert blocks, "the section has no pycon examples"
    return "\n".join(blocks)


def test_library_section_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the examples write their rule file here
    test = doctest.DocTestParser().get_doctest(
        _examples(_section("### As a library")), {}, "README library section", str(README), 0
    )
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.IGNORE_EXCEPTION_DETAIL)
    report: list[str] = []
    runner.run(test, out=report.append)
    assert test.examples and runner.failures == 0, "".join(report)


def test_every_public_name_in_the_readme_is_exported() -> None:
    import amlyze_contracts

    imported = re.findall(r"from amlyze_contracts import ([\w, ]+)", README.read_text("utf-8"))
    names = {n.strip() for group in imported for n in group.split(",")}
    assert {"RuleFileError", "ClassifierError", "SpecError", "InputError"} <= names
    for name in names:
        assert getattr(amlyze_contracts, name) is not None, name
    assert set(amlyze_contracts.__all__) >= names
    assert set(amlyze_contracts.__all__) - {"__version__"} == set(amlyze_contracts._HOMES)
