"""The reference server, correct and with catalogued bugs, once per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from amlyze_contracts.server import running


@pytest.fixture(scope="module")
def correct() -> Iterator[str]:
    with running() as url:
        yield url


@pytest.fixture(scope="module")
def reversed_results() -> Iterator[str]:
    with running(bugs=["results-reversed"]) as url:
        yield url
