"""The suite tests itself: it passes against the reference server and fails against
every catalogued bug, naming the rule that caught it (mutation score 100%), under
every vendor revision.

What ``make test`` runs (the whole matrix, every bug x every revision x both
profiles, is ``python -m bench contract --matrix``; docs/BENCHMARKS.md):

* the reference server passes: the default run (no revision) over three seeds in
  both profiles, and every revision once in each profile;
* every bug under the default revision (2024-11-04, given explicitly: the account
  flow's operations too) in the default profile, and under the latest revision in
  the production profile; a bug that does not show under one of them (its
  ``revisions``) is run under the ones where it does;
* every bug of an operation whose documents differ between revisions (the balances)
  under each revision where it shows.

Revisions that name the same documents (2024-11-28 and 2024-12-12) serve and judge
alike (routes, bodies and checks are read from the documents, never from the date):
each set of documents is run once, under the latest revision naming it (DISTINCT).
"""

from __future__ import annotations

import pytest

from amlyze_contracts import revisions
from amlyze_contracts.contract.checks import RULES, rules_for_operation, softened_rules
from amlyze_contracts.contract.config import Options, brm_base
from amlyze_contracts.contract.runner import RunResult
from amlyze_contracts.contract.suite import run
from amlyze_contracts.domain import OPERATIONS
from amlyze_contracts.server import BUGS, running

pytestmark = [pytest.mark.network, pytest.mark.slow, pytest.mark.timeout(120)]

# The rule that must catch each bug (others may fire as well).
EXPECTED: dict[str, str] = {
    "any-token-accepted": "errors.auth-required",
    "auth-not-enforced": "errors.auth-required",
    "bad-result-type": "batch.result-type-values",
    "brm-empty-bucket": "response.schema",
    "brm-fields-ignored": "brm.fields-honored",
    "brm-href-wrong-collection": "brm.href-consistent",
    "brm-plus-as-space": "brm.known-id-found",
    "brm-type-ignored": "brm.bad-type",
    "brm-unknown-id-500": "brm.not-found",
    # v999 is outside the spec (CONTRACT.md 3.1): judged only by "not 2xx, not 5xx";
    # brm.not-found is about unknown ids under a supported version.
    "brm-version-ignored": "response.status-documented",
    "business-unit-dropped": "batch.result-correlation",
    "crash-at-max-length": "server.no-5xx",
    "crash-on-non-ascii": "server.no-5xx",
    "drop-last-result": "batch.result-per-item",
    "generic-error-code": "batch.communication-number-reuse",
    "malformed-json-500": "errors.malformed-json",
    "missing-array-200": "errors.malformed-json",
    "no-bic-rule": "batch.invalid-item-accepted",
    "no-classifier-check": "batch.invalid-item-accepted",
    "no-closing-date-rule": "batch.invalid-item-accepted",
    "no-customer-check": "batch.invalid-item-accepted",
    "no-in-batch-o005": "batch.communication-number-reuse",
    "no-o005": "batch.communication-number-reuse",
    "no-ownership-check": "batch.invalid-item-accepted",
    "null-correlation": "batch.result-correlation",
    "records-rejected": "batch.valid-item-rejected",
    "rejection-without-code": "batch.rejection-has-error",
    "results-reversed": "batch.result-correlation",
    "single-account-error-body": "batch.rejection-has-error",
    "single-account-no-o005": "batch.communication-number-reuse",
    "single-account-skips-rule": "batch.invalid-item-accepted",
    "single-balance-ignores-revision": "batch.valid-item-rejected",
    "total-time-below-items": "batch.time-elapsed",
    "validate-batch-misses-duplicates": "batch.communication-number-reuse",
    "validate-batch-saves": "batch.valid-item-rejected",
    "warnings-reject": "batch.valid-item-rejected",
    "wrong-content-type": "response.content-type",
}


# The rules the suite may *warn* about on a conforming server, where the contract
# leaves room (CONTRACT.md 3.1). The production profile earns such warnings (it
# rejects a leap second, reads a duplicate member last-wins, its firewall refuses an
# encoded "%" in a BRM id); the default profile earns none.
SOFTENED = softened_rules()


def _run(
    bugs: list[str],
    profile: str = "default",
    seed: int = 20240526,
    revision: str | None = None,
) -> RunResult:
    with running(bugs=bugs, profile=profile, revision=revision) as url:
        options = Options(
            base_url=url,
            brm_base_url=brm_base(url, None),
            token="dev-token",
            max_examples=8,
            time_budget=60,
            seed=seed,
            fail_on="warning",  # a bug caught only by a warning rule counts as caught
            revision=revision,
        )
        return run(options, progress=None)


# More seeds (20 per profile) in the benchmark: python -m bench contract --seeds 20.
SEEDS = [20240526, 1, 2]


