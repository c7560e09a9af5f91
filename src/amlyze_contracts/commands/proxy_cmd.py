"""``amlyze-contracts proxy``: a validating reverse proxy in front of an AMLYZE / BRM
deployment. Runs until SIGINT/SIGTERM, then prints a summary; exit code 1 when an
error-severity violation was seen, 0 when none, 2 when it could not start.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TextIO

from ..domain import EXIT_OK, EXIT_VIOLATIONS
from .options import add_revision_option, fail
from .validate_cmd import add_rule_options

PROG = "amlyze-contracts proxy"


def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    def parse(value: str) -> int | float:
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
        if number <= 0:
            raise argparse.ArgumentTypeError("must be more than 0")
        return number

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Forward every request to the upstream and validate each exchange (request, "
        "response, request/response rules) with the rule catalogue. Each violation is "
        "one log line; responses carry an X-Amlyze-Contracts-Violations header. Stop it "
        "with SIGINT/SIGTERM: exit 1 if an error-severity violation was seen, else 0."
    )
    parser.add_argument("--upstream", required=True, metavar="URL", help="the AMLYZE base URL")
    parser.add_argument(
        "--brm-upstream",
        metavar="URL",
        help="the BRM base URL; requests under /brm/prepayBalanceManagement/v1 go there "
        "(default: UPSTREAM/brm/prepayBalanceManagement/v1)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8081, help="TCP port, 0 for a free one (default: %(default)s)"
    )
    parser.add_argument("--har", metavar="FILE", help="record the exchanges as HAR 1.2 here")
    parser.add_argument("--log", metavar="FILE", help="append log lines here (default: stderr)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--enforce",
        action="store_true",
        help="answer a request that breaks an error rule with 400 instead of forwarding it",
    )
    parser.add_argument(
        "--max-validate-bytes",
        type=_positive(int),
        default=8 * 1024 * 1024,
        metavar="N",
        help="larger bodies are forwarded, not validated (default: 8 MiB)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive(float),
        default=30.0,
        metavar="SECONDS",
        help="deadline of one exchange with the upstream; 504 past it (default: %(default)s)",
    )
    parser.add_argument(
        "--max-connections",
        type=_positive(int),
        default=32,
        metavar="N",
        help="exchanges handled at once; more wait (default: %(default)s)",
    )
    judged = parser.add_argument_group(
        "how exchanges are judged (as in validate; --revision picks the routes too)"
    )
    add_revision_option(judged)
    add_rule_options(judged)


def _fail(message: str) -> int:
    return fail(PROG, message)


def run(args: argparse.Namespace) -> int:
    from ..proxy.exchange import ExchangeValidator
    from ..proxy.http import Upstream
    from ..proxy.server import Log, Options
    from ..proxy.server import run as serve
    from .options import UsageError, resolve_revision
    from .validate_cmd import Checker, ConfigError, rule_settings

    for flag, url in (("--upstream", args.upstream), ("--brm-upstream", args.brm_upstream)):
        if url is not None:
            try:
                Upstream(url)
            except ValueError as exc:
                return _fail(f"{flag}: {exc}")
    if not 0 <= args.port <= 65535:
        return _fail(f"--port {args.port}: not a TCP port")
    try:
        # Rules, severities, classifiers and the revision's documents, loaded as
        # `validate` loads them (same messages for a bad file or an unknown revision).
        revision = None if args.revision is None else resolve_revision(args.revision)
        checker = Checker(rule_settings(args))
    except (UsageError, ConfigError) as exc:
        return _fail(str(exc))
    validator = ExchangeValidator(
        rules=checker.ruleset, classifiers=checker.classifiers, specs=checker.specs
    )
    options = Options(
        upstream=args.upstream,
        brm_upstream=args.brm_upstream,
        enforce=args.enforce,
        timeout=args.timeout,
        max_validate_bytes=args.max_validate_bytes,
        max_connections=args.max_connections,
        har=args.har,
        log_format=args.log_format,
        revision=revision,
    )
    stream: TextIO = sys.stderr
    try:
        if args.log:
            stream = open(args.log, "a", encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        return _fail(f"--log {args.log}: {exc.strerror or exc}")

    def announce(url: str) -> None:
        brm = f" (BRM: {args.brm_upstream})" if args.brm_upstream else ""
        judged = f", judged under revision {revision.name}" if revision else ""
        print(f"proxying on {url} -> {args.upstream}{brm}{judged}", flush=True)

    log = Log(stream, args.log_format)
    try:
        stats = serve(options, validator, log, host=args.host, port=args.port, announce=announce)
    except OSError as exc:
        what = (
            f"--har {args.har}"
            if args.har and exc.filename == args.har
            else (f"cannot listen on {args.host}:{args.port}")
        )
        return _fail(f"{what}: {exc.strerror or exc}")
    finally:
        if stream is not sys.stderr:
            stream.close()
    if args.log or args.log_format == "json":
        print(f"{PROG}: summary: {stats.line()}", file=sys.stderr)
    return EXIT_VIOLATIONS if stats.errors else EXIT_OK
