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

from .codegen import MISSING, ObjectChecker
from .compiler import Body, CompiledOperation, Target
from .jsoninput import may_have_duplicates

_DECODE_ERRORS = (
    msgspec.ValidationError,
    msgspec.DecodeError,
    RecursionError,
    TypeError,
    ValueError,
)


# What the fast path proved of a body.
UNKNOWN = 0  # nothing: the slow path diagnoses everything
SCHEMA = 1  # the body keeps the schema (decoded, formats valid); some rule may be broken
VALID = 2  # no violation at all


def fast_valid(comp: CompiledOperation, body: Body, as_item: bool, parsed: Any = MISSING) -> bool:
    """True only when ``body`` (bytes, str or parsed JSON; or ``parsed``, the value the
    slow path already read) has no violation at all: it decodes into the generated
    Structs (types, required members, enums, lengths, no unknown members) and keeps
    every rule. False says nothing: the slow path decides."""
    return fast_check(comp, body, as_item, parsed) == VALID


def fast_check(comp: CompiledOperation, body: Body, as_item: bool, parsed: Any = MISSING) -> int:
    """:data:`VALID`, :data:`SCHEMA` or :data:`UNKNOWN` (see :func:`fast_valid`).

    The decoder is never more lenient than the schema, so a body it decodes, with
    its deferred formats valid, has no schema violation: the slow path then looks
    only at the rules (a body whose every item breaks a rule skips the schema
    diagnosis). Duplicate keys do not change that: the decoder checks every
    occurrence and keeps the last, as the slow path's parser does; so the proof of
    their absence is needed, and paid, only for a VALID verdict."""
    target = comp.item if as_item else comp.body
    if target is None or target.fast is None:
        return UNKNOWN
    fast = target.fast
    try:
        if parsed is not MISSING:
            obj = msgspec.convert(parsed, fast.type)
        elif isinstance(body, (bytes, str)):
            obj = fast.decoder.decode(body)
        else:
            obj = msgspec.convert(body, fast.type)
    except _DECODE_ERRORS:
        return UNKNOWN
    root_checker = target.checkers.get(id(target.schema))
    batch = not as_item and comp.item_schema is not None and comp.item_key is not None
    items: list[Any] = getattr(obj, fast.attrs_for(type(obj))[comp.item_key or ""]) if batch else []
    item_checker = target.checkers.get(id(comp.item_schema)) if batch else None
    if _rules_kept(comp, target, obj, items, root_checker, item_checker, batch):
        text = body if parsed is MISSING and isinstance(body, (bytes, str)) else None
        if text is not None and may_have_duplicates(text, msgspec.json.encode(obj)):
            return SCHEMA  # the slow path's reader names the duplicates
        return VALID
    # Formats the decoder left to the checkers (body and items; nested objects'
    # formats are the decoder's own).
    if root_checker is not None and not root_checker.formats_hold((obj,)):
        return UNKNOWN
    if item_checker is not None and not item_checker.formats_hold(items):
        return UNKNOWN
    return SCHEMA


def _rules_kept(
    comp: CompiledOperation,
    target: Target,
    obj: Any,
    items: list[Any],
    root_checker: ObjectChecker | None,
    item_checker: ObjectChecker | None,
    batch: bool,
) -> bool:
    """Every rule of a decoded body kept (and the deferred formats valid)."""
    # Rules: items (or the single item) and the body object; nested objects with
    # rules of their own are not walked here, so such specs always take the slow path.
    if root_checker is not None and not root_checker.check_many((obj,)):
        return False
    checkers = target.checkers
    if not batch:
        return len(checkers) <= 1
    # The body's checkers cover the items too (the item schema is inside the body's).
    if len(checkers) > (root_checker is not None) + (item_checker is not None):
        return False
    if item_checker is not None and not item_checker.check_many(items):
        return False
    if comp.batch_rules:
        fast = target.fast
        attrs = fast.attrs_for(type(items[0])) if items and fast is not None else {}

        def getter(name: str) -> Callable[[Any], Any]:
            attr = attrs.get(name)
            return operator.attrgetter(attr) if attr else (lambda _item: MISSING)

        for _rule, batch_rule in comp.batch_rules:
            if batch_rule.fast_ok is None or not batch_rule.fast_ok(items, getter):
                return False
    return True
