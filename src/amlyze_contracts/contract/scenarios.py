"""Deterministic probes and stateful sequences.

Probes: missing and wrong credentials, malformed bodies, wrong methods, BRM known
and unknown ids (reserved characters included), ``@type`` and ``fields`` variants,
other methods on the BRM resource; requests outside the spec (an undefined path or
API version, a CORS preflight, HEAD), judged by their status class only
(CONTRACT.md 3.1). Targeted batches include the interop values (RFC-legal, but
stacks differ) one per case, and the input.* items. Sequences: register, then
resubmit the same communicationNumber (O005); a rejected item corrected and resent;
an account registered, updated, claimed by another customer, then its balances.
Each builds :class:`Case` objects; the runner sends them and runs every check.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ..domain import (
    ACCEPTED,
    BATCH_ACCOUNT_BALANCES,
    BATCH_ACCOUNTS,
    CREATE_ACCOUNT,
    REGISTER_ACCOUNT_BALANCE,
    VALIDATE_BATCH_ACCOUNTS,
    result_type,
)
from ..specs import Operation
from .checks import OPTIONS_HEAD, OTHER_METHOD, OUTSIDE, Case, ItemExpect, interop_request
from .client import Received, Sent
from .config import (
    ACCOUNT_OPERATIONS,
    BATCH_OPERATIONS,
    BRM_OPERATION,
    SINGLE_OPERATIONS,
    Options,
    operation_of,
)
from .generate import Uniques

WRONG_TOKEN = "amlyze-contracts-wrong-token"
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
BRM_ATTRIBUTES = ("name", "totalBalance", "bucket", "product", "partyAccount", "description")


@dataclass(frozen=True)
class Endpoints:
    base_url: str
    brm_base_url: str
    revision: str | None = None  # whose documents give each operation's method and path

    def operation(self, operation_id: str) -> Operation:
        return operation_of(operation_id, self.revision)

    def batch_url(self, operation_id: str) -> str:
        """An AMLYZE operation's URL (a batch or a single item)."""
        return self.base_url.rstrip("/") + self.operation(operation_id).path

    def brm_url(
        self, raw_id: str, query: Mapping[str, str] | None = None, base: str | None = None
    ) -> str:
        url = f"{base or self.brm_base_url}/accumulatedBalance/{quote_id(raw_id)}"
        if query:
            url += "?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
        return url


def quote_id(raw_id: str) -> str:
    """A BRM id as one path segment: ``+`` stays literal, as in real BRM ids (E30);
    ``/``, ``?``, ``#``, ``%`` and non-ASCII are percent-encoded; dot segments too."""
    quoted = urllib.parse.quote(raw_id, safe="+-._~!$&'()*,;=:@")
    if set(quoted) <= {"."}:
        quoted = quoted.replace(".", "%2E")
    return quoted


def auth_headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def batch_case(
    options: Options,
    endpoints: Endpoints,
    operation_id: str,
    label: str,
    items: list[Any],
    *,
    phase: str = "probe",
    valid: frozenset[int] = frozenset(),
    invalid: Mapping[int, ItemExpect] | None = None,
    reused: frozenset[int] = frozenset(),
    raw: bytes | None = None,
    interop: bool = False,
    free: frozenset[int] = frozenset(),
) -> Case:
    """A batch of ``items``, or for a single operation its one item (``items[0]``)."""
    op = endpoints.operation(operation_id)
    key = item_key(op)
    body: Any = {key: items} if key else (items[0] if items else {})
    return Case(
        operation_id,
        label,
        Sent(
            op.method,
            endpoints.batch_url(operation_id),
            {**JSON_HEADERS, **auth_headers(options.token)},
            raw if raw is not None else orjson.dumps(body),
        ),
        phase=phase,
        request=raw if raw is not None else body,
        valid_items=valid,
        invalid_items=dict(invalid or {}),
        reused_items=reused,
        free_items=free,
        item_key=key,
        interop=interop,
    )


