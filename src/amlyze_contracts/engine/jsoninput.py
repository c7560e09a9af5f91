"""Reading JSON input: encodings, syntax errors with positions, duplicate keys,
non-finite numbers, nesting depth, and mapping JSON pointers back to line/column.

Parsing is orjson (C); the pure-Python scanners here run only when something is
wrong or suspected, so valid input pays nothing for diagnostics.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterable
from itertools import repeat
from typing import Any

import msgspec
import orjson

from ..domain import BOM_CHAR, UTF8_BOM, escape_token, split_pointer
from ..violations import Violation
from .codegen import MISSING  # no parsed value given (None is JSON null)

MAX_DEPTH = 1024  # orjson's limit; documented in the README. Payloads here nest 4 deep.
_OTHER_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian)"),
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian)"),
    (b"\xfe\xff", "UTF-16 (big-endian)"),
    (b"\xff\xfe", "UTF-16 (little-endian)"),
)
_NON_FINITE = re.compile(r"-?(?:NaN|Infinity)")
_BARE_KEY = re.compile(r"[A-Za-z_$][\w$]*")
_WS = re.compile(r"[ \t\n\r]*")
_NUMBER_OR_LITERAL = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")


class ParsedInput(msgspec.Struct):
    """The outcome of reading one body."""

    value: Any = None
    ok: bool = False  # value is usable (no input error)
    text: str | None = None  # the decoded text, for positions
    violations: list[Violation] = msgspec.field(default_factory=list)


def _violation(
    rule: str,
    message: str,
    line: int | None = None,
    column: int | None = None,
    severity: str = "error",
    pointer: str = "",
) -> Violation:
    return Violation(rule, severity, pointer, message, None, line, column)


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column (in code points) of a character offset."""
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    return line, offset - start + 1


def line_cols(text: str, offsets: Iterable[int]) -> dict[int, tuple[int, int]]:
    """:func:`line_col` for many offsets in one left-to-right pass (linear, not quadratic)."""
    if "\n" not in text:  # one line (compact JSON): the column is the offset
        return {offset: (1, offset + 1) for offset in offsets}
    out: dict[int, tuple[int, int]] = {}
    line, line_start, previous = 1, 0, 0
    for offset in sorted(set(offsets)):
        newlines = text.count("\n", previous, offset)
        if newlines:
            line += newlines
            line_start = text.rfind("\n", previous, offset) + 1
        out[offset] = (line, offset - line_start + 1)
        previous = offset
    return out


def decode_bytes(data: bytes) -> tuple[str | None, list[Violation]]:
    """UTF-8 text (BOM stripped with a warning), or None with an input.encoding error."""
    found: list[Violation] = []
    for bom, name in _OTHER_BOMS:
        if data.startswith(bom):
            return None, [
                _violation(
                    "input.encoding",
                    f"the body is {name}; JSON payloads must be UTF-8. Fix: re-save the file as UTF-8",
                    1,
                    1,
                )
            ]
    if b"\x00" in data[:4096]:
        return None, [
            _violation(
                "input.encoding",
                "the file is binary (it holds NUL bytes), not JSON text",
                1,
                1,
            )
        ]
    if data.startswith(UTF8_BOM):
        found.append(
            _violation(
                "input.bom",
                "a UTF-8 byte-order mark precedes the JSON; it is ignored here but some servers reject it. Fix: save without BOM",
                1,
                1,
                "warning",
            )
        )
        data = data[3:]
    try:
        return data.decode("utf-8"), found
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8", errors="replace")
        line, column = line_col(good, len(good))
        byte = data[exc.start : exc.start + 1].hex()
        found.append(
            _violation(
                "input.encoding",
                f"byte 0x{byte} at offset {exc.start} is not valid UTF-8 (the file is probably Latin-1 or Windows-1252). Fix: re-save as UTF-8",
                line,
                column,
            )
        )
        return None, found


