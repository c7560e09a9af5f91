"""Differences between two API descriptions, classified breaking / non-breaking for a client.

Each side is a vendor revision (``2024-11-05``, ``latest``), a bundled spec name or a
spec file. Operations are paired by operationId (then by method and path); within a
pair the request body, the parameters and every response are compared schema by
schema. Change kinds are named as oasdiff names them where it has a name
(``request-property-became-required``, ``response-property-enum-value-added``, ...);
``CHANGE_KINDS`` is the one table of kinds and their severity.

Severity follows the direction of the data. A request schema that accepts less
(narrower enum, shorter maxLength, a new format) breaks a client that sends what was
valid before; a response schema that may send more (wider enum, longer maxLength)
breaks a client that reads it. A member removed or renamed breaks both ways.

A member is reported *renamed* rather than removed and added when the evidence is
there: it is gone, the new one stands at the same position among the properties (same
predecessor or same index), and their descriptions are the same or similar (or both
have none and their types agree).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import revisions as revisions_mod
from .specs import Operation, SpecError, list_bundled, load

Severity = Literal["breaking", "non-breaking"]
BREAKING: Severity = "breaking"
NON_BREAKING: Severity = "non-breaking"

# Where a schema sits decides which way a constraint breaks a client.
REQUEST_PROPERTY, REQUEST_PARAMETER, RESPONSE_PROPERTY = (
    "request-property",
    "request-parameter",
    "response-property",
)
SCHEMA_PREFIXES = (REQUEST_PROPERTY, REQUEST_PARAMETER, RESPONSE_PROPERTY)

# Effect of a constraint change on the set of values the schema allows.
TIGHTER, LOOSER, CHANGED = "tighter", "looser", "changed"

# Minimum similarity of two descriptions for a rename (difflib ratio, 0..1).
RENAME_SIMILARITY = 0.6


@dataclass(frozen=True)
class ChangeKind:
    id: str
    severity: Severity
    text: str  # format fields: where, member, subject (where: member), old, new


def _kinds() -> dict[str, ChangeKind]:
    """The table: operation-level kinds as written, schema-level kinds per location."""
    plain: list[tuple[str, Severity, str]] = [
        ("api-removed", BREAKING, "operation removed ({old})"),
        ("api-added", NON_BREAKING, "operation added ({new})"),
        ("api-method-changed", BREAKING, "method changed from {old} to {new}"),
        ("api-path-changed", BREAKING, "path changed from {old} to {new}"),
        ("api-base-path-changed", BREAKING, "server base path changed from {old} to {new}"),
        ("api-operation-id-changed", NON_BREAKING, "operationId changed from {old} to {new}"),
        ("api-security-added", BREAKING, "authentication became required"),
        ("api-security-removed", NON_BREAKING, "authentication is no longer required"),
        ("request-body-added", BREAKING, "a request body became expected"),
        ("request-body-removed", BREAKING, "the request body was removed"),
        ("request-body-became-required", BREAKING, "the request body became required"),
        ("request-body-became-optional", NON_BREAKING, "the request body became optional"),
        ("request-body-media-type-removed", BREAKING, "request media type {old} removed"),
        ("request-body-media-type-added", NON_BREAKING, "request media type {new} added"),
        ("response-success-status-removed", BREAKING, "{where} removed"),
        ("response-non-success-status-removed", NON_BREAKING, "{where} removed"),
        ("response-success-status-added", NON_BREAKING, "{where} added"),
        ("response-non-success-status-added", NON_BREAKING, "{where} added"),
        ("response-media-type-removed", BREAKING, "{where}: media type {old} removed"),
        ("response-media-type-added", NON_BREAKING, "{where}: media type {new} added"),
        ("new-required-request-parameter", BREAKING, "{where} added, required"),
        ("new-optional-request-parameter", NON_BREAKING, "{where} added, optional"),
        ("request-parameter-removed", BREAKING, "{where} removed"),
        ("request-parameter-became-required", BREAKING, "{where} became required"),
        ("request-parameter-became-optional", NON_BREAKING, "{where} became optional"),
        ("new-required-request-property", BREAKING, "{where}: {member} added, required"),
        ("new-optional-request-property", NON_BREAKING, "{where}: {member} added, optional"),
        ("request-property-removed", BREAKING, "{where}: {member} removed"),
        ("request-property-renamed", BREAKING, "{where}: {old} renamed to {new}"),
        ("request-property-became-required", BREAKING, "{where}: {member} became required"),
        ("request-property-became-optional", NON_BREAKING, "{where}: {member} became optional"),
        ("response-property-added", NON_BREAKING, "{where}: {member} added"),
        ("response-property-removed", BREAKING, "{where}: {member} removed"),
        ("response-property-renamed", BREAKING, "{where}: {old} renamed to {new}"),
        ("response-property-became-optional", BREAKING, "{where}: {member} became optional"),
        ("response-property-became-required", NON_BREAKING, "{where}: {member} became required"),
    ]
    # Constraint kinds: suffix, effect on the allowed values, text.
    constraints: list[tuple[str, str, str]] = [
        ("type-changed", CHANGED, "type changed from {old} to {new}"),
        ("type-generalized", LOOSER, "type widened from {old} to {new}"),
        ("type-specialized", TIGHTER, "type narrowed from {old} to {new}"),
        ("format-set", TIGHTER, "format {new} set"),
        ("format-unset", LOOSER, "format {old} removed"),
        ("format-changed", CHANGED, "format changed from {old} to {new}"),
        ("pattern-set", TIGHTER, "pattern {new} set"),
        ("pattern-unset", LOOSER, "pattern {old} removed"),
        ("pattern-changed", CHANGED, "pattern changed from {old} to {new}"),
        ("enum-set", TIGHTER, "restricted to the values {new}"),
        ("enum-unset", LOOSER, "no longer restricted to the values {old}"),
        ("enum-value-removed", TIGHTER, "enum value {old} removed"),
        ("enum-value-added", LOOSER, "enum value {new} added"),
    ]
    for name, keyword in BOUNDS:
        tighten, loosen = (
            ("decreased", "increased") if keyword.startswith("max") else ("increased", "decreased")
        )
        constraints += [
            (f"{name}-{tighten}", TIGHTER, f"{keyword} {tighten} from {{old}} to {{new}}"),
            (f"{name}-{loosen}", LOOSER, f"{keyword} {loosen} from {{old}} to {{new}}"),
            (f"{name}-set", TIGHTER, f"{keyword} {{new}} set"),
            (f"{name}-unset", LOOSER, f"{keyword} {{old}} removed"),
        ]
    table = {kind_id: ChangeKind(kind_id, sev, text) for kind_id, sev, text in plain}
    for prefix in SCHEMA_PREFIXES:
        breaks = {CHANGED, LOOSER if prefix == RESPONSE_PROPERTY else TIGHTER}
        for suffix, effect, text in constraints:
            kind_id = f"{prefix}-{suffix}"
            severity = BREAKING if effect in breaks else NON_BREAKING
            table[kind_id] = ChangeKind(kind_id, severity, "{subject} " + text)
    return table


# Numeric bounds: kind name, JSON Schema keyword (max* tighten downwards, min* upwards).
BOUNDS = (
    ("max-length", "maxLength"),
    ("min-length", "minLength"),
    ("max", "maximum"),
    ("min", "minimum"),
    ("max-items", "maxItems"),
    ("min-items", "minItems"),
)
CHANGE_KINDS: dict[str, ChangeKind] = _kinds()


@dataclass(frozen=True)
class Change:
    kind: str
    operation_id: str
    method: str
    path: str
    where: str = ""
    member: str = ""
    old: Any = None
    new: Any = None

    @property
    def severity(self) -> Severity:
        return CHANGE_KINDS[self.kind].severity

    @property
    def message(self) -> str:
        where = self.where or "operation"
        return CHANGE_KINDS[self.kind].text.format(
            where=where,
            member=self.member,
            subject=f"{where}: {self.member}" if self.member else where,
            old=_show(self.old),
            new=_show(self.new),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.kind,
            "severity": self.severity,
            "operationId": self.operation_id,
            "method": self.method,
            "path": self.path,
            "where": self.where,
            "member": self.member,
            "old": self.old,
            "new": self.new,
            "message": self.message,
        }


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


@dataclass
class DiffReport:
    old: str
    new: str
    changes: list[Change] = field(default_factory=list)

    @property
    def breaking(self) -> list[Change]:
        return [c for c in self.changes if c.severity == BREAKING]

    @property
    def non_breaking(self) -> list[Change]:
        return [c for c in self.changes if c.severity == NON_BREAKING]


# --- sides ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    label: str
    is_revision: bool
    operations: Mapping[str, Operation]


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def load_side(text: str) -> Side:
    """A revision date or ``latest``, a spec file, or a bundled spec name."""
    try:
        return _load_side(text)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        # A document that parses but is not shaped like OpenAPI (e.g. `paths` a list).
        raise SpecError(f"{text}: not a usable OpenAPI document ({exc!r})") from None


def _load_side(text: str) -> Side:
    if revisions_mod.is_revision(text):
        return Side(text, True, revisions_mod.resolve(text).operations())
    if _DATE.match(text) and not Path(text).exists():
        revisions_mod.resolve(text)  # raises: unknown revision, naming the known ones
    if not Path(text).exists() and text not in list_bundled():
        raise SpecError(
            f"{text}: no such spec file, revision ({', '.join(revisions_mod.names())}, "
            f"{revisions_mod.LATEST}) or bundled spec ({', '.join(list_bundled())})"
        )
    side = Side(text, False, load(text).operations)
    for op in side.operations.values():  # touch what the comparison reads
        _ = op.base_path, op.security_required, _parameters(op)
    return side


def _pair(
    old: Side, new: Side
) -> tuple[list[tuple[Operation, Operation]], list[Operation], list[Operation]]:
    pairs = [
        (op, new.operations[oid]) for oid, op in old.operations.items() if oid in new.operations
    ]
    removed = [op for oid, op in old.operations.items() if oid not in new.operations]
    added = [op for oid, op in new.operations.items() if oid not in old.operations]
    # An operation whose id changed: the same method and path on both sides.
    for op in list(removed):
        same = [n for n in added if (n.method, n.path) == (op.method, op.path)]
        if len(same) == 1:
            pairs.append((op, same[0]))
            removed.remove(op)
            added.remove(same[0])
    # A revision against one spec file: only the file's operations are in question.
    if old.is_revision != new.is_revision:
        if old.is_revision:
            removed = []
        else:
            added = []
        if not pairs:
            raise SpecError(
                f"no operation of {new.label if old.is_revision else old.label} is in "
                f"revision {old.label if old.is_revision else new.label}"
            )
    return pairs, removed, added


def diff(old: Side, new: Side) -> DiffReport:
    report = DiffReport(old.label, new.label)
    pairs, removed, added = _pair(old, new)
    for op in removed:
        report.changes.append(
            Change("api-removed", op.operation_id, op.method, op.path, old=_signature(op))
        )
    for old_op, new_op in pairs:
        report.changes.extend(_OperationDiff(old_op, new_op).run())
    for op in added:
        report.changes.append(
            Change("api-added", op.operation_id, op.method, op.path, new=_signature(op))
        )
    return report


def diff_sources(old: str, new: str) -> DiffReport:
    return diff(load_side(old), load_side(new))


def _signature(op: Operation) -> str:
    return f"{op.operation_id} {op.method} {op.path}"


# --- comparing one operation ----------------------------------------------------------------


def _parameters(op: Operation) -> dict[tuple[str, str], dict[str, Any]]:
    """Path-item and operation parameters by (name, in); the operation's win."""
    path_item = _mapping(_mapping(op.spec.resolved.get("paths")).get(op.path))
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for source in (path_item.get("parameters"), op.definition.get("parameters")):
        for param in source if isinstance(source, list) else []:
            if isinstance(param, dict):
                found[(str(param.get("name", "")), str(param.get("in", "")))] = param
    return found


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _names(value: Any) -> set[str]:
    return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _types(schema: Mapping[str, Any]) -> set[str]:
    raw = schema.get("type")
    found = {raw} if isinstance(raw, str) else _names(raw)
    if not found and "properties" in schema:
        found = {"object"}
    return found


