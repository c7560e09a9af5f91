"""The schema side of validation, in two forms built from the same resolved schema.

* Fast path: msgspec Struct types generated from the schema. Decoding into them
  proves in C that a body has the right types, required members, enums, lengths,
  date-times and no unknown members. They may be stricter than JSON Schema (a
  ``1.0`` for an integer is refused), never more lenient: a refusal only sends the
  body to the slow path, which decides.
* Slow path: jsonschema-rs over the parsed value, every error mapped to a
  ``schema.*`` rule id with the pointer of the offending member.
"""

from __future__ import annotations

import functools
import keyword
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Annotated, Any, Literal

import msgspec

from ..domain import join_pointer, unescape_token
from ..formats import DATE_TIME_PATTERN, is_date_time
from ..specs import SCHEMA_NAME

# Formats we can assert identically on both paths; any other format disables the fast path.
FAST_FORMATS = {"date-time": DATE_TIME_PATTERN}
NUMBER_FORMATS = {"int32", "int64", "float", "double"}  # OpenAPI annotations on numbers
# Keywords that assert nothing (both engines of the slow path and the fast path skip them).
ANNOTATIONS = {
    "description", "title", "example", "examples", "default", "readOnly", "writeOnly",
    "deprecated", SCHEMA_NAME,
}  # fmt: skip
_SUPPORTED = {
    "type", "properties", "required", "items", "enum", "maxLength", "minLength",
    "minItems", "maxItems", "format", "additionalProperties", *ANNOTATIONS,
}  # fmt: skip


class _Unsupported(Exception):
    pass


def _meta(schema: Mapping[str, Any], with_format: bool = True) -> msgspec.Meta | None:
    kwargs: dict[str, Any] = {}
    if "maxLength" in schema:
        kwargs["max_length"] = schema["maxLength"]
    if "minLength" in schema:
        kwargs["min_length"] = schema["minLength"]
    if "minItems" in schema:
        kwargs["min_length"] = schema["minItems"]
    if "maxItems" in schema:
        kwargs["max_length"] = schema["maxItems"]
    fmt = schema.get("format")
    if fmt is not None and schema.get("type") == "string" and with_format:
        if fmt not in FAST_FORMATS:
            raise _Unsupported(f"format {fmt}")
        kwargs["pattern"] = FAST_FORMATS[fmt]
    return msgspec.Meta(**kwargs) if kwargs else None


def _annotate(tp: Any, schema: Mapping[str, Any], with_format: bool = True) -> Any:
    meta = _meta(schema, with_format)
    return Annotated[tp, meta] if meta is not None else tp


class _StructBuilder:
    def __init__(self, defer_formats_in: Collection[int]) -> None:
        self.count = 0
        self.attr_names: dict[type, dict[str, str]] = {}
        self.struct_by_schema: dict[int, type] = {}
        self.defer_formats_in = defer_formats_in
        self.deferred: dict[type, dict[str, str]] = {}

    def type_for(self, schema: Any) -> Any:
        if not isinstance(schema, Mapping):
            raise _Unsupported("non-object schema")
        extra = [k for k in schema if k not in _SUPPORTED and not k.startswith("x-")]
        if extra:
            raise _Unsupported(f"keywords {extra}")
        types = schema.get("type")
        if isinstance(types, list):
            non_null = [t for t in types if t != "null"]
            if len(non_null) != 1 or len(types) > 2:
                raise _Unsupported("type lists")
            inner = self.type_for({**schema, "type": non_null[0]})
            return inner | None if "null" in types else inner
        if "enum" in schema:
            values = schema["enum"]
            if (
                not values
                or not all(isinstance(v, str) for v in values)
                or types not in (None, "string")
            ):
                raise _Unsupported("non-string enum")
            return Literal[tuple(values)]
        if types == "string":
            return _annotate(str, schema)
        if types == "integer":
            fmt = schema.get("format")
            if fmt is not None and fmt not in NUMBER_FORMATS:
                raise _Unsupported(f"format {fmt}")
            return int
        if types == "number":
            fmt = schema.get("format")
            if fmt is not None and fmt not in NUMBER_FORMATS:
                raise _Unsupported(f"format {fmt}")
            return float
        if types == "boolean":
            return bool
        if types == "array":
            return _annotate(list[self.type_for(schema.get("items", {}))], schema)  # type: ignore[misc]
        if types == "object" or (types is None and "properties" in schema):
            return self.struct_for(schema)
        raise _Unsupported(f"type {types!r}")

    def struct_for(self, schema: Mapping[str, Any]) -> type:
        if schema.get("additionalProperties") not in (None, False, True):
            raise _Unsupported("additionalProperties schema")
        props: Mapping[str, Any] = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        if required - set(props):
            raise _Unsupported("required member without a property schema")
        self.count += 1
        fields: list[Any] = []
        optional: list[Any] = []
        rename: dict[str, str] = {}
        attr_names: dict[str, str] = {}
        deferred: dict[str, str] = {}
        for index, (name, sub) in enumerate(props.items()):
            attr = (
                name
                if name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("_")
                else f"f{index}_"
            )
            attr_names[name] = attr
            rename[attr] = name
            if (
                id(schema) in self.defer_formats_in
                and isinstance(sub, Mapping)
                and sub.get("type") == "string"
                and sub.get("format") in FAST_FORMATS
                and "enum" not in sub
            ):
                # The caller checks this format column by column (fast_columns).
                self.type_for(sub)  # still refuses what the fast path cannot assert
                tp = _annotate(str, sub, with_format=False)
                deferred[name] = sub["format"]
            else:
                tp = self.type_for(sub)
            if name in required:
                fields.append((attr, tp))
            else:
                optional.append((attr, tp | msgspec.UnsetType, msgspec.UNSET))
        # Unknown members are a warning (common.unknown-field): refuse them here so the
        # slow path reports them.
        struct = msgspec.defstruct(
            f"{schema.get(SCHEMA_NAME, 'Object')}_{self.count}",
            fields + optional,
            forbid_unknown_fields=True,
            rename=rename,
            # Decoded values are plain data without cycles: untracked Structs decode faster.
            gc=False,
        )
        self.attr_names[struct] = attr_names
        self.struct_by_schema[id(schema)] = struct
        if deferred:
            self.deferred[struct] = deferred
        return struct


