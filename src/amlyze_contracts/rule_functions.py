"""Rules that need code, registered under the names rule files give in ``function:``.

Each function receives plain parsed JSON and yields :class:`Finding` objects; the
rule's id, severity, code and message template come from the rule catalogue
(``specs/rules/*.yaml``), so ids, severities and codes live in one place. Loading a
rule file fails when a ``function:`` names nothing registered here (:data:`KINDS`).

* object rules: ``fn(obj, properties, pointer) -> findings`` over one object;
* batch rules: ``fn(items, item_key) -> findings`` over the item list of a batch;
* response rules: ``fn(exchange) -> findings`` over any response, request or not;
* exchange rules: ``fn(exchange) -> findings`` over one request/response pair;
* templates: expanded into declarative rules by the catalogue (``classifier``).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from itertools import repeat
from typing import Any

import msgspec

from .domain import (
    ACCEPTED,
    ACCUMULATED_BALANCE,
    ECHOED_IDENTIFIERS,
    REJECTED,
    RESULT_TYPES,
    escape_token,
    result_type,
)
from .engine.schema import closest

BRM_ALWAYS_ALLOWED = frozenset({"id", "href", "@type", "@baseType", "@schemaLocation"})


class Finding(msgspec.Struct, frozen=True):
    """A broken rule before severity and position are attached."""

    pointer: str
    values: Mapping[str, Any] = msgspec.field(default_factory=dict)  # fills the message template
    severity: str | None = None  # only when one rule has parts of different severity


class Exchange(msgspec.Struct, frozen=True):
    """One request and the response it got, as the response rules see them.

    The response rules read the response only: ``headers`` (None: not known), whether
    the spec documents the status (``status_known``; ``documented`` lists the statuses
    it names) and ``has_body`` (a body was sent)."""

    operation_id: str
    status: int
    body: Any
    request_body: Any = None
    request_params: Mapping[str, Any] = msgspec.field(default_factory=dict)
    item_key: str | None = None
    headers: Mapping[str, str] | None = None
    documented: tuple[str, ...] = ()
    status_known: bool = True
    has_body: bool = True


BatchDiagnose = Callable[[list[Any], str], Iterator[Finding]]
# A fast proof over decoded Structs: True only when diagnose would find nothing.
# ``attr(name)`` gives a getter for a member (codegen.MISSING, i.e. msgspec.UNSET, when absent).
BatchFastOk = Callable[[list[Any], Callable[[str], Callable[[Any], Any]]], bool]
ExchangeRule = Callable[[Exchange], Iterator[Finding]]


class BatchRule(msgspec.Struct, frozen=True):
    diagnose: BatchDiagnose
    fast_ok: BatchFastOk | None = None


ObjectRule = Callable[[Mapping[str, Any], Mapping[str, Any], str], Iterator[Finding]]

BATCH_RULES: dict[str, BatchRule] = {}
RESPONSE_RULES: dict[str, ExchangeRule] = {}
EXCHANGE_RULES: dict[str, ExchangeRule] = {}
OBJECT_RULES: dict[str, ObjectRule] = {}
# Every registered name -> its kind (object | batch | response | exchange | template).
KINDS: dict[str, str] = {}
# The names the engine and the catalogue call by name.
UNKNOWN_FIELD = "unknown_field"
CLASSIFIER = "classifier"  # a template: one membership rule per x-dynamic-enum member
KINDS[CLASSIFIER] = "template"


def _register(name: str, kind: str) -> None:
    if name in KINDS:  # pragma: no cover - a programming error, caught at import
        raise ValueError(f"rule function {name!r} registered twice")
    KINDS[name] = kind


def batch_rule(
    name: str, fast_ok: BatchFastOk | None = None
) -> Callable[[BatchDiagnose], BatchDiagnose]:
    def register(fn: BatchDiagnose) -> BatchDiagnose:
        _register(name, "batch")
        BATCH_RULES[name] = BatchRule(fn, fast_ok)
        return fn

    return register


def exchange_rule(
    name: str, *, needs_request: bool = True
) -> Callable[[ExchangeRule], ExchangeRule]:
    """A rule over a response; ``needs_request=False``: it runs without the request."""

    def register(fn: ExchangeRule) -> ExchangeRule:
        _register(name, "exchange" if needs_request else "response")
        (EXCHANGE_RULES if needs_request else RESPONSE_RULES)[name] = fn
        return fn

    return register


def object_rule(name: str) -> Callable[[ObjectRule], ObjectRule]:
    def register(fn: ObjectRule) -> ObjectRule:
        _register(name, "object")
        OBJECT_RULES[name] = fn
        return fn

    return register


# ------------------------------------------------------------------ request rules


@object_rule(UNKNOWN_FIELD)
def unknown_members(
    obj: Mapping[str, Any], properties: Mapping[str, Any], pointer: str
) -> Iterator[Finding]:
    """common.unknown-field: members the schema does not define, with a did-you-mean."""
    for name in obj:
        if name not in properties:
            guess = closest(name, properties)
            yield Finding(
                f"{pointer}/{escape_token(name)}",
                {"field": name, "suggestion": guess or "(no close match)"},
            )


@batch_rule("batch_not_empty", fast_ok=lambda items, attr: len(items) > 0)
def batch_not_empty(items: list[Any], item_key: str) -> Iterator[Finding]:
    if not items:
        yield Finding(f"/{item_key}", {})


def _numbers_unique(items: list[Any], attr: Callable[[str], Callable[[Any], Any]]) -> bool:
    numbers = list(map(attr("communicationNumber"), items))
    return set(map(type, numbers)) <= {str} and len(set(numbers)) == len(numbers)


def _dicts(values: list[Any]) -> bool:
    """Every value a plain dict: then ``dict.get`` can be mapped over them in C."""
    return set(map(type, values)) <= {dict}


def _column(values: list[Any], name: str) -> list[Any]:
    return list(map(dict.get, values, repeat(name)))


@batch_rule("communication_number_unique", fast_ok=_numbers_unique)
def communication_number_unique(items: list[Any], item_key: str) -> Iterator[Finding]:
    if _dicts(items):  # nearly always: read in C
        numbers = _column(items, "communicationNumber")
    else:
        numbers = [item.get("communicationNumber") for item in items if item.__class__ is dict]
    strings = [n for n in numbers if n.__class__ is str]
    if len(set(strings)) == len(strings):  # no repeat: the common case, in C
        return
    first_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        number = item.get("communicationNumber") if isinstance(item, dict) else None
        if not isinstance(number, str):
            continue
        if number in first_seen:
            yield Finding(
                f"/{item_key}/{index}/communicationNumber",
                {"value": number, "first": first_seen[number]},
            )
        else:
            first_seen[number] = index


# ------------------------------------------------------------------ response rules


@exchange_rule("status_documented", needs_request=False)
def status_documented(ex: Exchange) -> Iterator[Finding]:
    if not ex.status_known:
        yield Finding(
            "",
            {
                "status": ex.status,
                "operation": ex.operation_id,
                "documented": ", ".join(ex.documented),
            },
        )


@exchange_rule("content_type", needs_request=False)
def content_type(ex: Exchange) -> Iterator[Finding]:
    if ex.headers is None or not ex.has_body:
        return
    # Checked before parsing: a text/html error page is a content-type failure too.
    got = {k.lower(): v for k, v in ex.headers.items()}.get("content-type", "")
    if got.split(";")[0].strip().lower() != "application/json":
        yield Finding("", {"got": got or "(none)"})


# ------------------------------------------------------------------ exchange rules


def _results(ex: Exchange) -> tuple[list[Any], list[Any]] | None:
    """(request items, response results) of a 200 batch exchange, when both are lists."""
    if ex.status != 200 or not ex.item_key or not isinstance(ex.request_body, dict):
        return None
    if not isinstance(ex.body, dict):
        return None
    items, results = ex.request_body.get(ex.item_key), ex.body.get("results")
    if not isinstance(items, list) or not isinstance(results, list):
        return None
    return items, results


def _answered(ex: Exchange) -> list[Any]:
    """The results of a 200 batch answer ([] for any other answer)."""
    if ex.status != 200 or not isinstance(ex.body, dict):
        return []
    results = ex.body.get("results")
    return results if isinstance(results, list) else []


@exchange_rule("result_per_item")
def result_per_item(ex: Exchange) -> Iterator[Finding]:
    pair = _results(ex)
    if pair and len(pair[0]) != len(pair[1]):
        yield Finding("/results", {"items": len(pair[0]), "results": len(pair[1])})


def _echoes_match(items: list[Any], results: list[Any]) -> bool:
    """A proof, in C, that :func:`result_correlation` finds nothing: each echoed
    identifier sent as a string by every item and echoed unchanged, or sent by no
    item (and, but for businessUnit, in no result). Anything else: the full loop."""
    count = min(len(items), len(results))
    items, results = items[:count], results[:count]
    if not (_dicts(items) and _dicts(results)):
        return False
    for name in ECHOED_IDENTIFIERS:
        sent = _column(items, name)
        if set(map(type, sent)) <= {str}:
            if sent != _column(results, name):
                return False
        elif any(map(dict.__contains__, items, repeat(name))) or (
            name != "businessUnit" and any(map(dict.__contains__, results, repeat(name)))
        ):
            return False
    return True


@exchange_rule("result_correlation")
def result_correlation(ex: Exchange) -> Iterator[Finding]:
    pair = _results(ex)
    # The proof first: 100 clean echoes take it ~35 us, the loop ~50 us.
    if pair and not _echoes_match(*pair):
        yield from _correlation_findings(*pair)


def _correlation_findings(items: list[Any], results: list[Any]) -> Iterator[Finding]:
    for index, (item, result) in enumerate(zip(items, results, strict=False)):
        if not isinstance(item, dict) or not isinstance(result, dict):
            continue
        for name in ECHOED_IDENTIFIERS:
            sent, got = item.get(name), result.get(name)
            if name == "businessUnit" and name not in item:
                continue  # echoed only when the item had one
            if name in item and not isinstance(sent, str):
                continue  # a non-string identifier cannot be echoed in a string member
            if name not in item:
                if name in result:
                    yield Finding(
                        f"/results/{index}/{name}",
                        {"field": name, "expected": "(omitted)", "got": got, "index": index},
                    )
                continue
            if sent != got:
                yield Finding(
                    f"/results/{index}/{name}",
                    {"field": name, "expected": sent, "got": got, "index": index},
                )


@exchange_rule("result_type_values")
def result_type_values(ex: Exchange) -> Iterator[Finding]:
    for index, result in enumerate(_answered(ex)):
        if isinstance(result, dict) and result_type(result) not in RESULT_TYPES:
            yield Finding(
                f"/results/{index}/resultType", {"value": result.get("resultType"), "index": index}
            )


@exchange_rule("rejection_has_error")
def rejection_has_error(ex: Exchange) -> Iterator[Finding]:
    for index, result in enumerate(_answered(ex)):
        if not isinstance(result, dict):
            continue
        kind = result_type(result)
        if kind in REJECTED:
            for name in ("errorCode", "errorDescription"):
                value = result.get(name)
                if not isinstance(value, str) or not value.strip():
                    yield Finding(
                        f"/results/{index}/{name}",
                        {"index": index, "problem": f"a rejected result has no {name}"},
                    )
        elif kind in ACCEPTED and result.get("errorCode") not in (None, ""):
            yield Finding(
                f"/results/{index}/errorCode",
                {"index": index, "problem": "an accepted result carries an errorCode"},
            )


@exchange_rule("time_elapsed")
def time_elapsed(ex: Exchange) -> Iterator[Finding]:
    if ex.status != 200 or not isinstance(ex.body, dict):
        return
    item_times: list[int] = []
    for index, result in enumerate(_answered(ex)):
        value = result.get("timeElapsedMs") if isinstance(result, dict) else None
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            yield Finding(
                f"/results/{index}/timeElapsedMs",
                {"value": value, "problem": "not an integer >= 0"},
            )
        else:
            item_times.append(value)
    total = ex.body.get("timeElapsedMs")
    if total is None:
        return
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        yield Finding("/timeElapsedMs", {"value": total, "problem": "not an integer >= 0"})
    elif item_times and total < max(item_times):
        yield Finding(
            "/timeElapsedMs",
            {
                "value": total,
                "problem": f"the total is below the largest item's ({max(item_times)})",
            },
            severity="warning",
        )


def _brm_ok(ex: Exchange) -> bool:
    return ex.status == 200 and isinstance(ex.body, dict) and ex.operation_id == ACCUMULATED_BALANCE


@exchange_rule("brm_id_echo")
def brm_id_echo(ex: Exchange) -> Iterator[Finding]:
    wanted = ex.request_params.get("id")
    if _brm_ok(ex) and wanted is not None and ex.body.get("id") != wanted:
        yield Finding("/id", {"expected": wanted, "got": ex.body.get("id")})


@exchange_rule("brm_href_consistent")
def brm_href_consistent(ex: Exchange) -> Iterator[Finding]:
    wanted = ex.request_params.get("id")
    if not _brm_ok(ex) or wanted is None:
        return
    href = ex.body.get("href")
    if href is None:
        return
    decoded = urllib.parse.unquote(str(href)) if isinstance(href, str) else ""
    if not isinstance(href, str) or not decoded.endswith(f"/accumulatedBalance/{wanted}"):
        yield Finding("/href", {"expected": f".../accumulatedBalance/{wanted}", "got": href})


@exchange_rule("brm_type_echo")
def brm_type_echo(ex: Exchange) -> Iterator[Finding]:
    if not _brm_ok(ex):
        return
    wanted = ex.request_params.get("@type") or "AccumulatedBalance"
    if ex.body.get("@type") != wanted:
        yield Finding("/@type", {"expected": wanted, "got": ex.body.get("@type")})


@exchange_rule("brm_fields_honored")
def brm_fields_honored(ex: Exchange) -> Iterator[Finding]:
    fields = ex.request_params.get("fields")
    if not _brm_ok(ex) or not fields:
        return
    allowed = BRM_ALWAYS_ALLOWED | {f.strip() for f in str(fields).split(",") if f.strip()}
    for name in ex.body:
        if name not in allowed:
            yield Finding(f"/{escape_token(name)}", {"field": name, "fields": fields})