def _explain(text: str, msg: str, pos: int) -> str:
    """orjson's message, plus the usual culprit and its fix."""
    here = text[pos : pos + 2]
    if not text.strip():
        return "the body is empty; expected a JSON object"
    if here.startswith(("//", "/*")) or here[:1] == "#":
        return f"{msg}: comments are not allowed in JSON. Fix: remove the comment"
    if msg.startswith("trailing comma"):
        return f"{msg}. Fix: remove the comma"
    if pos >= len(text.rstrip()) or "end of data" in msg:
        return f"{msg}: the text ends early (truncated?)"
    if here[:1] == "'":
        return f"{msg}: strings and keys must use double quotes"
    bare = _BARE_KEY.match(text, pos)
    if "string key" in msg and bare is not None:
        return f'{msg}: keys must be quoted. Fix: write "{bare.group(0)}"'
    return msg


def parse_text(text: str) -> ParsedInput:
    """Parse text that is already decoded; report input rules with positions."""
    result = ParsedInput(text=text)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        result.violations.append(_parse_failure(text, exc))
        return result
    except RecursionError:  # pragma: no cover - orjson enforces its own limit
        result.violations.append(
            _violation("input.too-deep", f"nesting deeper than {MAX_DEPTH} levels", 1, 1)
        )
        return result
    result.value = value
    # A duplicate is reported, and the rest still validated (last member wins, as in orjson).
    result.violations.extend(find_duplicate_keys(text, value))
    result.ok = True
    return result


def _parse_failure(text: str, exc: orjson.JSONDecodeError) -> Violation:
    pos = exc.pos  # a character offset into ``text``
    line, column = line_col(text, pos)
    if "depth" in exc.msg or "recursion" in exc.msg:
        return _violation(
            "input.too-deep",
            f"nesting deeper than {MAX_DEPTH} levels; this tool stops there. Fix: flatten the document",
            line,
            column,
        )
    # orjson points at or just before a NaN/Infinity literal.
    literal = _NON_FINITE.search(text, max(pos - 1, 0), pos + 10)
    if literal is not None and literal.start() <= pos + 1:
        line, column = line_col(text, literal.start())
        return _violation(
            "input.non-finite",
            f"{literal.group(0)} is not a JSON number. Fix: send a finite number, or null",
            line,
            column,
        )
    return _violation("input.json-syntax", _explain(text, exc.msg, pos), line, column)


def read_input(body: bytes | str) -> ParsedInput:
    if isinstance(body, (bytes, bytearray, memoryview)):
        text, found = decode_bytes(bytes(body))
        if text is None:
            return ParsedInput(violations=found)
        parsed = parse_text(text)
        parsed.violations[:0] = found
        return parsed
    if body.startswith(BOM_CHAR):
        parsed = parse_text(body[1:])
        parsed.violations.insert(
            0, _violation("input.bom", "a byte-order mark precedes the JSON", 1, 1, "warning")
        )
        return parsed
    return parse_text(body)


# ------------------------------------------------------------------ duplicate keys


def may_have_duplicates(raw: bytes | str, reencoded: bytes) -> bool:
    """Cheap proof of absence: every key contributes one ':' outside strings.

    Re-encoding the parsed value keeps the colons inside strings and drops a
    duplicate's, so equal counts prove there was none; ``\\u003a`` escapes could
    hide one and send us to the exact scan.
    """
    # The compact form an encoder writes (machine-made JSON often is): the same text,
    # so the same keys. Lengths first: a memcmp only when they agree.
    if len(raw) == len(reencoded) and (
        raw == reencoded
        if isinstance(raw, bytes)
        else raw.isascii() and raw.encode("ascii") == reencoded
    ):
        return False
    # The backslash test first: it is a memchr, the escape search is not.
    if isinstance(raw, str):
        return ("\\" in raw and "\\u003" in raw) or raw.count(":") != reencoded.count(b":")
    return (b"\\" in raw and b"\\u003" in raw) or raw.count(b":") != reencoded.count(b":")