class FastType(msgspec.Struct, frozen=True):
    """A msgspec type for a schema, and the attribute names of every generated Struct."""

    type: Any
    attr_names: Mapping[type, Mapping[str, str]]
    struct_by_schema: Mapping[int, type]  # id(object schema) -> its Struct
    decoder: msgspec.json.Decoder[Any]
    # Struct -> member -> format its decoder does not assert: the caller must.
    deferred: Mapping[type, Mapping[str, str]]

    def attrs_for(self, struct_type: Any) -> Mapping[str, str]:
        return self.attr_names.get(struct_type, {})


def fast_type(schema: Mapping[str, Any], defer_formats_in: Collection[int] = ()) -> FastType | None:
    """The msgspec form of a schema, or None when it uses what msgspec cannot assert.

    Formats of the object schemas in ``defer_formats_in`` (by id) are left to the
    caller: a regex per value called from inside the decoder costs more than the
    whole decode, one regex run per column (:func:`formats.all_date_times`) a tenth.
    """
    builder = _StructBuilder(defer_formats_in)
    try:
        tp = builder.type_for(schema)
    except _Unsupported:
        return None
    return FastType(
        tp,
        builder.attr_names,
        builder.struct_by_schema,
        msgspec.json.Decoder(tp),
        builder.deferred,
    )


# ------------------------------------------------------------------ slow path

_KIND_RULE = {
    "Required": "schema.required",
    "Type": "schema.type",
    "Enum": "schema.enum",
    "Constant": "schema.enum",
    "MaxLength": "schema.maxLength",
    "MinLength": "schema.minLength",
    "MinItems": "schema.minItems",
    "MaxItems": "schema.maxItems",
    "Format": "schema.format",
    "Pattern": "schema.pattern",
    "Minimum": "schema.minimum",
    "ExclusiveMinimum": "schema.minimum",
    "Maximum": "schema.maximum",
    "ExclusiveMaximum": "schema.maximum",
    "AdditionalProperties": "schema.additional",
    "UnevaluatedProperties": "schema.additional",
    "FalseSchema": "schema.additional",
}
_JSON_TYPE = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


class SchemaError(msgspec.Struct, frozen=True):
    rule: str
    pointer: str
    member: str | None  # the member name the error is about (for vendor codes)
    parent_pointer: str  # the object holding it (for schema lookup)
    message: str


def closest(name: str, candidates: Any, cutoff: float = 0.5) -> str | None:
    """The candidate a human most likely meant, or None (difflib, then case-insensitive)."""
    return _closest(name, tuple(candidates), cutoff)