def _widened(types: set[str]) -> set[str]:
    return types | {"integer"} if "number" in types else types


def _description(schema: Mapping[str, Any]) -> str:
    return " ".join(str(schema.get("description") or "").lower().split())


def _similar(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    da, db = _description(a), _description(b)
    if not da and not db:
        return _types(a) == _types(b)
    return difflib.SequenceMatcher(None, da, db).ratio() >= RENAME_SIMILARITY


def _renames(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Pairs (gone, new) that stand at the same position with similar descriptions."""
    old_names, new_names = list(old), list(new)
    gone = [n for n in old_names if n not in new]
    fresh = [n for n in new_names if n not in old]
    pairs: list[tuple[str, str]] = []
    for name in gone:
        at = old_names.index(name)
        before = old_names[at - 1] if at else None
        for candidate in fresh:
            here = new_names.index(candidate)
            same_place = here == at or (new_names[here - 1] if here else None) == before
            if same_place and _similar(old[name], new[candidate]):
                pairs.append((name, candidate))
                fresh.remove(candidate)
                break
    return pairs


def _join(member: str, name: str) -> str:
    return f"{member}.{name}" if member else name


class _OperationDiff:
    def __init__(self, old: Operation, new: Operation) -> None:
        self.old, self.new = old, new
        self.changes: list[Change] = []

    def emit(
        self, kind: str, where: str = "", member: str = "", old: Any = None, new: Any = None
    ) -> None:
        self.changes.append(
            Change(
                kind, self.new.operation_id, self.new.method, self.new.path, where, member, old, new
            )
        )

    def run(self) -> list[Change]:
        old, new = self.old, self.new
        if old.operation_id != new.operation_id:
            self.emit("api-operation-id-changed", old=old.operation_id, new=new.operation_id)
        if old.method != new.method:
            self.emit("api-method-changed", old=old.method, new=new.method)
        if old.path != new.path:
            self.emit("api-path-changed", old=old.path, new=new.path)
        if old.base_path != new.base_path:
            self.emit("api-base-path-changed", old=old.base_path or "/", new=new.base_path or "/")
        if old.security_required != new.security_required:
            self.emit("api-security-added" if new.security_required else "api-security-removed")
        self._parameters()
        self._request_body()
        self._responses()
        return self.changes

    # parameters

    def _parameters(self) -> None:
        old, new = _parameters(self.old), _parameters(self.new)
        for key, param in old.items():
            where = f"parameter {key[0]} ({key[1]})"
            if key not in new:
                self.emit("request-parameter-removed", where)
                continue
            was, now = bool(param.get("required")), bool(new[key].get("required"))
            if was != now:
                self.emit(f"request-parameter-became-{'required' if now else 'optional'}", where)
            self._schema(param.get("schema"), new[key].get("schema"), REQUEST_PARAMETER, where, "")
        for key, param in new.items():
            if key not in old:
                required = "required" if param.get("required") else "optional"
                self.emit(f"new-{required}-request-parameter", f"parameter {key[0]} ({key[1]})")

    # request body

    def _request_body(self) -> None:
        old = self.old.definition.get("requestBody")
        new = self.new.definition.get("requestBody")
        if not isinstance(old, dict) or not isinstance(new, dict):
            if isinstance(old, dict) != isinstance(new, dict):
                self.emit("request-body-added" if isinstance(new, dict) else "request-body-removed")
            return
        if bool(old.get("required")) != bool(new.get("required")):
            self.emit(f"request-body-became-{'required' if new.get('required') else 'optional'}")
        for media, old_schema, new_schema in self._media(
            old, new, "request-body-media-type", "request body"
        ):
            where = "request body" if media == "application/json" else f"request body ({media})"
            self._schema(old_schema, new_schema, REQUEST_PROPERTY, where, "")

    def _media(
        self, old: Mapping[str, Any], new: Mapping[str, Any], kind: str, where: str
    ) -> Iterator[tuple[str, Any, Any]]:
        old_content, new_content = _mapping(old.get("content")), _mapping(new.get("content"))
        for media in old_content:
            if media not in new_content:
                self.emit(f"{kind}-removed", where, old=media)
        for media in new_content:
            if media not in old_content:
                self.emit(f"{kind}-added", where, new=media)
            elif isinstance(old_content[media], dict) and isinstance(new_content[media], dict):
                yield media, old_content[media].get("schema"), new_content[media].get("schema")

    # responses

    def _responses(self) -> None:
        old = _mapping(self.old.definition.get("responses"))
        new = _mapping(self.new.definition.get("responses"))
        for status in old:
            kind = "success" if str(status).startswith("2") else "non-success"
            if status not in new:
                self.emit(f"response-{kind}-status-removed", f"response {status}")
            elif isinstance(old[status], dict) and isinstance(new[status], dict):
                where = f"response {status}"
                for media, o, n in self._media(
                    old[status], new[status], "response-media-type", where
                ):
                    shown = where if media == "application/json" else f"{where} ({media})"
                    self._schema(o, n, RESPONSE_PROPERTY, shown, "")
        for status in new:
            if status not in old:
                kind = "success" if str(status).startswith("2") else "non-success"
                self.emit(f"response-{kind}-status-added", f"response {status}")

    # schemas

    def _schema(
        self, old: Any, new: Any, prefix: str, where: str, member: str, depth: int = 0
    ) -> None:
        if not isinstance(old, dict) or not isinstance(new, dict) or depth > 32:
            return  # a cycle left as $ref, or nothing to compare

        def emit(suffix: str, old_value: Any = None, new_value: Any = None) -> None:
            self.emit(f"{prefix}-{suffix}", where, member, old_value, new_value)

        self._type(old, new, emit)
        for keyword in ("format", "pattern"):
            was, now = old.get(keyword), new.get(keyword)
            if was != now:
                suffix = "set" if was is None else "unset" if now is None else "changed"
                emit(f"{keyword}-{suffix}", was, now)
        self._enum(old.get("enum"), new.get("enum"), emit)
        for name, keyword in BOUNDS:
            was, now = old.get(keyword), new.get(keyword)
            if was == now or not all(v is None or _number(v) for v in (was, now)):
                continue
            if was is None or now is None:
                emit(f"{name}-{'set' if was is None else 'unset'}", was, now)
            else:
                emit(f"{name}-{'increased' if now > was else 'decreased'}", was, now)
        if "properties" in old or "properties" in new:
            self._properties(old, new, prefix, where, member, depth)
        self._schema(old.get("items"), new.get("items"), prefix, where, f"{member}[]", depth + 1)
        for combinator in ("anyOf", "oneOf", "allOf"):
            # Branches are compared by position; a branch added or removed is not classified.
            was, now = old.get(combinator), new.get(combinator)
            if isinstance(was, list) and isinstance(now, list):
                for o, n in zip(was, now, strict=False):
                    self._schema(o, n, prefix, where, member, depth + 1)

    @staticmethod
    def _type(old: Mapping[str, Any], new: Mapping[str, Any], emit: Callable[..., None]) -> None:
        was, now = _types(old), _types(new)
        if not was or not now or was == now:
            return
        shown = (
            sorted(was) if len(was) > 1 else next(iter(was)),
            sorted(now) if len(now) > 1 else next(iter(now)),
        )
        if _widened(now) >= _widened(was):
            emit("type-generalized", *shown)
        elif _widened(now) <= _widened(was):
            emit("type-specialized", *shown)
        else:
            emit("type-changed", *shown)

    @staticmethod
    def _enum(was: Any, now: Any, emit: Callable[..., None]) -> None:
        if not isinstance(was, list) and not isinstance(now, list):
            return
        if not isinstance(was, list):
            emit("enum-set", None, now)
        elif not isinstance(now, list):
            emit("enum-unset", was, None)
        else:
            for value in was:
                if value not in now:
                    emit("enum-value-removed", value, None)
            for value in now:
                if value not in was:
                    emit("enum-value-added", None, value)

    def _properties(
        self,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
        prefix: str,
        where: str,
        member: str,
        depth: int,
    ) -> None:
        old_props, new_props = _mapping(old.get("properties")), _mapping(new.get("properties"))
        old_req, new_req = _names(old.get("required")), _names(new.get("required"))
        side = "response" if prefix == RESPONSE_PROPERTY else "request"
        renames = dict(_renames(old_props, new_props))
        for name, schema in old_props.items():
            new_name = name if name in new_props else renames.get(name)
            if new_name is None:
                self.emit(f"{side}-property-removed", where, _join(member, name))
                continue
            path = _join(member, new_name)
            if new_name != name:
                self.emit(f"{side}-property-renamed", where, path, _join(member, name), path)
            was, now = name in old_req, new_name in new_req
            if was != now:
                self.emit(
                    f"{side}-property-became-{'required' if now else 'optional'}", where, path
                )
            self._schema(schema, new_props[new_name], prefix, where, path, depth + 1)
        renamed_to = set(renames.values())
        for name in new_props:
            if name in old_props or name in renamed_to:
                continue
            if side == "response":
                self.emit("response-property-added", where, _join(member, name))
            else:
                required = "required" if name in new_req else "optional"
                self.emit(f"new-{required}-request-property", where, _join(member, name))


# --- output ---------------------------------------------------------------------------------


def _heading(change: Change) -> str:
    return f"{change.operation_id}  {change.method} {change.path}"


def render_text(report: DiffReport) -> str:
    lines = [f"{report.old} -> {report.new}"]
    current = None
    width = max((len(c.kind) for c in report.changes), default=0)
    for change in report.changes:
        if _heading(change) != current:
            current = _heading(change)
            lines.append(current)
        lines.append(f"  {change.severity:<12}  {change.kind:<{width}}  {change.message}")
    lines.append(_summary(report))
    return "\n".join(lines)


def _summary(report: DiffReport) -> str:
    if not report.changes:
        return "no differences"
    count = len(report.changes)
    return (
        f"{count} change{'s' if count != 1 else ''}: {len(report.breaking)} breaking, "
        f"{len(report.non_breaking)} non-breaking"
    )


def render_json(report: DiffReport) -> dict[str, Any]:
    return {
        "old": report.old,
        "new": report.new,
        "breaking": len(report.breaking),
        "nonBreaking": len(report.non_breaking),
        "changes": [c.to_dict() for c in report.changes],
    }


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: DiffReport) -> str:
    lines = [f"### `{report.old}` → `{report.new}`", "", f"**{_summary(report)}**"]
    if report.changes:
        lines += ["", "| Operation | Severity | Change | Detail |", "|---|---|---|---|"]
        for c in report.changes:
            operation = f"`{c.operation_id}` {c.method} `{c.path}`"
            severity = "**breaking**" if c.severity == BREAKING else "non-breaking"
            lines.append(f"| {operation} | {severity} | `{c.kind}` | {_cell(c.message)} |")
    return "\n".join(lines)