def find_duplicate_keys(text: str, value: Any) -> list[Violation]:
    if not may_have_duplicates(text, orjson.dumps(value)):
        return []
    found = scan_duplicates(text)
    positions = line_cols(text, (pos for _, _, pos in found))
    return [
        _violation(
            "input.duplicate-key",
            f"`{key}` appears twice in the same object; JSON parsers keep only one of them (which one differs). Fix: remove one",
            *positions[pos],
            pointer=pointer,
        )
        for pointer, key, pos in found
    ]


def scan_duplicates(text: str) -> list[tuple[str, str, int]]:
    """(pointer, key, offset) of every repeated member; iterative, so any depth is safe."""
    # The stdlib's C string scanner, imported here: only suspect bodies get this far.
    from json.decoder import scanstring  # type: ignore[attr-defined]

    found: list[tuple[str, str, int]] = []
    # A frame is [is_object, token in parent, keys seen (object) | index (array), current key].
    # Tokens, not pointer strings, so that deep nesting costs linear time.
    stack: list[list[Any]] = []
    n = len(text)
    pos = _skip_ws(text, 0)
    state = "value"
    while pos < n:
        if state == "value":
            token = ""
            if stack:
                parent = stack[-1]
                token = escape_token(parent[3]) if parent[0] else str(parent[2])
            ch = text[pos]
            if ch in "{[":
                is_object = ch == "{"
                stack.append([is_object, token, set() if is_object else 0, ""])
                pos = _skip_ws(text, pos + 1)
                if text.startswith("}" if is_object else "]", pos):
                    stack.pop()
                    pos += 1
                    state = "after"
                else:
                    state = "key" if is_object else "value"
                continue
            if ch == '"':
                _, pos = scanstring(text, pos + 1)
            else:
                literal = _NUMBER_OR_LITERAL.match(text, pos)
                if literal is None:
                    break  # not JSON after all; the parser reports that
                pos = literal.end()
            state = "after"
        elif state == "key":
            if not text.startswith('"', pos):
                break
            frame = stack[-1]
            key, end = scanstring(text, pos + 1)
            if key in frame[2]:
                pointer = "/".join(f[1] for f in stack[1:])
                found.append(
                    (
                        f"/{pointer}/{escape_token(key)}" if pointer else f"/{escape_token(key)}",
                        key,
                        pos,
                    )
                )
            frame[2].add(key)
            frame[3] = key
            pos = _skip_ws(text, end)
            if not text.startswith(":", pos):
                break
            pos = _skip_ws(text, pos + 1)
            state = "value"
        else:  # after a value
            pos = _skip_ws(text, pos)
            if not stack or pos >= n:
                break
            frame = stack[-1]
            ch = text[pos]
            if ch == ",":
                pos = _skip_ws(text, pos + 1)
                if frame[0]:
                    state = "key"
                else:
                    frame[2] += 1
                    state = "value"
            elif ch in "}]":
                stack.pop()
                pos += 1
            else:
                break
    return found


def _skip_ws(text: str, pos: int) -> int:
    return _WS.match(text, pos).end()  # type: ignore[union-attr]


# ------------------------------------------------------------------ positions


def locate(text: str, pointers: Iterable[str], value: Any = MISSING) -> dict[str, tuple[int, int]]:
    """Line/column of each pointer's value; for a missing member, of its parent.

    Walks only the branches that lead to a wanted pointer; everything else is
    skipped by the C scanner, so the cost grows with the number of pointers.
    With the parsed ``value``, a batch of flat items is located by plain searches
    first (:func:`_locate_in_flat_batch`).
    """
    wanted = list(dict.fromkeys(pointers))
    found: dict[str, int] = {}
    if value is not MISSING:
        found = _locate_in_flat_batch(text, value, wanted)
        wanted = [pointer for pointer in wanted if pointer not in found]
    if wanted:
        found.update(_locate_by_walk(text, wanted))
    positions = line_cols(text, found.values())
    return {pointer: positions[offset] for pointer, offset in found.items()}


