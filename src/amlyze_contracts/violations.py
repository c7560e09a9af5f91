"""The data model every check in the project produces: violations and reports."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from operator import attrgetter
from typing import Any, Literal

import msgspec

Severity = Literal["error", "warning"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning")


class InputError(TypeError):
    """The body given to the library is neither text, bytes nor a JSON-like object."""


class Violation(msgspec.Struct, frozen=True, gc=False):  # scalars only: no cycles
    """One broken rule at one place.

    ``pointer`` is an RFC 6901 JSON pointer to the offending value; for a missing
    member it is the pointer the member should have.  ``line``/``column`` are
    1-based and only set when the input was text.
    """

    rule: str
    severity: str  # "error" | "warning" (Severity); a plain str keeps rule data easy to pass
    pointer: str
    message: str
    code: str | None = None
    line: int | None = None
    column: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "pointer": self.pointer,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "code": self.code,
        }

    def with_position(self, line: int | None, column: int | None) -> Violation:
        # Direct construction: cheaper than a generic replace for many violations.
        return Violation(
            self.rule, self.severity, self.pointer, self.message, self.code, line, column
        )


def _sort_key(v: Violation) -> tuple[int, int, str, str]:
    return (v.line or 0, v.column or 0, v.pointer, v.rule)


# The same order when every violation has a position, read in C (a broken batch
# sorts tens of thousands of violations).
_POSITIONED_KEY = attrgetter("line", "column", "pointer", "rule")
_LINE, _COLUMN = attrgetter("line"), attrgetter("column")


class Report(msgspec.Struct):
    """The outcome of validating one body. Valid when it holds no error."""

    operation_id: str | None
    violations: list[Violation] = msgspec.field(default_factory=list)
    kind: str = "request"  # request | item | response

    @property
    def valid(self) -> bool:
        return not any(v.severity == "error" for v in self.violations)

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "error"]

    @property
    def warnings(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "warning"]

    def rules(self) -> set[str]:
        return {v.rule for v in self.violations}

    def __iter__(self) -> Iterator[Violation]:
        return iter(self.violations)

    def __len__(self) -> int:
        return len(self.violations)

    def sorted(self) -> Report:
        found = self.violations
        positioned = None not in map(_LINE, found) and None not in map(_COLUMN, found)
        key = _POSITIONED_KEY if positioned else _sort_key
        return Report(self.operation_id, sorted(found, key=key), self.kind)

    def extend(self, violations: Iterable[Violation]) -> None:
        self.violations.extend(violations)

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation_id,
            "kind": self.kind,
            "valid": self.valid,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "violations": [v.to_dict() for v in self.violations],
        }
