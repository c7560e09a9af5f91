"""Bundled OpenAPI documents: listing, loading, `$ref` resolution, operation lookup.

A spec is loaded once per source and cached; `$ref`s are inlined once. Each inlined
component schema keeps its name under ``x-schema-name`` so that rules can target
"the AmlyzeAccountApi schema" wherever it appears. A user's own spec file or URL
loads the same way, so every command can be pointed at a newer vendor document.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec

from . import parse_cache
from .domain import unescape_token

SPEC_SUFFIXES = (".openapi.yaml", ".openapi.yml", ".openapi.json")
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
SCHEMA_NAME = "x-schema-name"


class SpecError(Exception):
    """A spec cannot be found, read or understood."""


def bundled_dir() -> Path:
    """The folder holding the bundled specs and rule files.

    Inside an installed wheel they are package data (``amlyze_contracts/_specs``);
    in a source checkout (editable install) they are the repository's ``specs/``.
    """
    return _bundled_dir(os.environ.get("AMLYZE_CONTRACTS_SPECS_DIR") or None)


@functools.lru_cache(maxsize=8)
def _bundled_dir(override: str | None) -> Path:
    # Cached: resolving the path costs a dozen system calls, and validate_request asks
    # for it once per body (a thousand small files in one CLI call).
    if override:
        return Path(override)
    here = Path(__file__).resolve().parent
    packaged = here / "_specs"
    if packaged.is_dir():
        return packaged
    return here.parent.parent / "specs"


def bundled_spec_files() -> list[Path]:
    root = bundled_dir()
    return sorted(p for p in root.iterdir() if p.name.endswith(SPEC_SUFFIXES))


def spec_name(path: Path | str) -> str:
    name = Path(str(path)).name
    for suffix in (*SPEC_SUFFIXES, ".yaml", ".yml", ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def list_bundled() -> list[str]:
    return [spec_name(p) for p in bundled_spec_files()]


def _parse_text(text: str, source: str) -> Any:
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"{source}: not valid JSON: {exc}") from None
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: not valid YAML: {exc}") from None


def read_document(source: str | Path) -> Any:
    """Read a YAML or JSON document from a path or an http(s) URL."""
    text_source = str(source)
    if text_source.startswith(("http://", "https://")):
        import urllib.request  # only for URLs: it pulls in ssl, http and email

        try:
            with urllib.request.urlopen(text_source, timeout=30) as resp:
                text = resp.read().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(f"{text_source}: cannot fetch: {exc}") from None
    else:
        cached = parse_cache.get(Path(text_source))
        if cached is not None:
            return cached
        try:
            text = Path(text_source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(f"{text_source}: cannot read: {exc}") from None
        document = _parse_text(text, text_source)
        parse_cache.put(Path(text_source), document)
        return document
    return _parse_text(text, text_source)


def _pointer_get(document: Any, pointer: str, source: str) -> Any:
    node = document
    for raw in pointer.lstrip("/").split("/") if pointer not in ("", "/") else []:
        token = unescape_token(_unquote(raw))
        try:
            node = node[int(token)] if isinstance(node, list) else node[token]
        except (KeyError, IndexError, ValueError, TypeError):
            raise SpecError(f"{source}: unresolvable $ref '#{pointer}'") from None
    return node


def _unquote(token: str) -> str:
    if "%" not in token:
        return token
    import urllib.parse  # only for percent-encoded $ref tokens

    return urllib.parse.unquote(token)


def resolve_refs(document: Any, source: str = "<spec>") -> Any:
    """Return a copy of ``document`` with every local ``$ref`` inlined.

    Sibling keywords next to a ``$ref`` (allowed in 3.1) are kept. Cycles are left
    as ``$ref`` (none of the bundled specs has one).
    """
    cache: dict[str, Any] = {}

    def walk(node: Any, stack: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                if not ref.startswith("#"):
                    raise SpecError(f"{source}: only local $refs are supported, got {ref!r}")
                target_ptr = ref[1:]
                if target_ptr in stack:
                    return dict(node)
                if target_ptr not in cache:
                    target = _pointer_get(document, target_ptr, source)
                    resolved = walk(target, (*stack, target_ptr))
                    if isinstance(resolved, dict) and target_ptr.startswith("/components/schemas/"):
                        resolved = {SCHEMA_NAME: target_ptr.rsplit("/", 1)[1], **resolved}
                    cache[target_ptr] = resolved
                siblings = {k: walk(v, stack) for k, v in node.items() if k != "$ref"}
                base = cache[target_ptr]
                return {**base, **siblings} if siblings and isinstance(base, dict) else base
            return {k: walk(v, stack) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, stack) for v in node]
        return node

    return walk(document, ())


class Operation(msgspec.Struct, frozen=True):
    """One operation of a spec, with its schemas already resolved."""

    operation_id: str
    method: str
    path: str
    spec: Spec
    definition: Mapping[str, Any]

    @property
    def base_path(self) -> str:
        """The path part of the first server URL, e.g. ``/brm/prepayBalanceManagement/{version}``."""
        servers = self.definition.get("servers") or self.spec.resolved.get("servers") or []
        if not servers:
            return ""
        url = str(servers[0].get("url", ""))
        import urllib.parse

        path = urllib.parse.urlsplit(url.replace("{{", "").replace("}}", "")).path
        return path.rstrip("/")

    @property
    def server_variables(self) -> dict[str, str]:
        servers = self.definition.get("servers") or self.spec.resolved.get("servers") or []
        if not servers:
            return {}
        return {
            name: str(var.get("default", ""))
            for name, var in (servers[0].get("variables") or {}).items()
        }

    @property
    def parameters(self) -> list[dict[str, Any]]:
        path_item = self.spec.resolved.get("paths", {}).get(self.path, {})
        params = {(p["name"], p["in"]): p for p in path_item.get("parameters", [])}
        params.update({(p["name"], p["in"]): p for p in self.definition.get("parameters", [])})
        return list(params.values())

    @property
    def request_schema(self) -> dict[str, Any] | None:
        body = self.definition.get("requestBody") or {}
        media = (body.get("content") or {}).get("application/json") or {}
        schema = media.get("schema")
        return schema if isinstance(schema, dict) else None

    @property
    def batch_item(self) -> tuple[str, dict[str, Any]] | None:
        """For a batch body ``{name: [item]}``: the array member's name and the item schema."""
        schema = self.request_schema
        if not schema:
            return None
        props = schema.get("properties") or {}
        arrays = [
            (name, sub["items"])
            for name, sub in props.items()
            if isinstance(sub, dict)
            and sub.get("type") == "array"
            and isinstance(sub.get("items"), dict)
        ]
        if len(arrays) == 1 and arrays[0][0] in (schema.get("required") or []):
            return arrays[0]
        return None

    @property
    def statuses(self) -> list[str]:
        return list((self.definition.get("responses") or {}).keys())

    def response(self, status: int | str) -> dict[str, Any] | None:
        responses = self.definition.get("responses") or {}
        key = str(status)
        if key in responses:
            return dict(responses[key])
        wildcard = f"{key[0]}XX" if len(key) == 3 else None
        if wildcard and wildcard in responses:
            return dict(responses[wildcard])
        default = responses.get("default")
        return dict(default) if default is not None else None

    def response_schema(self, status: int | str) -> dict[str, Any] | None:
        resp = self.response(status)
        if not resp:
            return None
        media = (resp.get("content") or {}).get("application/json") or {}
        schema = media.get("schema")
        return schema if isinstance(schema, dict) else None

    @property
    def security_required(self) -> bool:
        security = self.definition.get("security", self.spec.resolved.get("security"))
        return bool(security) and any(bool(req) for req in security)


