"""Fast path: prove that a body has no violation at all, or give up.

The body is decoded by msgspec into Structs generated from the schema (C: types,
required members, enums, lengths, no unknown members, no duplicate keys), then the
compiled rules run: the cheap ones in one generated loop over the items, the others
column by column (:mod:`engine.fast_columns`), then the batch rules' fast proofs.
Any doubt returns False and the slow path (:mod:`engine.slow`) diagnoses; so a
valid body never pays for diagnostics.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import msgspec

from .codegen import MISSING
from .compiler import Body, CompiledOperation
from .jsoninput import may_have_duplicates

_DECODE_ERRORS = (
    msgspec.ValidationError,
    msgspec.DecodeError,
    RecursionError,
    TypeError,
    ValueError,
)


def fast_valid(comp: CompiledOperation, body: Body, as_item: bool, parsed: Any = MISSING) -> bool:
    """True only when ``body`` (bytes, str or parsed JSON; or ``parsed``, the value the
    slow path already read) has no violation at all: it decodes into the generated
    Structs (types, required members, enums, lengths, no unknown members) and keeps
    every rule. False says nothing: the slow path decides."""
    target = comp.item if as_item else comp.body
    if target is None or target.fast is None:
        return False
    fast = target.fast
    try:
        if parsed is not MISSING:
            obj = msgspec.convert(parsed, fast.type)
        elif isinstance(body, (bytes, str)):
            obj = fast.decoder.decode(body)
            if may_have_duplicates(body, msgspec.json.encode(obj)):
                return False
        else:
            obj = msgspec.convert(body, fast.type)
    except _DECODE_ERRORS:
        return False
    # Rules: items (or the single item) and the body object; nested objects with
    # rules of their own are not walked here, so such specs always take the slow path.
    root_checker = target.checkers.get(id(target.schema))
    if root_checker is not None and not root_checker.check_many((obj,)):
        return False
    if as_item or comp.item_schema is None or comp.item_key is None:
        return len(target.checkers) <= 1
    items = getattr(obj, fast.attrs_for(type(obj))[comp.item_key])
    # The body's checkers cover the items too (the item schema is inside the body's).
    item_checker = target.checkers.get(id(comp.item_schema))
    if len(target.checkers) > (root_checker is not None) + (item_checker is not None):
        return False
    if item_checker is not None and not item_checker.check_many(items):
        return False
    if comp.batch_rules:
        attrs = fast.attrs_for(type(items[0])) if items else {}

        def getter(name: str) -> Callable[[Any], Any]:
            attr = attrs.get(name)
            return operator.attrgetter(attr) if attr else (lambda _item: MISSING)

        for _rule, batch in comp.batch_rules:
            if batch.fast_ok is None or not batch.fast_ok(items, getter):
                return False
    return True
