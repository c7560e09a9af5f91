"""``amlyze-contracts specs``: list the bundled specs, lint spec files, or diff two of them.

Exit codes: 0 clean, 1 violations, 2 unreadable file or usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..report import Violation
from ..specs import Spec, SpecError, bundled_spec_files, list_bundled, load, spec_name

EXIT_OK, EXIT_VIOLATIONS, EXIT_USAGE = 0, 1, 2
PROG = "amlyze-contracts specs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Same parser class as the parent so usage errors stay one line with exit code 2.
    sub = parser.add_subparsers(dest="specs_action", metavar="ACTION", parser_class=type(parser))
    sub.required = True

    p_list = sub.add_parser(
        "list",
        help="one line per spec: name, title and version, operations",
        description="List the bundled specs (or the given spec files) and their operations.",
    )
    p_list.add_argument(
        "specs", nargs="*", metavar="SPEC", help="spec file or bundled name (default: all bundled)"
    )
    p_list.add_argument("--format", choices=("text", "json"), default="text")

    p_lint = sub.add_parser(
        "lint",
        help="check specs with openapi-spec-validator and their examples against their schemas",
        description=(
            "Lint OpenAPI specs: structure (openapi-spec-validator, rule spec.invalid) and every "
            "example against its own schema (rule spec.example-mismatch)."
        ),
    )
    p_lint.add_argument(
        "files", nargs="*", metavar="FILE", help="spec file or bundled name (default: all bundled)"
    )
    p_lint.add_argument("--format", choices=("text", "json"), default="text")
    p_lint.add_argument(
        "--examples-only",
        action="store_true",
        help="skip the structural check (needs the 'lint' extra: openapi-spec-validator)",
    )

    from . import specs_diff_cmd  # the diff subcommand lives in its own module

    p_diff = sub.add_parser(
        "diff", help=specs_diff_cmd.HELP, description=specs_diff_cmd.DESCRIPTION
    )
    specs_diff_cmd.add_arguments(p_diff)


def run(args: argparse.Namespace) -> int:
    if args.specs_action == "list":
        return _run_list(args)
    if args.specs_action == "diff":
        from .specs_diff_cmd import run as run_diff

        return run_diff(args)
    return _run_lint(args)


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _display(path: Path) -> str:
    """A bundled spec is shown relative to the working directory when it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _resolve_target(target: str) -> tuple[Path, str]:
    """The file to lint and how to show it: a path as given, or a bundled spec's file."""
    path = Path(target)
    if not path.exists() and target in list_bundled():
        bundled = next(p for p in bundled_spec_files() if spec_name(p) == target)
        return bundled, _display(bundled)
    return path, target


# --- list ----------------------------------------------------------------------------------


def _spec_entry(spec: Spec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "source": spec.source,
        "title": spec.title,
        "version": spec.version,
        "operations": [
            {
                "operationId": op.operation_id,
                "method": op.method,
                "path": op.path,
                "basePath": op.base_path,
            }
            for op in spec.operations.values()
        ],
    }


def _run_list(args: argparse.Namespace) -> int:
    try:
        targets = args.specs or [str(p) for p in bundled_spec_files()]
        loaded = [load(t) for t in targets]
    except (SpecError, OSError) as exc:
        return _fail(str(exc))
    entries = [_spec_entry(spec) for spec in loaded]
    if args.format == "json":
        print(json.dumps({"specs": entries}, indent=2))
        return EXIT_OK
    if not entries:
        print("no specs")
        return EXIT_OK
    name_width = max(len(e["name"]) for e in entries)
    title_width = max(len(f"{e['title']} {e['version']}") for e in entries)
    for entry in entries:
        ops = ", ".join(
            f"{op['operationId']} {op['method']} {op['path']}" for op in entry["operations"]
        )
        title = f"{entry['title']} {entry['version']}"
        print(f"{entry['name']:<{name_width}}  {title:<{title_width}}  {ops or '(no operations)'}")
    return EXIT_OK


# --- lint ----------------------------------------------------------------------------------


def _format_violation(path: str, v: Violation) -> str:
    where = f"{path}:{v.line}:{v.column}" if v.line is not None else path
    return f"{where}: {v.severity} {v.rule} {v.message}"


def _run_lint(args: argparse.Namespace) -> int:
    from ..spec_lint import RULE_UNREADABLE, lint_file  # jsonschema-rs only when linting

    targets = [_resolve_target(t) for t in args.files] or [
        (p, _display(p)) for p in bundled_spec_files()
    ]
    results: list[tuple[str, list[Violation]]] = []
    try:
        for path, shown in targets:
            results.append((shown, lint_file(path, structure=not args.examples_only)))
    except SpecError as exc:  # openapi-spec-validator missing
        return _fail(str(exc))

    unreadable = False
    errors = warnings = 0
    for shown, violations in results:
        for v in violations:
            if v.rule == RULE_UNREADABLE:
                unreadable = True
                # Never a traceback: one line on stderr, whatever the output format.
                where = f"{shown}:{v.line}:{v.column}" if v.line is not None else shown
                print(f"{PROG}: error: {where}: {v.message}", file=sys.stderr)
            if v.severity == "error":
                errors += 1
            else:
                warnings += 1

    if args.format == "json":
        payload = {
            "files": [
                {
                    "path": shown,
                    "valid": not any(v.severity == "error" for v in violations),
                    "violations": [v.to_dict() for v in violations],
                }
                for shown, violations in results
            ],
            "errors": errors,
            "warnings": warnings,
            "valid": errors == 0,
        }
        print(json.dumps(payload, indent=2))
    else:
        for shown, violations in results:
            for v in violations:
                if v.rule != RULE_UNREADABLE:
                    print(_format_violation(shown, v))
        files = f"{len(results)} spec{'s' if len(results) != 1 else ''}"
        if errors or warnings:
            print(f"{files} linted: {errors} error(s), {warnings} warning(s)")
        else:
            print(f"{files} linted: no violations")

    if unreadable:
        return EXIT_USAGE
    return EXIT_VIOLATIONS if errors or warnings else EXIT_OK
