"""``--format json``: one JSON document on stdout, nothing else."""

from __future__ import annotations

import json
from typing import Any, TextIO

from . import FileResult, OutputOptions, Summary


class Reporter:
    def __init__(self, out: TextIO, options: OutputOptions) -> None:
        self.out = out
        self.files: list[dict[str, Any]] = []

    def file(self, result: FileResult) -> None:
        entry: dict[str, Any] = {
            "path": result.path,
            "operation": result.operation,
            "kind": result.kind,
            "valid": result.valid,
            "violations": [v.to_dict() for v in result.violations],
        }
        if result.error is not None:
            entry["error"] = result.error
        self.files.append(entry)

    def close(self, summary: Summary) -> None:
        document = {
            "files": self.files,
            "summary": {
                "files": summary.files,
                "valid": summary.valid,
                "invalid": summary.invalid,
                "errors": summary.errors,
                "warnings": summary.warnings,
                "unreadable": summary.unreadable,
            },
        }
        self.out.write(json.dumps(document, indent=2, ensure_ascii=False))
        self.out.write("\n")
