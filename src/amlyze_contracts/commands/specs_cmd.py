"""``amlyze-contracts specs``: list the bundled specs (or a vendor revision's documents),
lint spec files, list the vendor revisions, or diff two revisions or specs.

Exit codes: 0 clean, 1 violations, 2 unreadable file or usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..domain import EXIT_OK, EXIT_USAGE, EXIT_VIOLATIONS
from ..specs import Spec, SpecError, bundled_spec_files, list_bundled, load, spec_name
from ..violations import Violation
from .options import UsageError, add_revision_option, fail, resolve_revision

if TYPE_CHECKING:
    from ..revisions import Revision

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
    add_revision_option(p_list)

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
    add_revision_option(p_lint)
    p_lint.add_argument(
        "--examples-only",
        action="store_true",
        help="skip the structural check (needs the 'lint' extra: openapi-spec-validator)",
    )

    p_revisions = sub.add_parser(
        "revisions",
        help="the vendor revisions: date, commit, what changed, the document of each operation",
        description=(
            "List the vendor revisions of the AMLYZE pages (specs/revisions.yaml): each "
            "one's date, the vendor's commit, what changed, and for every operation its "
            "method, path and the document that serves it. --revision shows one."
        ),
    )
    p_revisions.add_argument("--format", choices=("text", "json"), default="text")
    add_revision_option(p_revisions)

    from . import specs_diff_cmd  # the diff subcommand lives in its own module

    p_diff = sub.add_parser(
        "diff", help=specs_diff_cmd.HELP, description=specs_diff_cmd.DESCRIPTION
    )
    specs_diff_cmd.add_arguments(p_diff)


def run(args: argparse.Namespace) -> int:
    if args.specs_action == "list":
        return _run_list(args)
    if args.specs_action == "revisions":
        return _run_revisions(args)
    if args.specs_action == "diff":
        from .specs_diff_cmd import run as run_diff

        return run_diff(args)
    return _run_lint(args)


def _fail(message: str) -> int:
    return fail(PROG, message)


def _revision_documents(args: argparse.Namespace, given: list[str]) -> list[Path] | None:
    """The documents of ``--revision`` (each once, in the data file's order), or None
    without it. Raises UsageError for an unknown revision or with files given too."""
    if args.revision is None:
        return None
    if given:
        raise UsageError("give spec files or --revision, not both")
    return list(dict.fromkeys(resolve_revision(args.revision).documents.values()))


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


def _spec_entry(spec: Spec, revision: Revision | None = None) -> dict[str, Any]:
    # Under a revision, only the operations it takes from this document.
    ops = (
        list(spec.operations.values())
        if revision is None
        else [op for op in revision.operations().values() if op.spec is spec]
    )
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
            for op in ops
        ],
    }


def _run_list(args: argparse.Namespace) -> int:
    revision: Revision | None = None
    try:
        documents = _revision_documents(args, args.specs)
        if documents is not None:
            revision = resolve_revision(args.revision)
        targets = documents or args.specs or [str(p) for p in bundled_spec_files()]
        loaded = [load(t) for t in targets]
    except (UsageError, SpecError, OSError) as exc:
        return _fail(str(exc))
    entries = [_spec_entry(spec, revision) for spec in loaded]
    if args.format == "json":
        listing: dict[str, Any] = {"revision": revision.name} if revision else {}
        print(json.dumps({**listing, "specs": entries}, indent=2))
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


# --- revisions -----------------------------------------------------------------------------


def _revision_entry(revision: Revision, default: str, latest: str) -> dict[str, Any]:
    from ..specs import bundled_dir

    folder = bundled_dir()
    operations = revision.operations()
    return {
        "name": revision.name,
        "commit": revision.commit,
        "default": revision.name == default,
        "latest": revision.name == latest,
        "changes": revision.changes,
        "operations": [
            {
                "operationId": op_id,
                "method": op.method,
                "path": op.path,
                "basePath": op.base_path,
                # As revisions.yaml names it: relative to the specs folder.
                "document": revision.documents[op_id].relative_to(folder).as_posix(),
            }
            for op_id, op in operations.items()
        ],
    }


def _run_revisions(args: argparse.Namespace) -> int:
    import textwrap

    from .. import revisions

    try:
        table = revisions.table()
        chosen = (
            [resolve_revision(args.revision)]
            if args.revision is not None
            else list(table.revisions.values())
        )
        entries = [_revision_entry(rev, table.default, table.latest) for rev in chosen]
    except (UsageError, SpecError, OSError, ValueError) as exc:
        return _fail(str(exc))
    if args.format == "json":
        payload = {"default": table.default, "latest": table.latest, "revisions": entries}
        print(json.dumps(payload, indent=2))
        return EXIT_OK
    for number, entry in enumerate(entries):
        if number:
            print()
        marks = [m for m in ("default", "latest") if entry[m]]
        aliases = f" ({', '.join(marks)})" if marks else ""
        print(f"{entry['name']}{aliases}  commit {entry['commit']}")
        print(textwrap.fill(entry["changes"], 88, initial_indent="  ", subsequent_indent="  "))
        rows = [
            (op["operationId"], f"{op['method']} {op['path']}", op["document"])
            for op in entry["operations"]
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(2)]
        for op_id, route, document in rows:
            print(f"  {op_id:<{widths[0]}}  {route:<{widths[1]}}  {document}")
    return EXIT_OK


# --- lint ----------------------------------------------------------------------------------


def _format_violation(path: str, v: Violation) -> str:
    where = f"{path}:{v.line}:{v.column}" if v.line is not None else path
    return f"{where}: {v.severity} {v.rule} {v.message}"


def _run_lint(args: argparse.Namespace) -> int:
    from ..spec_lint import RULE_UNREADABLE, lint_file  # jsonschema-rs only when linting

    try:
        documents = _revision_documents(args, args.files)
    except UsageError as exc:
        return _fail(str(exc))
    targets = [_resolve_target(t) for t in args.files] or [
        (p, _display(p)) for p in (documents or bundled_spec_files())
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