def _locate_in_flat_batch(text: str, value: Any, pointers: list[str]) -> dict[str, int]:
    """Offsets for ``/<key>/<index>[/<member>]`` in a flat batch (:class:`FlatBatchText`)."""
    batch = FlatBatchText.of(text, value)
    if batch is None:
        return {}
    prefix = f"/{escape_token(batch.key)}/"
    cut = len(prefix)
    found: dict[str, int] = {}
    for pointer in pointers:
        if not pointer.startswith(prefix):
            continue
        number, slash, member = pointer[cut:].partition("/")
        if not (number.isascii() and number.isdigit()) or "/" in member:
            continue
        index = int(number)
        if index < batch.count:
            found[pointer] = batch.member(index, member) if slash else batch.item(index)
    return found


class FlatBatchText:
    """Offsets in the text of ``{"<key>": [flat objects], ...}``, without a parser.

    When the text has no backslash and exactly one ``{`` and ``}`` per object, no
    string holds a brace or an escaped quote and no item holds an object (arrays are
    fine: they hold no brace): item ``i`` spans from the ``i+2``-th ``{`` to the next
    ``}``, and a member is its ``"name":`` there. Offsets of every ``{`` come from one
    pass of ``find`` over the text.
    """

    def __init__(self, text: str, key: str, count: int, braces: list[int]) -> None:
        self.text = text
        self.key = key
        self.count = count
        self.braces = braces
        self.keys: dict[str, str] = {}

    @classmethod
    def of(cls, text: str, value: Any) -> FlatBatchText | None:
        if not isinstance(value, dict) or "\\" in text:
            return None
        lists = [key for key, member in value.items() if isinstance(member, list)]
        if len(lists) != 1:
            return None
        items = len(value[lists[0]])
        if text.count("}") != items + 1:
            return None
        find = text.find
        braces = [find("{")]
        for _ in range(items):
            braces.append(find("{", braces[-1] + 1))
        if -1 in braces or find("{", braces[-1] + 1) >= 0:  # not one "{" per object
            return None
        return cls(text, lists[0], items, braces)

    def item(self, index: int) -> int:
        return self.braces[index + 1]

    def member(self, index: int, token: str) -> int:
        """The offset of a member's value (``token`` as in a pointer); of the item when
        the member is missing."""
        return self.members([index], token)[0]

    def members(
        self, indexes: Iterable[int], token: str, missing: Iterable[bool] | None = None
    ) -> list[int]:
        """:meth:`member` of one member in many items (one loop, no call per item).
        ``missing`` (one flag per index) names the items known to lack the member:
        their offset is the item's, without searching it."""
        text, braces, find = self.text, self.braces, self.text.find
        key = self.keys.get(token)
        if key is None:
            key = self.keys[token] = _json_key(token)
        size, last = len(key), self.count - 1
        out: list[int] = []
        append = out.append
        for index, absent in zip(
            indexes, repeat(False) if missing is None else missing, strict=False
        ):
            start = braces[index + 1]
            if absent:
                append(start)
                continue
            # Up to the next item's "{" (only "}," lies between); the last item to its "}".
            end = braces[index + 2] if index < last else find("}", start)
            at = find(key, start, end)
            if at < 0:
                append(start)  # a missing member: the item
                continue
            after = at + size
            # Compact JSON: the value follows the colon; anything else by the pattern.
            if text[after] == ":" and text[after + 1] not in _JSON_WS:
                append(after + 1)
            else:
                match = _key_pattern(split_pointer("/" + token)[0]).search(text, start, end)
                append(match.end() if match else start)
        return out


_JSON_WS = " \t\n\r"


def _json_key(token: str) -> str:
    """A pointer token's member name as JSON spells it, quotes included."""
    import json

    return json.dumps(split_pointer("/" + token)[0], ensure_ascii=False)


