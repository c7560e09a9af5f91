"""The README's client-hook and middleware sections are executed as written (doctests
against the reference server and a Starlette app), as tests/test_readme.py does for
the library section."""

from __future__ import annotations

import doctest

import pytest

from tests.test_readme import README, _examples, _section

SECTIONS = (
    "### In your client's tests: httpx and requests hooks",
    "### In your service: ASGI middleware",
)


@pytest.mark.network
def test_client_and_middleware_sections_run_as_written() -> None:
    # One namespace: the middleware section reuses the first section's bodies.
    text = "\n".join(_examples(_section(title)) for title in SECTIONS)
    test = doctest.DocTestParser().get_doctest(text, {}, "README clients", str(README), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report: list[str] = []
    runner.run(test, out=report.append)
    assert len(test.examples) > 20 and runner.failures == 0, "".join(report)