def item_key(op: Operation) -> str | None:
    """A batch's item array member; None for a single operation (the body is the item)."""
    if op.batch_item:
        return op.batch_item[0]
    return None if op.operation_id in SINGLE_OPERATIONS else "items"


def item_properties(options: Options, operation_id: str) -> Any:
    """The members of one item of an operation, under the run's revision."""
    op = operation_of(operation_id, options.revision)
    schema = op.batch_item[1] if op.batch_item else op.request_schema or {}
    return schema.get("properties") or {}


def time_member(options: Options, operation_id: str) -> str:
    """A balance's timestamp: ``updateAt`` (2024-11-04), ``balanceAt`` from 2024-11-05."""
    return "balanceAt" if "balanceAt" in item_properties(options, operation_id) else "updateAt"


def brm_case(
    options: Options,
    endpoints: Endpoints,
    label: str,
    raw_id: str,
    *,
    query: Mapping[str, str] | None = None,
    probe: str | None = None,
    method: str = "GET",
    token: str | bool | None = True,
    base: str | None = None,
    scope: str = "spec",
) -> Case:
    headers = {"Accept": "application/json"}
    if token is True:
        headers.update(auth_headers(options.token))
    elif isinstance(token, str):
        headers.update(auth_headers(token))
    params: dict[str, Any] = {"id": raw_id, **(query or {})}
    return Case(
        BRM_OPERATION,
        label,
        Sent(method, endpoints.brm_url(raw_id, query, base), headers, None),
        request=params,
        probe=probe,
        scope=scope,
    )


# ------------------------------------------------------------------ items


def base_item(
    options: Options, operation_id: str, uniques: Uniques, **changes: Any
) -> dict[str, Any]:
    """A plain valid item built from the run's known data (CONTRACT.md section 4)."""
    fx = options.fixtures
    cls = fx.classifiers

    def first(name: str, default: str) -> str:
        codes = sorted(cls.get(name, ()))
        return (
            default if not codes else ("EUR" if name == "currency" and "EUR" in codes else codes[0])
        )

    unique = uniques.next()
    if operation_id in ACCOUNT_OPERATIONS:
        item: dict[str, Any] = {
            "communicationNumber": f"{unique}cn",
            "requester": "SYSTEMX",
            "businessEntityExtId": fx.customers[0],
            "accountExtId": f"{unique}acc",
            "accountNumber": "LT121000011101001000",
            "accountStatus": "ACTIVE",
            "currencyCode": first("currency", "EUR"),
            "openingDate": "2023-09-05T08:07:34.605Z",
        }
    else:
        item = {
            "communicationNumber": f"{unique}cn",
            "requester": "financial_institution",
            "balanceType": first("accountBalanceType", "DAILY_BALANCE"),
            "accountExtId": f"{unique}acc",
            time_member(options, operation_id): "2023-09-05T08:07:34.605Z",
            "value": 1234.56,
        }
    item.update(changes)
    return item


def full_item(options: Options, operation_id: str, uniques: Uniques) -> dict[str, Any]:
    """Every optional member, boundary lengths, mixed case and non-ASCII text."""
    cls = options.fixtures.classifiers
    unique = uniques.next()
    units = sorted(cls.get("businessUnit", ()))
    extra: dict[str, Any] = {
        "communicationNumber": (unique + "MaxLen-").ljust(255, "Z"),
        "requester": "Žemaitijos-Bankas-" + "r" * 82,  # exactly 100
        "accountExtId": f"{unique}Sąskaita-ÄÖÜ-ĄČĘ-账户",
    }
    if units:
        extra["businessUnit"] = units[-1]
    if operation_id in ACCOUNT_OPERATIONS:
        types = sorted(cls.get("accountType", ()))
        extra.update(
            action="CREATE",
            bic="SANDLT22XXX",
            isOtherFinInstAccount=True,
            accountPurpose="Taupymas / Ersparnisse / 储蓄",
            bankTitle="Bankas „Šiaurė“ AB",
            accountStatus="SUSPENDED",
            suspensionReasons="Security breach investigation in progress.",
            openingDate="2023-09-05T10:07:34+02:00",
        )
        if types:
            extra["accountType"] = types[0]
    else:
        extra.update(equivalentValue=-0.01, value=11111111111.00)
        extra[time_member(options, operation_id)] = "2024-02-29T23:59:59.999Z"
    return base_item(options, operation_id, uniques, **extra)