@functools.lru_cache(maxsize=4096)
def _closest(name: str, candidates: tuple[Any, ...], cutoff: float) -> str | None:
    # Cached: a wrong value tends to repeat across the items of a batch.
    import difflib

    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=cutoff)
    if not found:
        lowered = {str(c).lower(): str(c) for c in candidates}
        return lowered.get(name.lower())
    return str(found[0])


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class SlowValidator:
    """jsonschema-rs over a resolved schema, errors as :class:`SchemaError`."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        import jsonschema_rs

        self.schema = dict(schema)
        self._validator = jsonschema_rs.Draft202012Validator(
            self.schema,
            validate_formats=True,
            formats={"date-time": is_date_time},
        )

    def is_valid(self, instance: Any) -> bool:
        return bool(self._validator.is_valid(instance))

    def iter_errors(self, instance: Any) -> Iterator[SchemaError]:
        for error in self._validator.iter_errors(instance):
            yield self._convert(error, instance)

    def _convert(self, error: Any, instance: Any) -> SchemaError:
        kind = type(error.kind).__name__
        path = list(error.instance_path)
        rule = _KIND_RULE.get(kind, "schema.other")
        value = error.instance
        member = str(path[-1]) if path and isinstance(path[-1], str) else None
        parent = join_pointer(path[:-1]) if path else ""
        where = f"`{member}`" if member else ("the body" if not path else f"item {path[-1]}")
        sub_schema = _schema_at(self.schema, list(error.schema_path))
        if kind == "Required":
            member = str(error.kind.property)
            present = value.keys() if isinstance(value, dict) else ()
            message = required_message(member, present, sub_schema.get("properties") or {})
            return SchemaError(
                rule, join_pointer([*path, member]), member, join_pointer(path), message
            )
        pointer = join_pointer(path)
        if kind == "Type":
            message = type_message(where, sub_schema.get("type", "another type"), value)
        elif kind in ("Enum", "Constant"):
            message = enum_message(
                where, sub_schema.get("enum") or [sub_schema.get("const")], value
            )
        elif kind == "MaxLength":
            message = max_length_message(where, value, sub_schema.get("maxLength"))
        elif kind == "MinLength":
            message = min_length_message(where, value, sub_schema.get("minLength"))
        elif kind == "MinItems":
            message = (
                f"{where} has {len(value)} items; at least {sub_schema.get('minItems')} required"
            )
        elif kind == "Format":
            message = format_message(where, value, sub_schema.get("format"))
        elif kind == "AdditionalProperties":
            extras = [str(x) for x in error.kind.unexpected]
            member = extras[0] if extras else member
            pointer = join_pointer([*path, member]) if member else pointer
            parent = join_pointer(path)
            message = additional_message(member)
        else:
            message = f"{where}: {error.message}"
        return SchemaError(rule, pointer, member, parent, message)


# Messages of schema violations, one function each: the jsonschema-rs path above and
# the column diagnosis of batch items (slow_columns) say the same thing the same way.


def required_message(member: str, present: Iterable[str], properties: Mapping[str, Any]) -> str:
    message = f"`{member}` is required"
    # Only members the schema does not define are candidates, so a looser match is
    # safe (it finds the vendor's later name `balanceAt` for `updateAt`).
    unknown = [k for k in present if k not in properties]
    guess = closest(member, unknown, cutoff=0.4) if unknown else None
    if guess:
        message += f"; the object has `{guess}` instead (misspelt, or another version's name?)"
        return f"{message}. Fix: rename `{guess}` to `{member}`"
    return f"{message}. Fix: add `{member}`"


def type_message(where: str, expected: Any, value: Any) -> str:
    expected_text = " or ".join(expected) if isinstance(expected, list) else str(expected)
    actual = _JSON_TYPE.get(type(value), type(value).__name__)
    return f"{where} must be {expected_text}, got {actual} {_describe(value)}"


def enum_message(where: str, allowed: list[Any], value: Any) -> str:
    guess = closest(str(value), [str(a) for a in allowed]) if isinstance(value, str) else None
    message = f"{where} must be one of {', '.join(map(str, allowed))}; got {_describe(value)}"
    return f"{message}. Fix: did you mean {guess}?" if guess else message


def max_length_message(where: str, value: Any, bound: Any) -> str:
    return f"{where} is {len(value)} characters long; at most {bound} allowed"


def min_length_message(where: str, value: Any, bound: Any) -> str:
    return f"{where} is {len(value)} characters long; at least {bound} required"


def format_message(where: str, value: Any, fmt: Any) -> str:
    hint = " (RFC 3339, e.g. 2023-09-05T08:07:34.605Z)" if fmt == "date-time" else ""
    return f"{where} {_describe(value)} is not a valid {fmt}{hint}"


def additional_message(member: str | None) -> str:
    return f"`{member}` is not allowed here"


def _schema_at(schema: Mapping[str, Any], schema_path: list[Any]) -> Mapping[str, Any]:
    """The sub-schema holding the failed keyword (schema_path ends with the keyword)."""
    node: Any = schema
    for token in schema_path[:-1]:
        try:
            node = node[int(token)] if isinstance(node, list) else node[token]
        except (KeyError, IndexError, ValueError, TypeError):
            return {}
    return node if isinstance(node, Mapping) else {}


def schema_at_pointer(schema: Mapping[str, Any], pointer: str) -> Mapping[str, Any] | None:
    """The schema that describes the value at ``pointer`` (properties/items only)."""
    node: Any = schema
    for token in pointer.split("/")[1:] if pointer else []:
        token = unescape_token(token)
        if not isinstance(node, Mapping):
            return None
        if "properties" in node and token in node["properties"]:
            node = node["properties"][token]
        elif "items" in node and token.isdigit():
            node = node["items"]
        else:
            return None
    return node if isinstance(node, Mapping) else None
