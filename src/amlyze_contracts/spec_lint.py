"""Lint OpenAPI documents: structure (openapi-spec-validator) and examples against their schemas.

Rules:

* ``spec.invalid``: the document breaks the OpenAPI specification (openapi-spec-validator),
  or a ``$ref`` cannot be resolved, or a schema cannot be compiled;
* ``spec.example-mismatch``: an example (media type, parameter or header; ``example`` or a
  named ``examples`` entry) does not validate against its own schema (JSON Schema 2020-12,
  formats asserted), or holds a value JSON cannot carry (an unquoted YAML timestamp);
* ``spec.unreadable``: the file cannot be read or parsed.

A vendor document that contradicts its own examples (the published batch-accounts spec
does) is exactly what this catches, so every correction in ``specs/ERRATA.md`` stays honest.
"""

from __future__ import annotations

import datetime as _dt
import json
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

from .domain import join_pointer, unescape_token
from .specs import HTTP_METHODS, SpecError, resolve_refs
from .violations import Violation

RULE_INVALID = "spec.invalid"
RULE_EXAMPLE = "spec.example-mismatch"
RULE_UNREADABLE = "spec.unreadable"
RULES = (RULE_INVALID, RULE_EXAMPLE, RULE_UNREADABLE)

# Cap per example so that one wrong array of 10,000 items does not drown the report.
MAX_ERRORS_PER_EXAMPLE = 20


# --- JSON pointers -------------------------------------------------------------------------


def split_pointer(pointer: str) -> list[str]:
    """RFC 6901 tokens; a ``$ref`` fragment may also be percent-encoded."""
    if pointer in ("", "/"):
        return []
    return [unescape_token(urllib.parse.unquote(raw)) for raw in pointer.lstrip("/").split("/")]


def _get(document: Any, tokens: Sequence[str]) -> Any:
    node = document
    for token in tokens:
        if isinstance(node, dict):
            if token not in node:
                raise KeyError(token)
            node = node[token]
        elif isinstance(node, list):
            node = node[int(token)]
        else:
            raise KeyError(token)
    return node


# --- positions in YAML text ----------------------------------------------------------------


@dataclass(frozen=True)
class _Positions:
    """The composed YAML node tree, to map a JSON pointer to a 1-based line and column."""

    root: yaml.Node

    def at(self, tokens: Sequence[str | int]) -> tuple[int | None, int | None]:
        # The deepest existing node: a missing member is reported at its parent object.
        node: yaml.Node = self.root
        for token in tokens:
            child = self._child(node, str(token))
            if child is None:
                break
            node = child
        return node.start_mark.line + 1, node.start_mark.column + 1

    @staticmethod
    def _child(node: yaml.Node, token: str) -> yaml.Node | None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == token:
                    return value  # type: ignore[no-any-return]
            return None
        if isinstance(node, yaml.SequenceNode):
            try:
                index = int(token)
            except ValueError:
                return None
            items: list[yaml.Node] = node.value
            return items[index] if 0 <= index < len(items) else None
        return None


# --- JSON compatibility --------------------------------------------------------------------