class Spec(
    msgspec.Struct, frozen=True, eq=False, dict=True
):  # identity: loaded once per source and cached
    name: str
    source: str
    document: Mapping[str, Any]
    resolved: Mapping[str, Any]

    @functools.cached_property
    def operations(self) -> dict[str, Operation]:
        ops: dict[str, Operation] = {}
        for path, item in (self.resolved.get("paths") or {}).items():
            if not isinstance(item, dict):
                continue
            for method in HTTP_METHODS:
                op = item.get(method)
                if isinstance(op, dict) and op.get("operationId"):
                    ops[op["operationId"]] = Operation(
                        op["operationId"], method.upper(), path, self, op
                    )
        return ops

    @property
    def title(self) -> str:
        return str((self.resolved.get("info") or {}).get("title", self.name))

    @property
    def version(self) -> str:
        return str((self.resolved.get("info") or {}).get("version", ""))

    def component(self, name: str) -> dict[str, Any] | None:
        schemas = (self.resolved.get("components") or {}).get("schemas") or {}
        value = schemas.get(name)
        return value if isinstance(value, dict) else None


def spec_from_document(document: Any, source: str, name: str | None = None) -> Spec:
    if not isinstance(document, dict) or "openapi" not in document:
        raise SpecError(f"{source}: not an OpenAPI document (no 'openapi' member)")
    return Spec(name or spec_name(source), source, document, resolve_refs(document, source))


@functools.lru_cache(maxsize=32)
def _load_cached(source: str, mtime: float) -> Spec:
    return spec_from_document(read_document(source), source)


def load(name_or_source: str | Path) -> Spec:
    """Load a bundled spec by name (``batch-accounts``) or any spec by path or URL."""
    text = str(name_or_source)
    if text.startswith(("http://", "https://")):
        return _load_cached(text, 0.0)
    path = Path(text)
    if not path.exists() and text in list_bundled():
        path = next(p for p in bundled_spec_files() if spec_name(p) == text)
    if not path.exists():
        raise SpecError(
            f"{text}: no such spec file, and not a bundled spec "
            f"(bundled: {', '.join(list_bundled())})"
        )
    return _load_cached(str(path.resolve()), path.stat().st_mtime)


def load_bundled() -> list[Spec]:
    return [load(p) for p in bundled_spec_files()]


def iter_operations(specs: list[Spec] | None = None) -> Iterator[Operation]:
    for spec in specs if specs is not None else load_bundled():
        yield from spec.operations.values()


def operation(operation_id: str, specs: list[Spec] | None = None) -> Operation:
    """Find an operation by operationId among the given specs (default: the bundled ones).

    User specs come first in ``specs`` so that a newer vendor document overrides the
    bundled one for the same operationId.
    """
    known: list[str] = []
    for op in iter_operations(specs):
        if op.operation_id == operation_id:
            return op
        known.append(op.operation_id)
    raise SpecError(f"unknown operation {operation_id!r} (known: {', '.join(sorted(known))})")


def operation_ids(specs: list[Spec] | None = None) -> list[str]:
    return [op.operation_id for op in iter_operations(specs)]
