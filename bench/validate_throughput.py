"""Validator throughput on a 10,000-item batchAccounts body, side by side.

Every contender runs on the same bytes, interleaved round by round, so machine noise
hits all of them alike; the table reports the best and the median of each and its
ratio to ``orjson.loads`` (the JSON-parse floor).

    python -m bench.validate_throughput [--items 10000] [--rounds 15] [--stages [--twice]]

Three bodies: valid; every item breaking one error rule (in rotation); every item
breaking two (an external account without ``bic``, CLOSED without ``closingDate``).
``--stages`` instead times the stages of validating the every-item-broken body
(``--twice``: the body whose items break two rules).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

from amlyze_contracts import validate_request
from amlyze_contracts.domain import BATCH_ACCOUNTS
from amlyze_contracts.specs import operation

OP = BATCH_ACCOUNTS
TARGETS = {"valid": 2.0, "broken": 6.0, "broken twice": 6.0, "openapi-core": 15.0}


def _iban(country: str, bban: str) -> str:
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def make_items(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Realistic, varied, valid accounts: every rule holds, no warning."""
    rng = random.Random(seed)
    banks = ["SANDLT22XXX", "HABALT22", "CBVILT2X", "REVOLT21XXX", "DEUTDEFF500"]
    items = []
    for i in range(count):
        status = rng.choice(["ACTIVE", "ACTIVE", "CLOSED", "SUSPENDED"])
        opened = f"20{rng.randint(10, 23)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z"
        item: dict[str, Any] = {
            "communicationNumber": f"run-7f3a-{i:08d}",
            "requester": "CORE_BANKING",
            "businessUnit": rng.choice(["sandbox", "BU_1"]),
            "businessEntityExtId": f"CUST-{rng.randint(1, 3):04d}",
            "accountExtId": f"ACC-{i:08d}",
            "accountNumber": _iban("LT", f"{rng.randrange(10**16):016d}"),
            "accountStatus": status,
            "currencyCode": rng.choice(["EUR", "USD", "GBP", "PLN"]),
            "openingDate": opened,
            "isOtherFinInstAccount": rng.random() < 0.3,
            "accountType": rng.choice(["IND_B2B", "ORG_B2B"]),
        }
        if item["isOtherFinInstAccount"] or rng.random() < 0.5:
            item["bic"] = rng.choice(banks)
        if status == "CLOSED":
            item["closingDate"] = (
                f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T10:00:00+02:00"
            )
        if status == "SUSPENDED":
            item["suspensionReasons"] = "Security breach investigation in progress."
        items.append(item)
    return items


def break_every_item(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each item breaks one error rule (schema or supplementary), in rotation."""
    broken = []
    for i, original in enumerate(items):
        item = dict(original)
        kind = i % 5
        if kind == 0:
            item.update(isOtherFinInstAccount=True)
            item.pop("bic", None)
        elif kind == 1:
            item.update(accountStatus="CLOSED")
            item.pop("closingDate", None)
            item.pop("suspensionReasons", None)
        elif kind == 2:
            item["accountStatus"] = "OPEN"
            item.pop("closingDate", None)
            item.pop("suspensionReasons", None)
        elif kind == 3:
            item.pop("requester")
        else:
            item["openingDate"] = item["openingDate"][:10]
        broken.append(item)
    return broken


def break_every_item_twice(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each item breaks two error rules: an external account without ``bic`` and a
    CLOSED account without ``closingDate``."""
    broken = []
    for original in items:
        item = dict(original)
        item.update(isOtherFinInstAccount=True, accountStatus="CLOSED")
        for name in ("bic", "closingDate", "suspensionReasons"):
            item.pop(name, None)
        broken.append(item)
    return broken


def contenders(valid: bytes, broken: bytes, twice: bytes) -> dict[str, Callable[[], Any]]:
    import jsonschema
    import jsonschema_rs
    from openapi_core import OpenAPI
    from openapi_core.testing import MockRequest

    op = operation(OP)
    schema = dict(op.request_schema or {})
    py_validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.FormatChecker()
    )
    rs_validator = jsonschema_rs.Draft202012Validator(schema, validate_formats=True)
    spec_dict = json.loads(json.dumps(op.spec.document))
    openapi = OpenAPI.from_dict(spec_dict)

    def openapi_core_validate() -> None:
        request = MockRequest(
            "https://localhost:8080", "post", "/amlyze-ws-rest/batch-accounts",
            data=valid, headers={"Authorization": "Bearer x"}, content_type="application/json",
        )  # fmt: skip
        openapi.validate_request(request)

    # Sanity: the bodies are what the table claims.
    assert validate_request(OP, valid).violations == []
    report = validate_request(OP, broken)
    assert len({v.pointer.split("/")[2] for v in report.errors}) == len(
        json.loads(broken)["accounts"]
    )
    assert len(validate_request(OP, twice).errors) == 2 * len(json.loads(twice)["accounts"])

    return {
        "orjson.loads (parse floor)": lambda: orjson.loads(valid),
        "amlyze-contracts, valid": lambda: validate_request(OP, valid),
        "amlyze-contracts, every item broken": lambda: validate_request(OP, broken),
        "amlyze-contracts, every item broken twice": lambda: validate_request(OP, twice),
        "openapi-core validate_request, valid": openapi_core_validate,
        "jsonschema (schema only), valid": lambda: py_validator.is_valid(orjson.loads(valid)),
        "jsonschema-rs (schema only), valid": lambda: rs_validator.is_valid(orjson.loads(valid)),
    }


