"""amlyze_contracts.strategies: valid values validate under every revision; every
error rule a request body can break has bodies breaking exactly it; bad arguments
fail when the strategy is built; values are reproducible per seed, identifiers unique
per draw; the import stays cheap."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from amlyze_contracts import SpecError, revisions, strategies, validate_request
from amlyze_contracts.catalogue import BUILTIN_RULES, load_rules
from amlyze_contracts.server.fixtures import FIXTURE_CLASSIFIERS
from amlyze_contracts.specs import SCHEMA_NAME, load

from .helpers import python_output

RULES = load_rules()
REVISIONS = revisions.names()

# ----------------------------------------------------------------- the oracle


def _request_schemas(revision: str) -> dict[str, tuple[bool, Mapping[str, Any]]]:
    """operationId -> (batch?, the schema of one item or of the single body)."""
    out: dict[str, tuple[bool, Mapping[str, Any]]] = {}
    for op_id, path in revisions.resolve(revision).documents.items():
        op = load(path).operations[op_id]
        if op.batch_item is not None:
            out[op_id] = (True, op.batch_item[1])
        elif op.request_schema is not None:
            out[op_id] = (False, op.request_schema)
    return out


def _keyword_rule(keyword: str) -> str:
    return "schema.additional" if keyword == "additionalProperties" else f"schema.{keyword}"


def request_form(schema: Mapping[str, Any]) -> set[str]:
    """The error rules (under a classifier snapshot) that a body of this item schema
    can break alone, read from the schema and the catalogue, not from the generator:
    a schema rule for each keyword the item's members use, the classifier rule for
    x-dynamic-enum members, each declarative rule applying to the schema whose
    severity is error (a rule with ``classifier:`` is one under a snapshot).
    The input.* rules are about the bytes (syntax, encoding, duplicate keys, NaN,
    depth): a body drawn as a JSON value cannot carry them."""
    props: Mapping[str, Any] = schema.get("properties") or {}
    found: set[str] = set()
    if schema.get("required"):
        found.add("schema.required")
    for sub in props.values():
        found.update(_keyword_rule(k) for k in sub if _keyword_rule(k) in RULES.by_id)
        if "x-dynamic-enum" in sub:
            found.add("common.classifier")
    builtins = {r.id for r in BUILTIN_RULES}
    for rule in RULES.rules:
        if rule.id in builtins or rule.function is not None:
            continue
        applies = rule.applies_to == schema.get(SCHEMA_NAME) or (
            rule.applies_to == "*" and set(rule.fields) <= set(props)
        )
        if applies and (rule.severity == "error" or rule.classifier):
            found.add(rule.id)
    return found


def operations_breaking(rule_id: str, revision: str) -> list[str]:
    return [
        op
        for op, (_, schema) in _request_schemas(revision).items()
        if rule_id in request_form(schema)
    ]


BREAKABLE = sorted({r for rev in REVISIONS for r in strategies.breakable(revision=rev)})
ORACLE = sorted(
    {
        r
        for rev in REVISIONS
        for _, schema in _request_schemas(rev).values()
        for r in request_form(schema)
    }
)
DEFAULT = revisions.table().default
# Each (operation, document) once, with the revisions that name it (None: the default).
_NAMING: dict[tuple[str, str], list[str | None]] = {}
for _rev in REVISIONS:
    for _op, _path in revisions.resolve(_rev).documents.items():
        if _op in _request_schemas(_rev):
            names = _NAMING.setdefault((_op, str(_path)), [])
            names += [_rev, None] if _rev == DEFAULT else [_rev]
DOCUMENTS = sorted((op, tuple(names)) for (op, _), names in _NAMING.items())


def _errors(operation_id: str | None, body: Any, revision: str) -> set[str]:
    report = validate_request(
        operation_id, body, revision=revision, classifiers=FIXTURE_CLASSIFIERS
    )
    return {v.rule for v in report.errors}


# ----------------------------------------------------------------- valid values


@pytest.mark.slow
@pytest.mark.parametrize(
    ("operation_id", "names"), DOCUMENTS, ids=[f"{op}@{names[0]}" for op, names in DOCUMENTS]
)
@given(data=st.data())
def test_valid_bodies_validate_under_their_revision(
    operation_id: str, names: tuple[str | None, ...], data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(names))
    revision = name or DEFAULT  # the strategies' default revision
    batch, _ = _request_schemas(revision)[operation_id]
    low, high = (2, 3) if batch else (1, 1)
    body = data.draw(strategies.bodies(operation_id, low, high, revision=name))
    assert _errors(operation_id, body, revision) == set()
    # Valid without the classifier snapshot too (it only narrows).
    assert validate_request(operation_id, body, revision=revision).valid
    if batch:
        (items,) = body.values()
        assert low <= len(items) <= high


@pytest.mark.slow
@given(data=st.data())
def test_valid_items_validate_under_their_revision(data: st.DataObject) -> None:
    operation_id, names = data.draw(st.sampled_from(DOCUMENTS))
    name = data.draw(st.sampled_from(names))
    revision = name or DEFAULT
    item = data.draw(strategies.items(operation_id, name))
    batch, _ = _request_schemas(revision)[operation_id]
    report = validate_request(
        operation_id, item, revision=revision, classifiers=FIXTURE_CLASSIFIERS, item=batch
    )
    assert report.valid, report.to_dict()


# ----------------------------------------------------------------- breaking one rule


def test_breakable_rules_are_exactly_the_request_forms() -> None:
    assert BREAKABLE == ORACLE
    for rev in REVISIONS:
        for op, (_, schema) in _request_schemas(rev).items():
            assert set(strategies.breakable(op, rev)) == request_form(schema), (rev, op)


@pytest.mark.slow
@pytest.mark.parametrize("rule_id", ORACLE)
@given(data=st.data())
def test_breaking_bodies_break_exactly_that_rule(rule_id: str, data: st.DataObject) -> None:
    revision = data.draw(st.sampled_from([r for r in REVISIONS if operations_breaking(rule_id, r)]))
    operation_id = data.draw(st.sampled_from([None, *operations_breaking(rule_id, revision)]))
    body = data.draw(strategies.breaking(rule_id, operation_id, revision))
    assert _errors(operation_id, body, revision) == {rule_id}


@pytest.mark.parametrize("rule_id", sorted(set(RULES.by_id) - set(ORACLE)))
def test_a_rule_without_a_request_form_is_refused_when_built(rule_id: str) -> None:
    with pytest.raises(ValueError, match=f"no body can break {rule_id} alone") as caught:
        strategies.breaking(rule_id)
    assert "accounts.bic-required-for-external" in str(caught.value)  # names what can


def test_bad_arguments_fail_when_the_strategy_is_built() -> None:
    with pytest.raises(ValueError, match=r"unknown rule 'no\.such-rule'; rules a body can break: "):
        strategies.breaking("no.such-rule")
    with pytest.raises(SpecError, match=r"no operation 'noSuchOp' \(known: batchAccounts, "):
        strategies.items("noSuchOp")
    with pytest.raises(SpecError, match=r"unknown revision '1999-01-01' \(known: 2024-11-04, "):
        strategies.bodies("batchAccounts", revision="1999-01-01")
    with pytest.raises(ValueError, match="retrieveAccumulatedBalance has no request body"):
        strategies.items("retrieveAccumulatedBalance")
    with pytest.raises(ValueError, match=r"registerAccountBalance bodies can break: schema\.req"):
        strategies.breaking("accounts.closing-date-required", "registerAccountBalance", "latest")
    with pytest.raises(ValueError, match="createAccount's body is one item"):
        strategies.bodies("createAccount", 2, 3, revision="latest")
    with pytest.raises(ValueError, match="min_items <= max_items"):
        strategies.bodies("batchAccounts", 3, 2)
    # A classifier rule needs its classifier in the snapshot the bodies are made for.
    with pytest.raises(ValueError, match="batchAccounts bodies can break: schema"):
        strategies.breaking("common.currency-code", "batchAccounts", classifiers={})
    only_currency = {"currency": FIXTURE_CLASSIFIERS["currency"]}
    with pytest.raises(ValueError, match=r"no body can break common\.classifier alone"):
        strategies.breaking("common.classifier", "batchAccounts", classifiers=only_currency)

    @settings(max_examples=5)
    @given(strategies.breaking("common.currency-code", classifiers=only_currency))
    def breaks_it_under_that_snapshot(body: dict[str, Any]) -> None:
        report = validate_request("batchAccounts", body, classifiers=only_currency)
        assert {v.rule for v in report.errors} == {"common.currency-code"}

    breaks_it_under_that_snapshot()
    with pytest.raises(ValueError, match="run_id must be 1 to 16 of"):
        strategies.items("batchAccounts", run_id="run id with spaces")


# ----------------------------------------------------------------- reproducible, unique


def _draws(strategy: st.SearchStrategy[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    @seed(20261202)
    @settings(max_examples=count, database=None, phases=["generate"])
    @given(strategy)
    def collect(body: dict[str, Any]) -> None:
        seen.append(body)

    collect()
    return seen


def test_a_seed_gives_the_same_values_with_fresh_identifiers_per_draw() -> None:
    first = _draws(strategies.bodies("batchAccounts", 1, 3), 15)
    again = _draws(strategies.bodies("batchAccounts", 1, 3), 15)
    assert first == again and len(first) == 15
    numbers = [item["communicationNumber"] for body in first for item in body["accounts"]]
    assert len(numbers) == len(set(numbers)) > 15
    other = _draws(strategies.bodies("batchAccounts", 1, 3, run_id="run-b"), 15)
    assert not set(numbers) & {i["communicationNumber"] for b in other for i in b["accounts"]}


# ----------------------------------------------------------------- optional extra, imports


def test_without_hypothesis_building_a_strategy_is_one_line() -> None:
    # A fresh interpreter where Hypothesis is absent: nothing may import it first.
    code = (
        "import sys\n"
        "sys.modules['hypothesis'] = None\n"
        "import amlyze_contracts.strategies as s\n"
        "for build in (lambda: s.items('batchAccounts'),\n"
        "              lambda: s.bodies('createAccount', revision='latest'),\n"
        "              lambda: s.breaking('schema.required'), s.breakable):\n"
        "    try:\n"
        "        build()\n"
        "    except Exception as exc:\n"
        "        print(type(exc).__name__, exc)\n"
    )
    line = (
        "MissingExtra amlyze_contracts.strategies needs the 'contract' extra (hypothesis is "
        "not installed): pip install 'amlyze-contracts[contract]'\n"
    )
    assert python_output(code) == line * 4


def test_importing_the_strategies_module_imports_no_generator() -> None:
    code = (
        "import sys, amlyze_contracts, amlyze_contracts.strategies as s\n"
        "heavy = {'hypothesis', 'schemathesis', 'httpx', 'starlette'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
        "s.items('batchAccounts')\n"
        "print('hypothesis' in sys.modules, 'schemathesis' in sys.modules)\n"
    )
    assert python_output(code) == "[]\nTrue False\n"