def warned_item(options: Options, operation_id: str, uniques: Uniques) -> dict[str, Any]:
    """Valid, but carrying warnings only (the vendor's own example values among them)."""
    if operation_id in ACCOUNT_OPERATIONS:
        return base_item(
            options,
            operation_id,
            uniques,
            bic="AMLYZEXX22",  # published example: 10 characters (accounts.bic-format)
            isOtherFinInstAccount=True,
            accountNumber="LI9208800274335945523",  # published example: bad mod-97
            accountStatus="CLOSED",
            closingDate="2023-09-01T00:00:00Z",  # before openingDate (closing-after-opening)
            accountNickname="only a warning",  # common.unknown-field
        )
    # The other revisions' timestamp beside this one's: balances.balance-at-renamed
    # (2024-11-04) or common.unknown-field (later), a warning either way.
    other = "updateAt" if time_member(options, operation_id) == "balanceAt" else "balanceAt"
    return base_item(
        options, operation_id, uniques, **{other: "2023-09-05T08:07:34.605Z"}, note="warning"
    )


def invalid_item(
    options: Options, operation_id: str, uniques: Uniques
) -> tuple[dict[str, Any], ItemExpect]:
    if operation_id in ACCOUNT_OPERATIONS:
        item = base_item(options, operation_id, uniques, accountStatus="CLOSED")
        return item, ItemExpect("accounts.closing-date-required", "002")
    item = base_item(options, operation_id, uniques, balanceType="NO_SUCH_BALANCE_TYPE")
    return item, ItemExpect("common.classifier (balanceType)")


# RFC-legal values that mainstream stacks differ on (CONTRACT.md 3.1): each is sent
# alone, in an interop case whose rejection is a warning. Positive data never uses
# them: no leap second, upper-case T/Z, at most 3 fraction digits, offsets within
# +-14:00, BMP text.
INTEROP_DATE_TIMES: tuple[tuple[str, str], ...] = (
    ("leap second", "2016-12-31T23:59:60Z"),  # java.time and Python's datetime reject :60
    ("lower-case t and z", "2023-09-05t08:07:34.605z"),
    ("9 fraction digits", "2023-09-05T08:07:34.123456789Z"),  # Python's %f takes 6
    ("12 fraction digits", "2023-09-05T08:07:34.123456789012Z"),  # java.time takes 9
    ("offset +23:59", "2023-09-05T08:07:34+23:59"),  # java.time's ZoneOffset stops at 18:00
    ("offset -00:00", "2023-09-05T08:07:34-00:00"),  # RFC 3339: offset unknown
)
# Text outside the BMP: a MySQL utf8 (3-byte) column or a UCS-2 store cannot hold it.
INTEROP_TEXT = "Bankas \U0001f3e6 \U00020000"


