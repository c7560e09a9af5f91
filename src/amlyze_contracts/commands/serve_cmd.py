"""``amlyze-contracts serve``: run the embedded reference server."""

from __future__ import annotations

import argparse
import sys

from ..domain import EXIT_OK, EXIT_USAGE
from .options import UsageError, add_revision_option, fail, resolve_revision

PROG = "amlyze-contracts serve"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..server.fixtures import PROFILES  # data only: no server import

    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8080, help="TCP port, 0 for a free one (default: %(default)s)"
    )
    parser.add_argument(
        "--token", default=None, help="bearer token the operations require (default: dev-token)"
    )
    parser.add_argument(
        "--bug",
        dest="bugs",
        action="append",
        default=[],
        metavar="NAME",
        help="inject a catalogued bug (repeatable; see --list-bugs)",
    )
    parser.add_argument(
        "--state",
        metavar="FILE",
        default=None,
        help="keep accepted communicationNumbers and account owners in this SQLite file",
    )
    parser.add_argument(
        "--max-body",
        type=int,
        default=50 * 1024 * 1024,
        metavar="BYTES",
        help="larger request bodies get 413 (default: 50 MiB)",
    )
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default="default",
        help="default: the reference server as the contract describes it; production: "
        "as a Spring Boot service behind nginx answers wherever the contract leaves room "
        "(default: %(default)s)",
    )
    add_revision_option(parser)
    parser.add_argument(
        "--list-bugs",
        action="store_true",
        help="list the bug catalogue and exit (with --revision: the bugs that show under it)",
    )


def run(args: argparse.Namespace) -> int:
    from ..server import fixtures
    from ..server.bugs import catalogue, pointless_bugs, unknown_bugs

    try:
        revision = resolve_revision(args.revision).name
    except UsageError as exc:
        return fail(PROG, str(exc))
    if args.list_bugs:
        entries = catalogue(revision if args.revision else None)
        width = max(map(len, entries))
        for name, description in entries.items():
            print(f"{name:<{width}}  {description}")
        return EXIT_OK
    unknown = unknown_bugs(args.bugs)
    if unknown:
        print(
            f"amlyze-contracts serve: unknown bug(s): {', '.join(unknown)} (see --list-bugs)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    pointless = pointless_bugs(args.bugs, revision)
    if pointless:
        print(
            f"amlyze-contracts serve: bug(s) {', '.join(pointless)} change nothing under "
            f"revision {revision} (see --list-bugs --revision {revision})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not 0 <= args.port <= 65535 or args.max_body < 0:
        print("amlyze-contracts serve: --port and --max-body must be in range", file=sys.stderr)
        return EXIT_USAGE

    from ..server.runner import serve

    def announce(url: str) -> None:
        bugs = f" with bugs: {', '.join(args.bugs)}" if args.bugs else ""
        details = [f"revision {revision}"] if args.revision else []
        details += [f"profile {args.profile}"] if args.profile != "default" else []
        shown = f" ({', '.join(details)})" if details else ""
        state = f", state in {args.state}" if args.state else ""
        # The token itself is never printed.
        print(f"serving on {url}{shown}{bugs}{state}", flush=True)

    try:
        serve(
            host=args.host,
            port=args.port,
            token=args.token or fixtures.DEFAULT_TOKEN,
            bugs=args.bugs,
            state=args.state,
            max_body=args.max_body,
            announce=announce,
            profile=args.profile,
            revision=revision,
        )
    except OSError as exc:
        print(
            f"amlyze-contracts serve: cannot listen on {args.host}:{args.port}: {exc}",
            file=sys.stderr,
        )
        return 1
    print("server stopped", flush=True)
    return EXIT_OK
