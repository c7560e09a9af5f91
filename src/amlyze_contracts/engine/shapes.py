"""Shape detection: which operation (and request, item or response) a body is.

A batch body is told apart by its array member alone; anything else is scored
against every operation's item and response schemas. The library uses it when no
operation is named, and ``amlyze-contracts validate`` for every file it is not told
about (:func:`detect_bytes`, which reads the bytes without diagnostics).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import msgspec

from ..domain import UTF8_BOM
from ..specs import Spec, operation, operation_ids


class _Shape(msgspec.Struct, frozen=True):
    operation_id: str
    kind: str  # item | response
    properties: frozenset[str]
    required: frozenset[str]


@functools.lru_cache(maxsize=16)
def _shape_index(specs: tuple[Spec, ...] | None) -> tuple[dict[str, str], list[_Shape]]:
    """Batch member names -> operation, and the item/response shapes to score, once."""
    batch_keys: dict[str, str] = {}
    shapes: list[_Shape] = []
    for op_id in operation_ids(list(specs) if specs else None):
        op = operation(op_id, list(specs) if specs else None)
        batch = op.batch_item
        candidates: list[tuple[str, Mapping[str, Any] | None]] = []
        if batch:
            batch_keys.setdefault(batch[0], op_id)
            candidates.append(("item", batch[1]))
        if op.method == "GET":
            candidates.append(("response", op.response_schema(200)))
        elif not batch:
            # A single operation (createAccount, registerAccountBalance): its body has
            # the shape of a batch item, and wins over it (see detect_operation).
            candidates.append(("request", op.request_schema))
        for kind, schema in candidates:
            if schema and isinstance(schema.get("properties"), Mapping):
                props = frozenset(schema["properties"])
                shapes.append(_Shape(op_id, kind, props, frozenset(schema.get("required") or ())))
    return batch_keys, shapes


def detect_operation(value: Any, specs: list[Spec] | None = None) -> tuple[str, str] | None:
    """(operationId, kind) for a parsed body, kind being request | item | response."""
    if not isinstance(value, dict):
        return None
    batch_keys, shapes = _shape_index(tuple(specs) if specs else None)
    for key, op_id in batch_keys.items():
        if key in value:
            return op_id, "request"
    keys = set(value)
    best: tuple[float, str, str] | None = None
    for shape in shapes:
        overlap = len(keys & shape.properties) / max(len(keys), 1)
        needed = len(keys & shape.required) / len(shape.required) if shape.required else overlap
        score = min(overlap, needed)
        if score >= 0.6 and (
            best is None
            or score > best[0]
            or (score == best[0] and shape.kind == "request" != best[2])
        ):
            best = (score, shape.operation_id, shape.kind)
    return (best[1], best[2]) if best else None


def detect_bytes(data: bytes, specs: list[Spec] | None = None) -> tuple[str, str] | None:
    """:func:`detect_operation` for the bytes of a body (None when they are not JSON)."""
    import orjson

    try:
        # A BOM is reported by the validator; it must not hide the shape.
        value = orjson.loads(data[3:] if data.startswith(UTF8_BOM) else data)
    except orjson.JSONDecodeError:
        return None
    return detect_operation(value, specs)