def interop_items(
    options: Options, operation_id: str, uniques: Uniques
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, item): a valid item carrying one RFC-legal edge value."""
    accounts = operation_id in ACCOUNT_OPERATIONS
    date_member = "openingDate" if accounts else time_member(options, operation_id)
    for label, value in INTEROP_DATE_TIMES:
        yield label, base_item(options, operation_id, uniques, **{date_member: value})
    text_member = "bankTitle" if accounts else "requester"
    yield (
        "text outside the BMP",
        base_item(options, operation_id, uniques, **{text_member: INTEROP_TEXT}),
    )


# ------------------------------------------------------------------ probes

Execute = Callable[[Case], Received]


def accepted(received: Received, index: int, single: bool = False) -> bool:
    body = received.json() if received.status == 200 else None
    if single:
        return result_type(body) in ACCEPTED
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list) or index >= len(results):
        return False
    result = results[index]
    return result_type(result) in ACCEPTED


def auth_probes(options: Options, endpoints: Endpoints) -> Iterator[Case]:
    wrong = {
        "missing credentials": {},
        "wrong bearer token": {"Authorization": f"Bearer {WRONG_TOKEN}"},
        "wrong scheme (Basic)": {
            "Authorization": "Basic " + base64.b64encode(b"user:" + WRONG_TOKEN.encode()).decode()
        },
    }
    for op_id in options.operations:
        if op_id in BATCH_OPERATIONS or op_id in SINGLE_OPERATIONS:
            op = endpoints.operation(op_id)
            key = item_key(op)
            # An empty batch, or an empty item: nothing is written even by a server
            # that skips auth.
            harmless: dict[str, Any] = {key: []} if key else {}
            for label, headers in wrong.items():
                yield Case(
                    op_id,
                    f"auth: {label}",
                    Sent(
                        op.method,
                        endpoints.batch_url(op_id),
                        {**JSON_HEADERS, **headers},
                        orjson.dumps(harmless),
                    ),
                    request=harmless,
                    probe="auth",
                    item_key=key,
                )
        elif op_id == BRM_OPERATION:
            known = options.fixtures.brm_ids[0]
            for label, headers in wrong.items():
                case = brm_case(
                    options, endpoints, f"auth: {label}", known, probe="auth", token=False
                )
                case.sent = Sent("GET", case.sent.url, {**case.sent.headers, **headers})
                yield case


MALFORMED: tuple[tuple[str, bytes], ...] = (
    ("truncated JSON", b'{"ITEMS": [}'),
    ("not JSON at all", b"this is not JSON"),
    ("empty body", b""),
    ("trailing comma", b'{"ITEMS": [],}'),
    ("a // comment", b'{"ITEMS": [] // comment\n}'),
    ("top-level array", b"[]"),
    ("top-level string", b'"ITEMS"'),
    ("missing the item array", b"{}"),
    ("misspelt item array", b'{"ITEMSz": []}'),
    ("item array is an object", b'{"ITEMS": {}}'),
    ("item array is null", b'{"ITEMS": null}'),
    ("item array is a string", b'{"ITEMS": "[]"}'),
    ("not UTF-8", b'{"ITEMS": [], "x": "\xff\xfe"}'),
)
# A single item's body: not JSON, or not an object (an item missing members is an
# invalid item, judged by the item rules).
MALFORMED_SINGLE: tuple[tuple[str, bytes], ...] = (
    ("truncated JSON", b'{"requester": }'),
    ("not JSON at all", b"this is not JSON"),
    ("empty body", b""),
    ("trailing comma", b'{"requester": "SYSTEMX",}'),
    ("a // comment", b'{"requester": "SYSTEMX" // comment\n}'),
    ("top-level array", b"[]"),
    ("top-level string", b'"requester"'),
    ("not UTF-8", b'{"requester": "\xff\xfe"}'),
)


def malformed_probes(options: Options, endpoints: Endpoints) -> Iterator[Case]:
    for op_id in options.operations:
        if op_id not in BATCH_OPERATIONS and op_id not in SINGLE_OPERATIONS:
            continue
        op = endpoints.operation(op_id)
        key = item_key(op)
        for label, template in MALFORMED if key else MALFORMED_SINGLE:
            raw = template.replace(b"ITEMS", (key or "").encode())
            yield Case(
                op_id,
                f"malformed: {label}",
                Sent(
                    op.method,
                    endpoints.batch_url(op_id),
                    {**JSON_HEADERS, **auth_headers(options.token)},
                    raw,
                ),
                request=raw,
                probe="malformed",
                item_key=key,
            )
        for method in sorted({"GET", "DELETE", "PATCH", "POST", "PUT"} - {op.method}):
            # Not the operation (no documented answer); only "never a 5xx" applies.
            yield Case(
                op_id,
                f"wrong method: {method}",
                Sent(
                    method,
                    endpoints.batch_url(op_id),
                    {**JSON_HEADERS, **auth_headers(options.token)},
                    b"{}",
                ),
                scope=OTHER_METHOD,
                item_key=key,
            )
        yield from interop_method_probes(op, options, endpoints.batch_url(op_id))
        # Paths the spec does not define: beside the operation's, and beside the API
        # (the application or a gateway in front may answer, in any format).
        for where, url in (
            ("beside the operation", endpoints.batch_url(op_id) + "-no-such-operation"),
            ("beside the API", f"{endpoints.base_url}/no-such-api/{op_id}"),
        ):
            yield Case(
                op_id,
                f"outside the spec: a path {where}",
                Sent("GET", url, {"Accept": "application/json", **auth_headers(options.token)}),
                scope=OUTSIDE,
                item_key=key,
            )


PREFLIGHT_ORIGIN = "https://contract-suite.invalid"


def interop_method_probes(op: Operation, options: Options, url: str) -> Iterator[Case]:
    """A CORS preflight and a HEAD on a spec path: anything but a 5xx (frameworks
    answer both themselves)."""
    op_id = op.operation_id
    preflight = {
        "Origin": PREFLIGHT_ORIGIN,
        "Access-Control-Request-Method": op.method,
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    yield Case(
        op_id, "OPTIONS (CORS preflight)", Sent("OPTIONS", url, preflight), scope=OPTIONS_HEAD
    )
    yield Case(
        op_id,
        "HEAD",
        Sent("HEAD", url, {"Accept": "application/json", **auth_headers(options.token)}),
        scope=OPTIONS_HEAD,
    )


def unknown_ids(run_id: str) -> tuple[str, ...]:
    return (
        f"0.0.0.1+-account+{run_id}999",
        "0.0.0.1 -account 102879",  # a known id with "+" read as spaces
        f"unknown/{run_id}/with/slashes",
        f"what?is#this&{run_id}",
        "100%-sure",
        f"Žydrūnė-{run_id}",
        "%2B",
    )


def brm_probes(options: Options, endpoints: Endpoints, run_id: str) -> Iterator[Case]:
    if BRM_OPERATION not in options.operations:
        return
    fx = options.fixtures
    for known in fx.brm_ids:
        yield brm_case(options, endpoints, "known id, default @type", known, probe="brm-known")
        for type_name in fx.brm_types:
            yield brm_case(
                options,
                endpoints,
                f"known id, @type={type_name}",
                known,
                query={"@type": type_name},
                probe="brm-known",
            )
    known = fx.brm_ids[0]
    if "+" in known:
        case = brm_case(
            options, endpoints, "known id with + percent-encoded", known, probe="brm-known"
        )
        case.sent = Sent(
            "GET",
            case.sent.url.replace(quote_id(known), quote_id(known).replace("+", "%2B")),
            case.sent.headers,
        )
        yield case
    for fields in ("name,totalBalance", "bucket", "id", "name,noSuchAttribute", " name , product "):
        yield brm_case(
            options,
            endpoints,
            f"known id, fields={fields}",
            known,
            query={"fields": fields},
            probe="brm-known",
        )
    yield brm_case(
        options,
        endpoints,
        "known id, fields and extended @type",
        known,
        query={"fields": "totalBalance", "@type": fx.brm_types[-1]},
        probe="brm-known",
    )
    for raw_id in unknown_ids(run_id):
        case = brm_case(options, endpoints, f"unknown id {raw_id!r}", raw_id, probe="brm-unknown")
        if interop_request(case):
            case.label += " (interop: an encoding firewalls may refuse)"
        yield case
    for bad in ("AccumulatedBalanceFoo", "accumulatedbalance", "", "Error"):
        yield brm_case(
            options,
            endpoints,
            f"unsupported @type={bad!r}",
            known,
            query={"@type": bad},
            probe="brm-bad-type",
        )
    # Other methods: against an unknown id, so even a server that honours them changes nothing.
    target = f"0.0.0.1+-account+{run_id}405"
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        case = brm_case(
            options, endpoints, f"method {method}", target, probe="brm-method", method=method
        )
        if method != "DELETE":
            case.sent = Sent(method, case.sent.url, {**case.sent.headers, **JSON_HEADERS}, b"{}")
        yield case
    yield from interop_method_probes(
        endpoints.operation(BRM_OPERATION), options, endpoints.brm_url(known)
    )
    base = endpoints.brm_base_url
    head, _, version = base.rpartition("/")
    if version.startswith("v") and version[1:].isdigit():
        # Outside the spec: a gateway may answer with its own page (CONTRACT.md 3.1).
        yield brm_case(
            options,
            endpoints,
            "outside the spec: API version v999",
            known,
            base=f"{head}/v999",
            scope=OUTSIDE,
        )


# ------------------------------------------------------------------ writes


def targeted_batches(options: Options, endpoints: Endpoints, uniques: Uniques) -> Iterator[Case]:
    """Fixed positive and negative batches (writes): each a known deterministic catch.
    A single operation gets each item alone."""
    for op_id in options.operations:
        if op_id in SINGLE_OPERATIONS:
            yield from _targeted_single(options, endpoints, op_id, uniques)
        if op_id not in BATCH_OPERATIONS:
            continue
        items = [
            base_item(options, op_id, uniques),
            full_item(options, op_id, uniques),
            warned_item(options, op_id, uniques),
        ]
        yield batch_case(
            options,
            endpoints,
            op_id,
            "targeted: required-only, full, warnings-only",
            items,
            phase="targeted",
            valid=frozenset(range(3)),
        )
        bad, expect = invalid_item(options, op_id, uniques)
        missing = base_item(options, op_id, uniques)
        del missing["accountExtId"]
        items = [base_item(options, op_id, uniques), bad, missing]
        yield batch_case(
            options,
            endpoints,
            op_id,
            "targeted: invalid items between valid ones",
            items,
            phase="targeted",
            valid=frozenset({0}),
            invalid={1: expect, 2: ItemExpect("schema.required (accountExtId)")},
        )
        for label, item in interop_items(options, op_id, uniques):
            yield batch_case(
                options,
                endpoints,
                op_id,
                f"interop: {label}",
                [item],
                phase="targeted",
                valid=frozenset({0}),
                interop=True,
            )
        for label, raw_item, expect in _raw_items(options, op_id, uniques):
            sibling = orjson.dumps(base_item(options, op_id, uniques))
            key = item_key(endpoints.operation(op_id)) or ""
            raw = b'{"' + key.encode() + b'": [' + sibling + b", " + raw_item + b"]}"
            yield batch_case(
                options,
                endpoints,
                op_id,
                f"targeted: {label}",
                [],
                phase="targeted",
                valid=frozenset({0}),
                invalid={1: expect},
                raw=raw,
            )


def _targeted_single(
    options: Options, endpoints: Endpoints, op_id: str, uniques: Uniques
) -> Iterator[Case]:
    """The targeted items of the batch, each alone: valid ones must get 200 with an
    accepted resultType, invalid ones a rejection (a 400, as the vendor's pages show,
    with the rule's vendor code), the interop values at most a warning."""

    def one(label: str, item: dict[str, Any], **expect: Any) -> Case:
        return batch_case(
            options, endpoints, op_id, f"targeted: {label}", [item], phase="targeted", **expect
        )

    valid = frozenset({0})
    yield one("required only", base_item(options, op_id, uniques), valid=valid)
    yield one("full", full_item(options, op_id, uniques), valid=valid)
    yield one("warnings only", warned_item(options, op_id, uniques), valid=valid)
    bad, expect = invalid_item(options, op_id, uniques)
    yield one(f"invalid: breaks {expect.rule}", bad, invalid={0: expect})
    missing = base_item(options, op_id, uniques)
    del missing["accountExtId"]
    required = ItemExpect("schema.required (accountExtId)")
    yield one("invalid: no accountExtId", missing, invalid={0: required})
    for label, item in interop_items(options, op_id, uniques):
        yield one(f"interop: {label}", item, valid=valid, interop=True)


def _raw_items(
    options: Options, op_id: str, uniques: Uniques
) -> Iterator[tuple[str, bytes, ItemExpect]]:
    """Items only raw bytes can carry: the input.* rules. They are the client's
    hygiene (CONTRACT.md 3.1): a server may accept them (e.g. last member wins), so
    acceptance is a warning; only a 5xx is an error."""
    item = orjson.dumps(base_item(options, op_id, uniques))
    yield (
        "duplicate member",
        item[:-1] + b', "requester": "SECOND"}',
        ItemExpect("input.duplicate-key", soft=True),
    )
    number = "communicationNumber" if op_id in ACCOUNT_OPERATIONS else "value"
    yield (
        "NaN literal",
        item[:-1] + f', "{number}": NaN}}'.encode(),
        ItemExpect("input.non-finite", soft=True),
    )
    deep = b"[" * 1100 + b"]" * 1100
    yield (
        "nesting 1100 deep",
        item[:-1] + b', "x": ' + deep + b"}",
        ItemExpect("input.too-deep", soft=True),
    )
    yield (
        "bytes not UTF-8",
        item[:-1] + b', "requester": "\xc3\x28"}',
        ItemExpect("input.encoding", soft=True),
    )


def sequences(options: Options, endpoints: Endpoints, uniques: Uniques, execute: Execute) -> None:
    """The stateful sequences; each step's expectations depend on the previous answer."""
    ops = [op for op in options.operations if op in BATCH_OPERATIONS or op in SINGLE_OPERATIONS]
    for op_id in ops:
        single = op_id in SINGLE_OPERATIONS

        def case(label: str, items: list[Any], op_id: str = op_id, **expect: Any) -> Case:
            return batch_case(
                options, endpoints, op_id, f"sequence: {label}", items, phase="stateful", **expect
            )

        if op_id == VALIDATE_BATCH_ACCOUNTS:
            _validate_saves_nothing(options, endpoints, uniques, execute, ops)
        else:
            # Register, then resubmit the communicationNumber with another item (O005).
            first = base_item(options, op_id, uniques)
            got = execute(case("register", [first], valid=frozenset({0})))
            if accepted(got, 0, single):
                again = base_item(
                    options, op_id, uniques, communicationNumber=first["communicationNumber"]
                )
                label = "resubmit the same communicationNumber"
                execute(case(label, [again], reused=frozenset({0})))
        if not single:
            # Two items with one communicationNumber in one batch: the later one is O005.
            one = base_item(options, op_id, uniques)
            two = base_item(options, op_id, uniques, communicationNumber=one["communicationNumber"])
            execute(
                case(
                    "one communicationNumber twice in a batch",
                    [one, two],
                    valid=frozenset({0}),
                    reused=frozenset({1}),
                )
            )
        # A rejected item does not use up its communicationNumber.
        bad, expect = invalid_item(options, op_id, uniques)
        got = execute(case("an invalid item", [bad], invalid={0: expect}))
        if not accepted(got, 0, single):
            fixed = base_item(
                options,
                op_id,
                uniques,
                communicationNumber=bad["communicationNumber"],
                accountExtId=bad["accountExtId"],
            )
            label = "the invalid item corrected and resent"
            execute(case(label, [fixed], valid=frozenset({0})))
    if BATCH_ACCOUNTS in ops:
        _account_flow(options, endpoints, uniques, execute, ops)


def _validate_saves_nothing(
    options: Options, endpoints: Endpoints, uniques: Uniques, execute: Execute, ops: list[str]
) -> None:
    """validate-batch-accounts saves nothing: an account validated for one customer,
    then sent again (same communicationNumber and accountExtId) for another customer,
    is accepted by validate-batch-accounts, batch-accounts and createAccount alike
    (had the first call saved it, the number would be a reuse, O005, and the account
    another customer's, 003)."""
    customers = options.fixtures.customers
    for target in (VALIDATE_BATCH_ACCOUNTS, BATCH_ACCOUNTS, CREATE_ACCOUNT):
        if target not in ops:
            continue
        first = base_item(
            options, VALIDATE_BATCH_ACCOUNTS, uniques, businessEntityExtId=customers[0]
        )
        got = execute(
            batch_case(
                options,
                endpoints,
                VALIDATE_BATCH_ACCOUNTS,
                f"sequence: validate an account (then {target})",
                [first],
                phase="stateful",
                valid=frozenset({0}),
            )
        )
        if not accepted(got, 0):
            continue  # batch.valid-item-rejected says why
        again = base_item(
            options,
            target,
            uniques,
            communicationNumber=first["communicationNumber"],
            accountExtId=first["accountExtId"],
            businessEntityExtId=customers[1],
        )
        execute(
            batch_case(
                options,
                endpoints,
                target,
                "sequence: the validated communicationNumber and account again, for "
                "another customer",
                [again],
                phase="stateful",
                valid=frozenset({0}),
                free=frozenset({0}),
            )
        )


def _account_flow(
    options: Options, endpoints: Endpoints, uniques: Uniques, execute: Execute, ops: list[str]
) -> None:
    """An account registered, updated, claimed by another customer, then its balances."""
    customers = options.fixtures.customers
    account = base_item(options, BATCH_ACCOUNTS, uniques, businessEntityExtId=customers[0])
    got = execute(
        batch_case(
            options,
            endpoints,
            BATCH_ACCOUNTS,
            "sequence: register an account",
            [account],
            phase="stateful",
            valid=frozenset({0}),
        )
    )
    if not accepted(got, 0):
        return
    update = base_item(
        options,
        BATCH_ACCOUNTS,
        uniques,
        accountExtId=account["accountExtId"],
        businessEntityExtId=customers[0],
        action="UPDATE",
        accountStatus="SUSPENDED",
    )
    execute(
        batch_case(
            options,
            endpoints,
            BATCH_ACCOUNTS,
            "sequence: update it (same customer)",
            [update],
            phase="stateful",
            valid=frozenset({0}),
        )
    )
    takeover = base_item(
        options,
        BATCH_ACCOUNTS,
        uniques,
        accountExtId=account["accountExtId"],
        businessEntityExtId=customers[1],
    )
    execute(
        batch_case(
            options,
            endpoints,
            BATCH_ACCOUNTS,
            "sequence: another customer claims the account",
            [takeover],
            phase="stateful",
            invalid={0: ItemExpect("known data: the account belongs to another customer", "003")},
        )
    )
    for balances in (BATCH_ACCOUNT_BALANCES, REGISTER_ACCOUNT_BALANCE):
        if balances not in ops:
            continue
        balance = base_item(options, balances, uniques, accountExtId=account["accountExtId"])
        execute(
            batch_case(
                options,
                endpoints,
                balances,
                "sequence: balances of the registered account",
                [balance],
                phase="stateful",
                valid=frozenset({0}),
            )
        )