def _locate_by_walk(text: str, wanted: list[str]) -> dict[str, int]:
    trie: dict[str, Any] = {}
    for pointer in wanted:
        node = trie
        for token in split_pointer(pointer):
            node = node.setdefault(token, {})
    offsets: dict[tuple[str, ...], int] = {}
    import json  # the C scanner skips values we do not need; only bodies with violations
    from json.decoder import scanstring  # type: ignore[attr-defined]

    scanner = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[attr-defined]
    start = _skip_ws(text, 0)
    # Text that does not parse this far gives positions up to where it broke.
    with contextlib.suppress(ValueError, IndexError, StopIteration, RecursionError):
        _walk(text, start, trie, (), offsets, scanner, scanstring)
    found: dict[str, int] = {}
    for pointer in wanted:
        tokens = tuple(split_pointer(pointer))
        while tokens not in offsets and tokens:
            tokens = tokens[:-1]  # a missing member: its parent object
        if tokens in offsets:
            found[pointer] = offsets[tokens]
    return found


@functools.lru_cache(maxsize=1024)
def _key_pattern(key: str) -> re.Pattern[str]:
    # The key as JSON spells it, then the colon: only a member name can be followed by ':'.
    import json

    return re.compile(re.escape(json.dumps(key, ensure_ascii=False)) + r"[ \t\n\r]*:[ \t\n\r]*")


def _flat_members(
    text: str,
    start: int,
    end: int,
    node: dict[str, Any],
    value: Any,
    path: tuple[str, ...],
    offsets: dict[tuple[str, ...], int],
) -> bool:
    """Offsets of wanted members of a flat object (scalar values only) by key search."""
    if not isinstance(value, dict) or any(isinstance(v, (dict, list)) for v in value.values()):
        return False
    for key in node:
        if key not in value:
            continue
        pattern = _key_pattern(key)
        match = pattern.search(text, start, end)
        # Inside a string a quote is escaped: skip matches that follow a backslash.
        while match is not None and text[match.start() - 1] == "\\":
            match = pattern.search(text, match.end(), end)
        if match is None:
            return False
        offsets[(*path, key)] = match.end()
    return True


def _walk(
    text: str,
    pos: int,
    node: dict[str, Any],
    path: tuple[str, ...],
    offsets: dict[tuple[str, ...], int],
    scanner: Any,
    scanstring: Any,
) -> int:
    offsets[path] = pos
    ch = text[pos : pos + 1]
    if not node or ch not in ("{", "["):
        _, end = scanner(text, pos)
        return int(end)
    if ch == "{":
        if all(not child for child in node.values()):
            value, end = scanner(text, pos)
            if _flat_members(text, pos, end, node, value, path, offsets):
                return int(end)
        pos = _skip_ws(text, pos + 1)
        if text.startswith("}", pos):
            return pos + 1
        while True:
            key, pos = scanstring(text, pos + 1)
            pos = _skip_ws(text, pos)
            pos = _skip_ws(text, pos + 1)  # past ':'
            child = node.get(key)
            if child is not None:
                pos = _walk(text, pos, child, (*path, key), offsets, scanner, scanstring)
            else:
                _, pos = scanner(text, pos)
            pos = _skip_ws(text, pos)
            if text.startswith("}", pos):
                return pos + 1
            pos = _skip_ws(text, pos + 1)  # past ','
    index = 0
    pos = _skip_ws(text, pos + 1)
    if text.startswith("]", pos):
        return pos + 1
    remaining = len(node)
    while True:
        child = node.get(str(index))
        if child is not None:
            pos = _walk(text, pos, child, (*path, str(index)), offsets, scanner, scanstring)
            remaining -= 1
        else:
            _, pos = scanner(text, pos)
        pos = _skip_ws(text, pos)
        if text.startswith("]", pos) or remaining == 0:
            return pos + 1
        pos = _skip_ws(text, pos + 1)  # past ','
        index += 1
