"""``amlyze-contracts specs diff OLD NEW``: what changed between two API descriptions.

Exit codes: 0 no breaking change, 1 a breaking change (for CI, as oasdiff's
``--fail-on ERR``), 2 unreadable input or usage error (one line, no traceback).
"""

from __future__ import annotations

import argparse
import json
import sys

from ..domain import EXIT_OK, EXIT_USAGE
from ..domain import EXIT_VIOLATIONS as EXIT_BREAKING  # what "violations found" means here

PROG = "amlyze-contracts specs diff"
HELP = "differences between two revisions or specs, classified breaking / non-breaking"
DESCRIPTION = (
    "Compare two API descriptions operation by operation (by operationId). OLD and NEW "
    "are each a vendor revision (a date such as 2024-11-05, or 'latest'), a bundled spec "
    "name or a spec file. Exit 1 when a change breaks a client, 0 otherwise."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", metavar="OLD", help="revision date, 'latest', spec name or file")
    parser.add_argument("new", metavar="NEW", help="revision date, 'latest', spec name or file")
    parser.add_argument("--format", choices=("text", "json", "markdown"), default="text")


def run(args: argparse.Namespace) -> int:
    from ..spec_diff import diff_sources, render_json, render_markdown, render_text
    from ..specs import SpecError

    try:
        report = diff_sources(args.old, args.new)
    except (SpecError, OSError) as exc:
        # One line whatever the parser said (YAML errors span several).
        message = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    if args.format == "json":
        print(json.dumps(render_json(report), indent=2))
    elif args.format == "markdown":
        print(render_markdown(report))
    else:
        print(render_text(report))
    return EXIT_BREAKING if report.breaking else EXIT_OK
