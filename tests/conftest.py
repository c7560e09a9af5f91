"""Shared test data paths and Hypothesis profiles.

Every test reads vendor documents from the repository (``tests/data/vendor``, sources
in its README), never from outside it.

Hypothesis profiles (no test module defines its own):

* ``fast`` (the default, ``make test``): 100 examples per property;
* ``thorough`` (a nightly run): 2,000 examples per property, selected with
  ``AMLYZE_HYPOTHESIS_PROFILE=thorough make pytest``.

Neither has a deadline: the machine is shared, and speed is the benchmarks' business.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
VENDOR = DATA / "vendor"
SAMPLES = VENDOR / "amlyze-docs-samples"
SEEDS = VENDOR / "seeds"
REVISIONS = VENDOR / "amlyze-docs-revisions"
CLI_DATA = REPO / "tests" / "cli" / "data"
SPEC_DATA = DATA / "specs"
SAMPLE_NAMES = (
    "activeMinPayload.json",
    "activeOtherFinancialInstitution.json",
    "closedFullPayload.json",
    "dailyBalance.json",
    "suspendedFullPayload.json",
)

PROFILE_VARIABLE = "AMLYZE_HYPOTHESIS_PROFILE"
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile("fast", max_examples=100, deadline=None, suppress_health_check=_QUIET)
settings.register_profile(
    "thorough", max_examples=2_000, deadline=None, suppress_health_check=_QUIET
)
settings.load_profile(os.environ.get(PROFILE_VARIABLE, "fast"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The ``slow`` tests first, otherwise in collection order: xdist hands tests out
    in this order, so the long single ones (the wheel in a fresh venv, the 200 MB body,
    the README's module in a subprocess) start in the first minutes, not near the end
    where one of them would keep the run going on one worker."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
