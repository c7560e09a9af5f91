"""``--format github``: GitHub Actions workflow commands, one annotation per violation.

Escaping follows the runner's rules (actions/toolkit ``command.ts``): in the message
``%``, CR and LF; in property values also ``:`` and ``,``.
"""

from __future__ import annotations

from typing import TextIO

from . import FileResult, OutputOptions, Summary, summary_line


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(
    level: str,
    message: str,
    *,
    file: str,
    line: int | None = None,
    col: int | None = None,
    title: str | None = None,
) -> str:
    props = [f"file={escape_property(file)}"]
    if line is not None:
        props.append(f"line={line}")
        if col is not None:
            props.append(f"col={col}")
    if title:
        props.append(f"title={escape_property(title)}")
    return f"::{level} {','.join(props)}::{escape_data(message)}"


class Reporter:
    def __init__(self, out: TextIO, options: OutputOptions) -> None:
        self.out = out

    def file(self, result: FileResult) -> None:
        if result.error is not None:
            print(annotation("error", result.error, file=result.path), file=self.out)
            return
        for v in result.violations:
            level = "error" if v.severity == "error" else "warning"
            message = f"{v.message} [code {v.code}]" if v.code else v.message
            if v.line is None:
                message = f"at {v.pointer or '/'}: {message}"
            print(
                annotation(
                    level, message, file=result.path, line=v.line, col=v.column, title=v.rule
                ),
                file=self.out,
            )

    def close(self, summary: Summary) -> None:
        # A plain line: shown in the job log, not an annotation.
        print(summary_line(summary), file=self.out)
