"""``--format text``: ``path:line:column: severity rule message [code XYZ]``."""

from __future__ import annotations

from typing import TextIO

from ..violations import Violation
from . import FileResult, OutputOptions, Summary, summary_line

_RESET = "\033[0m"
_STYLES = {"error": "\033[31m", "warning": "\033[33m", "path": "\033[1m", "ok": "\033[32m"}


def format_violation(path: str, v: Violation, color: bool = False) -> str:
    # Without a line (e.g. a body inside a HAR file) the pointer locates it.
    where = f"{path}:{v.line}:{v.column}" if v.line is not None else f"{path} at {v.pointer or '/'}"
    severity = v.severity
    if color:
        where = f"{_STYLES['path']}{where}{_RESET}"
        severity = f"{_STYLES.get(v.severity, '')}{severity}{_RESET}"
    code = f" [code {v.code}]" if v.code else ""
    return f"{where}: {severity} {v.rule} {v.message}{code}"


class Reporter:
    def __init__(self, out: TextIO, options: OutputOptions) -> None:
        self.out = out
        self.options = options

    def file(self, result: FileResult) -> None:
        # Unreadable paths are reported on stderr by the command, whatever the format.
        if self.options.quiet or result.error is not None:
            return
        if not result.violations:
            if self.options.verbose:
                ok = "ok"
                if self.options.color:
                    ok = f"{_STYLES['ok']}{ok}{_RESET}"
                print(f"{result.path}: {ok} ({result.operation} {result.kind})", file=self.out)
            return
        for v in result.violations:
            print(format_violation(result.path, v, self.options.color), file=self.out)

    def close(self, summary: Summary) -> None:
        print(summary_line(summary), file=self.out)
