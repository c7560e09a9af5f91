"""The C-level proofs some exchange rules take before their per-item loop: a proof
may only skip the loop when the loop would find nothing."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from amlyze_contracts.domain import ECHOED_IDENTIFIERS
from amlyze_contracts.rule_functions import (
    Exchange,
    _correlation_findings,
    _echoes_match,
    result_correlation,
)

# Identifier values as servers send them: mostly the same few strings (so that
# echoes often match), sometimes another type.
VALUES = st.one_of(
    st.sampled_from(["a", "b", ""]),
    st.none(),
    st.integers(0, 2),
    st.lists(st.just("a"), max_size=1),
)
OTHER = st.sampled_from(["not an object", None, 7])


@st.composite
def entries(draw: st.DrawFn, count: int) -> list[Any]:
    """``count`` items: per identifier, every item has it (a string), none has it,
    or any mix: the proof's cases and their neighbours."""
    modes = {name: draw(st.sampled_from(["all", "none", "mixed"])) for name in ECHOED_IDENTIFIERS}
    out: list[Any] = []
    for _ in range(count):
        entry: dict[str, Any] = {}
        for name, mode in modes.items():
            if mode == "all":
                entry[name] = draw(st.sampled_from(["a", "b"]))
            elif mode == "mixed" and draw(st.booleans()):
                entry[name] = draw(VALUES)
        out.append(entry if draw(st.integers(0, 9)) else draw(OTHER))
    return out


@st.composite
def exchanges(draw: st.DrawFn) -> tuple[list[Any], list[Any]]:
    """Items and an honest echo with at most one edit (a member set, a member
    removed, a result replaced or swapped, the list cut), or unrelated results."""
    items = draw(st.integers(0, 5).flatmap(entries))
    if not draw(st.integers(0, 4)):
        return items, draw(st.integers(0, 6).flatmap(entries))
    results: list[Any] = [dict(i) if isinstance(i, dict) else i for i in items]
    if not results:
        return items, results
    at = draw(st.integers(0, len(results) - 1))
    name = draw(st.sampled_from(ECHOED_IDENTIFIERS))
    edit = draw(st.sampled_from(["none", "set", "remove", "replace", "swap", "cut"]))
    if edit == "set" and isinstance(results[at], dict):
        results[at][name] = draw(VALUES)
    elif edit == "remove" and isinstance(results[at], dict):
        results[at].pop(name, None)
    elif edit == "replace":
        results[at] = draw(OTHER)
    elif edit == "swap":
        other = draw(st.integers(0, len(results) - 1))
        results[at], results[other] = results[other], results[at]
    elif edit == "cut":
        results = results[:at]
    return items, results


@given(exchanges())
# The edges, every run: a null echoed for a member the item did not send (a
# finding), a businessUnit the item did not send (none), a result list longer
# than the items (only the pairs are compared).
@example(([{"communicationNumber": "a"}], [{"communicationNumber": "a", "accountExtId": None}]))
@example(([{"communicationNumber": "a"}], [{"communicationNumber": "a", "businessUnit": "b"}]))
@example(([{"communicationNumber": "a"}], [{"communicationNumber": "a"}, {"accountExtId": "x"}]))
def test_the_correlation_proof_skips_only_clean_exchanges(
    pair: tuple[list[Any], list[Any]],
) -> None:
    items, results = pair
    loop = list(_correlation_findings(items, results))
    if _echoes_match(items, results):
        assert loop == []
    ex = Exchange("batchAccounts", 200, {"results": results}, request_body={"accounts": items},
                  item_key="accounts")  # fmt: skip
    assert list(result_correlation(ex)) == loop


def test_the_proof_holds_for_the_usual_answer_and_not_for_a_swap() -> None:
    items = [{"communicationNumber": f"n{i}", "accountExtId": f"a{i}"} for i in range(50)]
    results = [dict(i, resultType="REQUEST_ACCEPTED") for i in items]
    assert _echoes_match(items, results)
    results[3], results[4] = results[4], results[3]
    assert not _echoes_match(items, results)
    assert len(list(_correlation_findings(items, results))) == 4
