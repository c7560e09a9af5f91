"""Known data of the default profile (CONTRACT.md section 4), in one place.

The reference server serves exactly this, and the contract suite imports it for its
positive checks, so the two can never disagree.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from typing import Any, Final

from ..domain import BATCH_ACCOUNT_BALANCES

DEFAULT_TOKEN: Final = "dev-token"
# Server profiles: the reference server as the contract describes it, and as a
# typical production deployment answers wherever the contract leaves room.
PROFILES: Final = ("default", "production")

CUSTOMERS: Final = frozenset({"CUST-0001", "CUST-0002", "CUST-0003"})

# name -> [{"code", "name"}], served as-is at GET /classifier/{name}.
CLASSIFIERS: Final[Mapping[str, tuple[Mapping[str, str], ...]]] = {
    "currency": (
        {"code": "EUR", "name": "Euro"},
        {"code": "USD", "name": "US Dollar"},
        {"code": "GBP", "name": "Pound Sterling"},
        {"code": "CHF", "name": "Swiss Franc"},
        {"code": "PLN", "name": "Polish Zloty"},
        {"code": "SEK", "name": "Swedish Krona"},
    ),
    "accountType": (
        {"code": "IND_B2B", "name": "Individual B2B account"},
        {"code": "ORG_B2B", "name": "Organisation B2B account"},
    ),
    "businessUnit": (
        {"code": "sandbox", "name": "Sandbox"},
        {"code": "BU_1", "name": "Business unit 1"},
    ),
    "accountBalanceType": (
        {"code": "DAILY_BALANCE", "name": "Daily balance"},
        {"code": "STATEMENT_BALANCE", "name": "Statement balance"},
    ),
}

# The classifier snapshot handed to the validator: name -> allowed codes.
FIXTURE_CLASSIFIERS: Final[Mapping[str, frozenset[str]]] = {
    name: frozenset(entry["code"] for entry in entries) for name, entries in CLASSIFIERS.items()
}

BRM_BASE_PATH: Final = "/brm/prepayBalanceManagement"
BRM_VERSIONS: Final = frozenset({"v1"})
BRM_BASE_TYPE: Final = "AccumulatedBalance"
BRM_TYPES: Final = frozenset({"AccumulatedBalance", "AccumulatedBalanceOracle"})
# Always returned, whatever `fields` asks for (CONTRACT.md rule brm.fields-honored).
BRM_ALWAYS_FIELDS: Final = frozenset({"id", "href", "@type", "@baseType", "@schemaLocation"})


def _ref(type_: str, id_: str | None, name: str, href: str | None = None) -> dict[str, Any]:
    return {
        "id": id_,
        "href": href,
        "name": name,
        "@baseType": None,
        "@schemaLocation": None,
        "@type": type_,
        "@referredType": None,
    }


def _party_account(id_: str, name: str) -> dict[str, Any]:
    ref = _ref("PartyAccountRef", id_, name)
    return {**ref, "description": None, "status": "active"}


def _quantity(amount: float, units: str) -> dict[str, Any]:
    return {
        "amount": amount,
        "units": units,
        "@baseType": None,
        "@schemaLocation": None,
        "@type": "Quantity",
    }


# Accumulated balances by id, without `href` (built from the request's base URL).
# The first one is the vendor's example object (seed 004) verbatim.
_BALANCES: Final[dict[str, dict[str, Any]]] = {
    "0.0.0.1+-account+102879": {
        "id": "0.0.0.1+-account+102879",
        "description": None,
        "name": "James Kurup",
        "bucket": [
            _ref(
                "BucketRef",
                "0.0.0.1+-balance_group+106463",
                "Account Level Balance Group",
                href="bucket/0.0.0.1+-balance_group+106463",
            )
        ],
        "logicalResource": None,
        "partyAccount": _party_account("0.0.0.1+-account+102879", "James Kurup"),
        "product": [
            _ref("ProductRef", "0.0.0.1+-service-telco-gsm-sms+102975", "ServiceTelcoGsmSms"),
            _ref(
                "ProductRef",
                "0.0.0.1+-service-telco-gsm-telephony+104255",
                "ServiceTelcoGsmTelephony",
            ),
        ],
        "relatedParty": None,
        "totalBalance": _quantity(45.0, "EUR"),
        "@baseType": BRM_BASE_TYPE,
        "@schemaLocation": None,
        "@type": BRM_BASE_TYPE,
    },
    "0.0.0.1+-account+200001": {
        "id": "0.0.0.1+-account+200001",
        "description": "Prepaid account with a non-ASCII holder name",
        "name": "Žydrūnė Šimkutė",
        "bucket": [
            _ref(
                "BucketRef",
                "0.0.0.1+-balance_group+200002",
                "Account Level Balance Group",
                href="bucket/0.0.0.1+-balance_group+200002",
            ),
            _ref(
                "BucketRef",
                "0.0.0.1+-balance_group+200003",
                "Roaming Balance Group",
                href="bucket/0.0.0.1+-balance_group+200003",
            ),
        ],
        "logicalResource": None,
        "partyAccount": _party_account("0.0.0.1+-account+200001", "Žydrūnė Šimkutė"),
        "product": [
            _ref("ProductRef", "0.0.0.1+-service-telco-gsm-data+200010", "ServiceTelcoGsmData"),
        ],
        "relatedParty": [
            {
                "id": "0.0.0.1+-party+200020",
                "href": None,
                "name": "Žydrūnė Šimkutė",
                "role": "owner",
                "@baseType": None,
                "@schemaLocation": None,
                "@type": "RelatedParty",
                "@referredType": "Individual",
            }
        ],
        "totalBalance": _quantity(-12.5, "EUR"),
        "@baseType": BRM_BASE_TYPE,
        "@schemaLocation": None,
        "@type": BRM_BASE_TYPE,
    },
}

BRM_IDS: Final = frozenset(_BALANCES)


def accumulated_balance(balance_id: str, base_url: str) -> dict[str, Any] | None:
    """A fresh copy of a known balance with hrefs resolved against ``base_url``
    (``scheme://host/brm/prepayBalanceManagement/v1``); None when the id is unknown."""
    found = _BALANCES.get(balance_id)
    if found is None:
        return None
    balance = copy.deepcopy(found)
    for bucket in balance["bucket"]:
        bucket["href"] = f"{base_url}/{bucket['href']}"
    return balance


def valid_account(
    communication_number: str, account_ext_id: str, **overrides: Any
) -> dict[str, Any]:
    """A `batchAccounts` item this server accepts (for tests and the contract suite)."""
    item: dict[str, Any] = {
        "communicationNumber": communication_number,
        "requester": "SYSTEMX",
        "businessUnit": "sandbox",
        "businessEntityExtId": "CUST-0001",
        "accountExtId": account_ext_id,
        "accountNumber": "LT121000011101001000",
        "accountStatus": "ACTIVE",
        "currencyCode": "EUR",
        "openingDate": "2023-09-05T08:07:34.605Z",
        "accountType": "IND_B2B",
    }
    item.update(overrides)
    return item


@functools.lru_cache(maxsize=8)
def balance_time_member(revision: str | None = None) -> str:
    """The balance's timestamp member under a revision (``updateAt`` in 2024-11-04,
    ``balanceAt`` later), read from the revision's balance document."""
    from .routes import route  # reads the revision documents: only when asked

    schema = route(BATCH_ACCOUNT_BALANCES, revision).item_schema
    props = schema.get("properties") or {}
    return next(
        str(name)
        for name, sub in props.items()
        if isinstance(sub, dict) and sub.get("format") == "date-time"
    )


def valid_balance(
    communication_number: str, account_ext_id: str, revision: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """A `registerBatchAccountBalances` (and `registerAccountBalance`) item this server
    accepts; ``revision`` names its timestamp member as that revision does."""
    stamp = "updateAt" if revision is None else balance_time_member(revision)
    item: dict[str, Any] = {
        "communicationNumber": communication_number,
        "requester": "financial_institution",
        "balanceType": "DAILY_BALANCE",
        "accountExtId": account_ext_id,
        "businessUnit": "BU_1",
        stamp: "2023-09-05T08:07:34.605Z",
        "value": 1234.56,
    }
    item.update(overrides)
    return item
