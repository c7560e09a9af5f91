"""``--format junit``: one testcase per file; errors in ``<failure>``, warnings in
``<system-out>``, unreadable paths as ``<error>`` (JUnit's "could not run")."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TextIO

from . import FileResult, OutputOptions, Summary, plural, summary_line
from .text import format_violation

SUITE = "amlyze-contracts validate"
# Characters XML 1.0 cannot carry at all; bad input can put them in messages.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


class Reporter:
    def __init__(self, out: TextIO, options: OutputOptions) -> None:
        self.out = out
        self.options = options
        self.suite = ET.Element("testsuite", name=SUITE)
        self.failures = 0
        self.errors = 0
        self.tests = 0

    def file(self, result: FileResult) -> None:
        self.tests += 1
        case = ET.SubElement(
            self.suite,
            "testcase",
            classname="amlyze-contracts.validate",
            name=_clean(result.path),
            file=_clean(result.path),
        )
        if result.error is not None:
            self.errors += 1
            ET.SubElement(case, "error", message=_clean(result.error), type="unreadable")
            return
        errors = [v for v in result.violations if v.severity == "error"]
        warnings = [v for v in result.violations if v.severity != "error"]
        failing = errors or (self.options.warnings_as_errors and warnings)
        if failing:
            self.failures += 1
            listed = errors + (warnings if self.options.warnings_as_errors else [])
            message = plural(len(errors), "error")
            if self.options.warnings_as_errors and warnings:
                message += f", {plural(len(warnings), 'warning')} (warnings as errors)"
            failure = ET.SubElement(case, "failure", message=message, type="violations")
            failure.text = _clean("\n".join(format_violation(result.path, v) for v in listed))
        if warnings:
            out = ET.SubElement(case, "system-out")
            out.text = _clean("\n".join(format_violation(result.path, v) for v in warnings))

    def close(self, summary: Summary) -> None:
        counts = {
            "tests": str(self.tests),
            "failures": str(self.failures),
            "errors": str(self.errors),
            "skipped": "0",
        }
        self.suite.attrib.update(counts)
        ET.SubElement(self.suite, "system-out").text = summary_line(summary)
        root = ET.Element("testsuites", {"name": SUITE, **counts})
        root.append(self.suite)
        ET.indent(root)
        self.out.write('<?xml version="1.0" encoding="utf-8"?>\n')
        self.out.write(ET.tostring(root, encoding="unicode"))
        self.out.write("\n")