SLOW = {"openapi-core validate_request, valid", "jsonschema (schema only), valid"}


def measure(fns: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():  # warm-up: compile specs, rules, validators
        fn()
    for r in range(rounds):
        for name, fn in fns.items():
            if name in SLOW and r >= 3:
                continue  # seconds per call: three rounds tell enough
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


STAGES = [  # (module, attribute) of the slow path's stages, outermost last
    ("amlyze_contracts.engine.slow", "read_input"),
    ("amlyze_contracts.engine.slow", "schema_findings"),
    ("amlyze_contracts.engine.slow", "_rule_findings"),
    ("amlyze_contracts.engine.slow", "_located"),
    ("amlyze_contracts.engine.slow", "_batch_item_violations"),
    ("amlyze_contracts.engine.slow", "positioned"),
]


def stages(broken: bytes, rounds: int) -> None:
    """Time each stage of validating ``broken`` (wrapped with perf_counter), as parts
    of orjson.loads on the same bytes, timed in the same rounds."""
    import functools
    import importlib

    spent: dict[str, float] = {}

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - start

        return wrapper

    for module_name, attribute in STAGES:
        owner: Any = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        setattr(owner, name, timed(attribute, getattr(owner, name)))
    validate_request(OP, broken)  # warm-up
    spent.clear()
    floor = total = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        orjson.loads(broken)
        floor += time.perf_counter() - start
        start = time.perf_counter()
        validate_request(OP, broken)
        total += time.perf_counter() - start
    print("| stage | ms per call | x orjson.loads |\n|---|---:|---:|")
    print(f"| orjson.loads | {floor / rounds * 1e3:.1f} | 1.00 |")
    for name, seconds in spent.items():
        print(f"| {name} | {seconds / rounds * 1e3:.1f} | {seconds / floor:.2f} |")
    print(f"| validate_request (total) | {total / rounds * 1e3:.1f} | {total / floor:.2f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--stages", action="store_true", help="time the broken body's stages")
    parser.add_argument(
        "--twice", action="store_true", help="--stages: the body whose items break two rules"
    )
    args = parser.parse_args(argv)
    items = make_items(args.items)
    valid = orjson.dumps({"accounts": items})
    broken = orjson.dumps({"accounts": break_every_item(items)})
    twice = orjson.dumps({"accounts": break_every_item_twice(items)})
    if args.stages:
        stages(twice if args.twice else broken, args.rounds)
        return 0
    times = measure(contenders(valid, broken, twice), args.rounds)
    floor_times = times["orjson.loads (parse floor)"]
    floor = min(floor_times)

    def paired(name: str) -> float:
        """Median over rounds of (time / orjson.loads time in the same round): the
        pair shares the machine's state of that moment, so it is the steadier ratio."""
        return statistics.median(t / f for t, f in zip(times[name], floor_times, strict=False))

    print(f"body: {args.items} items, {len(valid) / 1e6:.2f} MB (valid), {len(broken) / 1e6:.2f} MB (broken); "
          f"{args.rounds} interleaved rounds; Python {sys.version.split()[0]}\n")  # fmt: skip
    print("| contender | best ms | median ms | best / orjson.loads | median of per-round ratios |")
    print("|---|---:|---:|---:|---:|")
    for name, samples in times.items():
        best = min(samples)
        print(
            f"| {name} | {best * 1e3:.1f} | {statistics.median(samples) * 1e3:.1f} "
            f"| {best / floor:.2f}x | {paired(name):.2f}x |"
        )
    valid_ratio = paired("amlyze-contracts, valid")
    broken_ratio = paired("amlyze-contracts, every item broken")
    twice_ratio = paired("amlyze-contracts, every item broken twice")
    openapi_ratio = paired("openapi-core validate_request, valid") / valid_ratio
    checks = [
        ("valid body within 2.0x of orjson.loads", valid_ratio, valid_ratio <= TARGETS["valid"]),
        ("every item broken within 6x of orjson.loads", broken_ratio,
         broken_ratio <= TARGETS["broken"]),
        ("every item broken twice within 6x of orjson.loads", twice_ratio,
         twice_ratio <= TARGETS["broken twice"]),
        ("openapi-core at least 15x slower than us", openapi_ratio,
         openapi_ratio >= TARGETS["openapi-core"]),
    ]  # fmt: skip
    print("\n| target (median of per-round ratios) | measured | met |\n|---|---:|---|")
    for label, value, met in checks:
        print(f"| {label} | {value:.2f}x | {'yes' if met else 'NO'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