def _non_json(
    value: Any, tokens: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Values YAML can produce but JSON cannot carry (timestamps, binary, sets)."""
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _non_json(sub, (*tokens, str(key)))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            yield from _non_json(sub, (*tokens, index))
    elif not (value is None or isinstance(value, str | int | float | bool)):
        yield tokens, value


def jsonable(value: Any) -> Any:
    """A JSON-compatible copy: timestamps become ISO strings, keys become strings."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return [jsonable(v) for v in sorted(value, key=repr)]
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value


def _has_ref(node: Any) -> bool:
    if isinstance(node, dict):
        return "$ref" in node or any(_has_ref(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_ref(v) for v in node)
    return False


# --- the linter ----------------------------------------------------------------------------


class _Linter:
    def __init__(self, document: dict[str, Any], source: str, positions: _Positions | None) -> None:
        self.document = document
        self.source = source
        self.positions = positions
        self.violations: list[Violation] = []
        self.resolved: Any = None
        self._seen_containers: set[str] = set()

    def add(self, rule: str, tokens: Sequence[str | int], message: str) -> None:
        line, column = self.positions.at(tokens) if self.positions else (None, None)
        self.violations.append(
            Violation(rule, "error", join_pointer(tokens), message, line=line, column=column)
        )

    # structure ----------------------------------------------------------------------------

    def check_structure(self) -> None:
        try:
            from openapi_spec_validator.shortcuts import get_validator_cls
        except ImportError:  # pragma: no cover - depends on the environment
            raise SpecError(
                "openapi-spec-validator is not installed: pip install 'amlyze-contracts[lint]' "
                "(or lint examples only)"
            ) from None
        document = jsonable(self.document)
        try:
            validator = get_validator_cls(document)(document)
            # The validator can raise in the middle of its iteration (e.g. on a $ref it
            # cannot follow): keep what it found so far and report the rest as one error.
            for error in validator.iter_errors():
                path = [
                    str(t) if not isinstance(t, int) else t
                    for t in getattr(error, "absolute_path", ())
                ]
                first = str(getattr(error, "message", error)).splitlines()[0]
                where = join_pointer(path) or "/"
                self.add(RULE_INVALID, path, f"{first} (at {where})")
        except Exception as exc:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.add(
                RULE_INVALID, [], f"openapi-spec-validator cannot validate the document: {text}"
            )

    # examples -----------------------------------------------------------------------------

    def deref(self, node: Any, tokens: list[str]) -> tuple[Any, list[str]]:
        """Follow local ``$ref``s of OpenAPI objects; return the target and its own pointer."""
        seen: set[str] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref: str = node["$ref"]
            if not ref.startswith("#") or ref in seen:
                return None, tokens
            seen.add(ref)
            tokens = split_pointer(ref[1:])
            try:
                node = _get(self.document, tokens)
            except (KeyError, IndexError, ValueError):
                return None, tokens
        return node, tokens

    def check_examples(self) -> None:
        doc = self.document
        for section in ("paths", "webhooks"):
            items = doc.get(section)
            if isinstance(items, dict):
                for name, item in items.items():
                    self._path_item(item, [section, str(name)])
        components = doc.get("components")
        if not isinstance(components, dict):
            return
        for kind, visit in (
            ("parameters", self._parameter),
            ("headers", self._parameter),
            ("requestBodies", self._body),
            ("responses", self._body),
        ):
            group = components.get(kind)
            if isinstance(group, dict):
                for name, obj in group.items():
                    visit(obj, ["components", kind, str(name)], f"{kind} {name}")

    def _path_item(self, item: Any, tokens: list[str]) -> None:
        item, tokens = self.deref(item, tokens)
        if not isinstance(item, dict):
            return
        path = tokens[-1] if tokens else ""
        for index, param in enumerate(item.get("parameters") or []):
            self._parameter(param, [*tokens, "parameters", str(index)], f"parameter of {path}")
        for method in HTTP_METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            op_tokens = [*tokens, method]
            label = op.get("operationId") or f"{method.upper()} {path}"
            for index, param in enumerate(op.get("parameters") or []):
                self._parameter(
                    param, [*op_tokens, "parameters", str(index)], f"parameter of {label}"
                )
            if "requestBody" in op:
                self._body(op["requestBody"], [*op_tokens, "requestBody"], f"request of {label}")
            responses = op.get("responses")
            if isinstance(responses, dict):
                for status, response in responses.items():
                    self._body(
                        response,
                        [*op_tokens, "responses", str(status)],
                        f"{status} response of {label}",
                    )

    def _body(self, obj: Any, tokens: list[str], label: str) -> None:
        """A request body or a response: its media types, and a response's headers."""
        obj, tokens = self.deref(obj, tokens)
        if not isinstance(obj, dict):
            return
        content = obj.get("content")
        if isinstance(content, dict):
            for media_type, media in content.items():
                self._container(
                    media, [*tokens, "content", str(media_type)], f"{label}, {media_type}"
                )
        headers = obj.get("headers")
        if isinstance(headers, dict):
            for name, header in headers.items():
                self._parameter(
                    header, [*tokens, "headers", str(name)], f"header {name} of {label}"
                )

    def _parameter(self, obj: Any, tokens: list[str], label: str) -> None:
        obj, tokens = self.deref(obj, tokens)
        if not isinstance(obj, dict):
            return
        if "name" in obj:
            label = f"{label} '{obj['name']}'"
        if isinstance(obj.get("content"), dict):
            for media_type, media in obj["content"].items():
                self._container(
                    media, [*tokens, "content", str(media_type)], f"{label}, {media_type}"
                )
        else:
            self._container(obj, tokens, label)

    def _container(self, obj: Any, tokens: list[str], label: str) -> None:
        """A media type, parameter or header object: ``schema`` plus ``example(s)``."""
        obj, tokens = self.deref(obj, tokens)
        key = join_pointer(tokens)
        if not isinstance(obj, dict) or key in self._seen_containers:
            return
        self._seen_containers.add(key)
        if "schema" not in obj or (
            "example" not in obj and not isinstance(obj.get("examples"), dict)
        ):
            return
        try:
            schema = _get(self.resolved, [*tokens, "schema"])
        except (KeyError, IndexError, ValueError):
            return
        if not isinstance(schema, dict | bool):
            return
        compiled = jsonable(schema)
        if isinstance(compiled, dict) and _has_ref(compiled):
            # resolve_refs leaves a recursive $ref in place: give it its target, as an
            # unknown (ignored) keyword of the root schema, so "#/components/..." resolves.
            compiled = {**compiled, "components": jsonable(self.document.get("components") or {})}
        try:
            validator = jsonschema_rs.Draft202012Validator(compiled, validate_formats=True)
        except Exception as exc:  # jsonschema_rs raises ValueError subclasses; never crash
            first = str(exc).splitlines()[0]
            self.add(
                RULE_INVALID, [*tokens, "schema"], f"schema of {label} cannot be compiled: {first}"
            )
            return
        if "example" in obj:
            self._example(validator, obj["example"], [*tokens, "example"], "example", label)
        named = obj.get("examples")
        for name, example in (named if isinstance(named, dict) else {}).items():
            example, ex_tokens = self.deref(example, [*tokens, "examples", str(name)])
            if isinstance(example, dict) and "value" in example:
                self._example(validator, example["value"], [*ex_tokens, "value"], str(name), label)

    def _example(
        self,
        validator: jsonschema_rs.Draft202012Validator,
        value: Any,
        tokens: list[str],
        name: str,
        label: str,
    ) -> None:
        for rel, bad in _non_json(value):
            where = join_pointer(rel) or "(root)"
            self.add(
                RULE_EXAMPLE,
                [*tokens, *map(str, rel)],
                f"example '{name}' ({label}): {type(bad).__name__} value {bad!s} at {where} "
                "is not JSON (quote it in YAML)",
            )
        for count, error in enumerate(validator.iter_errors(jsonable(value))):
            if count == MAX_ERRORS_PER_EXAMPLE:
                self.add(RULE_EXAMPLE, tokens, f"example '{name}' ({label}): more errors omitted")
                break
            rel_path = [str(t) for t in error.instance_path]
            where = join_pointer(rel_path) or "(root)"
            self.add(
                RULE_EXAMPLE,
                [*tokens, *rel_path],
                f"example '{name}' ({label}) does not match its schema: {error.message} at {where}",
            )

    # --------------------------------------------------------------------------------------

    def run(self, structure: bool) -> list[Violation]:
        try:
            self.resolved = resolve_refs(self.document, self.source)
        except SpecError as exc:
            # Examples cannot be checked without their schemas, and openapi-spec-validator
            # would try to fetch a non-local $ref: stop here.
            message = str(exc).removeprefix(f"{self.source}: ")
            self.add(RULE_INVALID, [], message)
            return self.violations
        if structure:
            self.check_structure()
        self.check_examples()
        return self.violations


def _lint(
    document: Any, source: str, positions: _Positions | None, structure: bool
) -> list[Violation]:
    if not isinstance(document, dict) or ("openapi" not in document and "swagger" not in document):
        line, column = positions.at([]) if positions else (None, None)
        return [
            Violation(
                RULE_INVALID,
                "error",
                "",
                "not an OpenAPI document (no 'openapi' member at the top level)",
                line=line,
                column=column,
            )
        ]
    return _Linter(document, source, positions).run(structure)


def lint_document(
    document: dict[str, Any], source: str = "<spec>", *, structure: bool = True
) -> list[Violation]:
    """Lint an already parsed document (no line/column: there is no text).

    ``structure=False`` skips openapi-spec-validator (the ``lint`` extra); with it, a
    missing validator raises :class:`SpecError`.
    """
    return _lint(document, source, None, structure)


def _unreadable(message: str, line: int | None = None, column: int | None = None) -> Violation:
    return Violation(RULE_UNREADABLE, "error", "", message, line=line, column=column)


def lint_file(path: str | Path, *, structure: bool = True) -> list[Violation]:
    """Lint a YAML or JSON file; violations carry the line and column of their pointer."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return [_unreadable(f"cannot read: not UTF-8 ({exc.reason} at byte {exc.start})")]
    except OSError as exc:
        return [_unreadable(f"cannot read: {exc.strerror or exc}")]
    if text.lstrip().startswith(("{", "[")):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            return [_unreadable(f"not valid JSON: {exc.msg}", exc.lineno, exc.colno)]
    else:
        document = None
    # One YAML pass gives both the nodes (positions) and the data. JSON is YAML for
    # positions' sake; a JSON file PyYAML cannot compose just has no positions.
    positions: _Positions | None = None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            positions = _Positions(node)
            if document is None:
                document = loader.construct_document(node)
    except yaml.YAMLError as exc:
        if document is None:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            line = mark.line + 1 if mark is not None else None
            column = mark.column + 1 if mark is not None else None
            return [_unreadable(f"not valid YAML: {problem}", line, column)]
    finally:
        loader.dispose()
    if document is None:
        return [_unreadable("empty document")]
    return _lint(document, source, positions, structure)
