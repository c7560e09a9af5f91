"""Reporters for ``amlyze-contracts validate``: one small module per output format.

A reporter receives one :class:`FileResult` at a time, in input order, and a
:class:`Summary` at the end, so text and GitHub output stream while JSON and JUnit
collect. Each format module is imported only when chosen.
"""

from __future__ import annotations

import importlib
from typing import Protocol, TextIO

import msgspec

from ..violations import Violation

FORMATS = ("text", "json", "junit", "github")
_MODULES = {"text": "text", "json": "json_report", "junit": "junit", "github": "github"}


class FileResult(msgspec.Struct):
    """What one input path gave: a checked body, or a reason it could not be read."""

    path: str
    operation: str | None = None
    kind: str | None = None  # request | item | response
    violations: list[Violation] = msgspec.field(default_factory=list)
    error: str | None = None  # the path could not be read (exit code 2)

    @property
    def errors(self) -> int:
        return sum(1 for v in self.violations if v.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for v in self.violations if v.severity != "error")

    @property
    def valid(self) -> bool:
        return self.error is None and self.errors == 0


class Summary(msgspec.Struct):
    files: int = 0  # bodies checked (unreadable paths not included)
    valid: int = 0
    invalid: int = 0
    errors: int = 0
    warnings: int = 0
    with_violations: int = 0
    unreadable: int = 0

    def add(self, result: FileResult) -> None:
        if result.error is not None:
            self.unreadable += 1
            return
        self.files += 1
        errors, warnings = result.errors, result.warnings
        self.errors += errors
        self.warnings += warnings
        if errors:
            self.invalid += 1
        else:
            self.valid += 1
        if errors or warnings:
            self.with_violations += 1


class OutputOptions(msgspec.Struct, frozen=True):
    color: bool = False
    quiet: bool = False
    verbose: bool = False
    warnings_as_errors: bool = False


class Reporter(Protocol):
    def file(self, result: FileResult) -> None: ...

    def close(self, summary: Summary) -> None: ...


def reporter(name: str, out: TextIO, options: OutputOptions) -> Reporter:
    module = importlib.import_module(f"{__name__}.{_MODULES[name]}")
    made: Reporter = module.Reporter(out, options)
    return made


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary_line(summary: Summary) -> str:
    """``N files checked: X errors, Y warnings in Z files`` (+ unreadable paths)."""
    line = (
        f"{plural(summary.files, 'file')} checked: {plural(summary.errors, 'error')}, "
        f"{plural(summary.warnings, 'warning')} in {plural(summary.with_violations, 'file')}"
    )
    if summary.unreadable:
        line += f"; {plural(summary.unreadable, 'path')} could not be read"
    return line