@pytest.mark.parametrize("seed", SEEDS)
def test_reference_server_passes(seed: int) -> None:
    result = _run([], seed=seed)
    assert result.ok, [f.to_dict() for f in result.failures()]
    assert not result.failures()
    # Every server rule of the seeds' operations was exercised at least once (the
    # account flow's are a revision's: below).
    exercised = {rule for (_, rule), stat in result.stats.items() if stat.examples}
    assert result.options.operations == OPERATIONS
    wanted = {rule for op in OPERATIONS for rule in rules_for_operation(op)}
    assert wanted <= exercised, wanted - exercised
    assert wanted == set(RULES)


@pytest.mark.parametrize("seed", SEEDS)
def test_production_profile_passes_with_warnings_only(seed: int) -> None:
    result = _run([], "production", seed)
    errors = [f.to_dict() for f in result.failures() if f.severity == "error"]
    assert not errors
    warned = result.failed_rules()
    # The profile does differ from the reference server, and only where allowed.
    assert warned and warned <= SOFTENED, warned


TABLE = revisions.table()
# Operations whose document differs between revisions (the balances: PUT/POST,
# updateAt/balanceAt, value optional).
VARYING = frozenset(
    op
    for op in TABLE.revisions[TABLE.default].documents
    if len({rev.documents.get(op) for rev in TABLE.revisions.values()}) > 1
)


def _documents(name: str) -> frozenset[tuple[str, str]]:
    return frozenset((op, str(path)) for op, path in TABLE.revisions[name].documents.items())


# The revision each one is run as: the latest naming the same documents.
RUN_AS = {
    name: max(other for other in TABLE.names() if _documents(other) == _documents(name))
    for name in TABLE.names()
}
DISTINCT = sorted(set(RUN_AS.values()))


def bug_matrix() -> list[tuple[str, str, str]]:
    """(bug, revision, profile) that make test runs (the module docstring)."""
    out: set[tuple[str, str, str]] = set()
    for name, bug in BUGS.items():
        shows = set(bug.revisions)
        plan = {(TABLE.default, "default"), (TABLE.latest, "production")}
        for revision, profile in plan:
            if revision in shows:
                out.add((name, revision, profile))
            else:  # runs where it shows, in that profile
                out.update((name, r, profile) for r in shows if r not in {p for p, _ in plan})
        if VARYING & set(bug.operations):
            out.update((name, r, "default") for r in shows)
    # Under the revision that stands for the same documents, where the bug shows there.
    return sorted({(b, RUN_AS[r] if RUN_AS[r] in BUGS[b].revisions else r, p) for b, r, p in out})


def test_a_revision_is_run_as_one_with_the_same_documents() -> None:
    # specs/revisions.yaml: 2024-12-12 changed no operation of 2024-11-28.
    assert RUN_AS["2024-11-28"] == "2024-12-12"
    assert {TABLE.default, TABLE.latest} <= set(DISTINCT)
    for name, run_as in RUN_AS.items():
        assert TABLE.revisions[name].documents == TABLE.revisions[run_as].documents


@pytest.mark.parametrize("profile", ["default", "production"])
@pytest.mark.parametrize("revision", DISTINCT)
def test_reference_server_passes_under_every_revision(revision: str, profile: str) -> None:
    result = _run([], profile, revision=revision)
    errors = [f.to_dict() for f in result.failures() if f.severity == "error"]
    assert not errors
    assert result.options.revision == revision
    if profile == "default":
        assert not result.failures()  # not even a warning
        exercised = {rule for (_, rule), stat in result.stats.items() if stat.examples}
        assert set(RULES) <= exercised, set(RULES) - exercised
    else:
        assert result.failed_rules() <= SOFTENED, result.failed_rules()


def test_every_bug_has_an_expected_rule() -> None:
    assert set(EXPECTED) == set(BUGS)


def test_the_matrix_runs_every_bug_under_the_default_and_latest_revision() -> None:
    matrix = bug_matrix()
    assert {bug for bug, _, _ in matrix} == set(BUGS)
    assert {"registerBatchAccountBalances", "registerAccountBalance"} == VARYING
    for name, bug in BUGS.items():
        runs = {(r, p) for b, r, p in matrix if b == name}
        if TABLE.default in bug.revisions:
            assert (TABLE.default, "default") in runs
        assert (TABLE.latest, "production") in runs
        if VARYING & set(bug.operations):
            assert {r for r, p in runs if p == "default"} == {RUN_AS[r] for r in bug.revisions}


def _caught(result: RunResult, rule: str) -> bool:
    """The rule failed as an error, or as a warning a conforming server never earns."""
    return rule in result.failed_rules("error") or (
        rule in result.failed_rules() and rule not in SOFTENED
    )


@pytest.mark.parametrize(("bug", "revision", "profile"), bug_matrix())
def test_bug_is_caught(bug: str, revision: str, profile: str) -> None:
    result = _run([bug], profile, revision=revision)
    expected = EXPECTED[bug]
    assert _caught(result, expected), (
        f"{bug} ({revision}, {profile}): expected {expected}, got {sorted(result.failed_rules())}"
    )
    for record in result.failures():
        assert "dev-token" not in record.curl
        assert record.curl.startswith(("curl ", "printf ", "{ printf "))
