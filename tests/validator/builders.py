"""Valid payload builders shared by the validator tests (no rule broken, no warning)."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import SAMPLES

__all__ = ["SAMPLES"]


def iban(country: str, bban: str) -> str:
    """An IBAN with correct check digits (ISO 13616)."""
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def account(i: int = 0, **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "communicationNumber": f"COMM-{i:06d}",
        "requester": "CORE_BANKING",
        "businessUnit": "sandbox",
        "businessEntityExtId": "CUST-0001",
        "accountExtId": f"ACC-{i:06d}",
        "accountNumber": iban("LT", f"{10000 + i:05d}{i:011d}"),
        "accountStatus": "ACTIVE",
        "currencyCode": "EUR",
        "openingDate": "2023-09-05T08:07:34.605Z",
        "bic": "SANDLT22XXX",
        "isOtherFinInstAccount": True,
        "accountType": "IND_B2B",
    }
    return _apply(item, changes)


def balance(i: int = 0, **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "communicationNumber": f"BAL-{i:06d}",
        "requester": "CORE_BANKING",
        "balanceType": "DAILY_BALANCE",
        "accountExtId": f"ACC-{i:06d}",
        "businessUnit": "BU_1",
        "updateAt": "2024-05-26T23:59:59Z",
        "value": -1520.75,
        "equivalentValue": 1520,
    }
    return _apply(item, changes)


def _apply(item: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Set each changed member; DELETE removes it."""
    for key, value in changes.items():
        if value is DELETE:
            item.pop(key, None)
        else:
            item[key] = value
    return item


class _Delete:
    def __repr__(self) -> str:
        return "DELETE"


DELETE: Any = _Delete()


def accounts_body(*items: dict[str, Any]) -> dict[str, Any]:
    return {"accounts": list(items)}


def balances_body(*items: dict[str, Any]) -> dict[str, Any]:
    return {"accountBalances": list(items)}


def dumps(value: Any) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False).encode("utf-8")
