"""Shared test data paths: every test reads vendor documents from the repository
(``tests/data/vendor``, sources in its README), never from outside it."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
VENDOR = DATA / "vendor"
SAMPLES = VENDOR / "amlyze-docs-samples"
SEEDS = VENDOR / "seeds"
REVISIONS = VENDOR / "amlyze-docs-revisions"
SAMPLE_NAMES = (
    "activeMinPayload.json",
    "activeOtherFinancialInstitution.json",
    "closedFullPayload.json",
    "dailyBalance.json",
    "suspendedFullPayload.json",
)
