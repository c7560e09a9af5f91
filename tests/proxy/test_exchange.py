"""The request read once (``request_value``) and validated in place of its bytes:
the same violations as the bytes give, whatever the body."""

from __future__ import annotations

import orjson
import pytest

from amlyze_contracts.proxy.exchange import ExchangeValidator
from amlyze_contracts.server.fixtures import valid_account

ACCOUNTS = "/amlyze-ws-rest/batch-accounts"


def _body(*items: dict[str, object]) -> bytes:
    return orjson.dumps({"accounts": list(items)})


VALID = _body(valid_account("c-1", "a-1"), valid_account("c-2", "a-2"))
BODIES = {
    "valid": VALID,
    "schema": _body({**valid_account("c-1", "a-1"), "currencyCode": 7}),
    "rule": _body(valid_account("c-1", "a-1", accountStatus="CLOSED")),
    "repeated numbers": _body(valid_account("c-1", "a-1"), valid_account("c-1", "a-2")),
    "duplicate key": VALID.replace(
        b'"currencyCode":"EUR"', b'"currencyCode":7,"currencyCode":"EUR"', 1
    ),
    "spaced": orjson.dumps(orjson.loads(VALID), option=orjson.OPT_INDENT_2),
    "not an object": b"[1, 2]",
    "not JSON": b'{"accounts": [',
    "huge integer": VALID.replace(
        b'"requester":"SYSTEMX"', b'"requester":123456789012345678901234567890'
    ),
    "bom": b"\xef\xbb\xbf" + VALID,
    "huge number": VALID.replace(b'"requester":"SYSTEMX"', b'"requester":1e400', 1),
    "lone surrogate": VALID.replace(b'"requester":"SYSTEMX"', b'"requester":"\\ud800"', 1),
    "float for a string": VALID.replace(b'"requester":"SYSTEMX"', b'"requester":1.0', 1),
    "unknown member": VALID.replace(b'"requester":"SYSTEMX"', b'"requester":"S","x":{"y":[1]}', 1),
    "escaped text": VALID.replace(b'"requester":"SYSTEMX"', b'"requester":"SYS\\u0054EMX"', 1),
}


@pytest.mark.parametrize("name", list(BODIES))
def test_the_parsed_request_judged_as_its_bytes(name: str) -> None:
    validator = ExchangeValidator()
    match = validator.matcher.match("POST", ACCOUNTS)
    assert match is not None
    body = BODIES[name]
    parsed = validator.request_value(match, body)
    as_bytes = validator.request(match, body)
    assert validator.request(match, body, parsed=parsed) == as_bytes
    assert bool(as_bytes) == (name not in ("valid", "spaced", "escaped text"))
