"""``amlyze-contracts test``: contract-test a running implementation.

Exit codes: 0 every check held, 1 at least one contract violation (a failure that
reproduced), 2 a usage error or a misconfigured run: no token, an unreadable or
misspelt config, the server unreachable, the credentials rejected, none of the
operations at the base URL (one line on stderr naming the cause). The token is read
from ``--token`` or ``AMLYZE_CONTRACTS_TOKEN`` and is never printed.
"""

from __future__ import annotations

import argparse
import sys
import urllib.parse
from typing import Any

from ..domain import EXIT_OK, EXIT_USAGE, EXIT_VIOLATIONS
from .options import add_revision_option


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", metavar="URL", help="server root; AMLYZE paths hang off it")
    parser.add_argument(
        "--brm-base-url",
        metavar="URL",
        help="BRM base (default: BASE_URL/brm/prepayBalanceManagement/v1)",
    )
    parser.add_argument(
        "--token", help="bearer token (default: $AMLYZE_CONTRACTS_TOKEN); never printed"
    )
    add_revision_option(
        parser,
        auto="worked out from the server's answers, said in the first line. A revision "
        "tests every operation it has; without one, the seeds' three operations",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="OPERATION_ID",
        help="test only these operations (default: every operation of the revision)",
    )
    parser.add_argument(
        "--max-examples",
        type=_positive_int,
        metavar="N",
        help="generated examples per phase (default 25)",
    )
    parser.add_argument(
        "--time-budget",
        type=_positive_float,
        metavar="SECONDS",
        help="whole-run budget (default 50)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="per-request timeout (default 10)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="replay a run's requests (default: a random seed, printed and reported)",
    )
    parser.add_argument(
        "--config", metavar="FILE", help="TOML: [server], [fixtures], [classifiers], [run]"
    )
    parser.add_argument("--junit-xml", metavar="PATH", help="write a JUnit XML report")
    parser.add_argument("--report-json", metavar="PATH", help="write a JSON report")
    parser.add_argument(
        "--read-only",
        action="store_true",
        default=None,
        help="send no writes (BRM reads, auth and error probes)",
    )
    parser.add_argument(
        "--fail-on",
        choices=("warning", "error"),
        default="error",
        help="fail on a failed check of this severity or worse (default: error)",
    )
    parser.add_argument(
        "--no-schemathesis", action="store_true", help="skip the generic Schemathesis phase"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress line; only failures and the summary"
    )


def _check_url(name: str, url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name} must be an http(s) URL, got {url!r}")
    return url.rstrip("/")


def build_options(args: argparse.Namespace) -> Any:
    """Options from the config file, then the command line (which wins)."""
    from ..contract.config import (
        ALL_OPERATIONS,
        AUTO,
        NO_TOKEN,
        ConfigError,
        Fixtures,
        Options,
        brm_base,
        fixtures_from,
        load_config,
        resolve_revision,
        revision_operations,
        token_from,
    )

    data: dict[str, Any] = load_config(args.config) if args.config else {}
    server = data.get("server") or {}
    run = data.get("run") or {}
    base_url = args.base_url or server.get("base_url")
    if not base_url:
        raise ConfigError("--base-url is required (or [server] base_url in --config)")
    try:
        base_url = _check_url("--base-url", str(base_url))
        brm = args.brm_base_url or server.get("brm_base_url")
        brm_url = _check_url("--brm-base-url", brm_base(base_url, brm))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    fixtures = fixtures_from(data, args.config) if args.config else Fixtures()

    def pick(name: str, cli: Any, default: Any) -> Any:
        return cli if cli is not None else run.get(name, default)

    revision = getattr(args, "revision", None) or run.get("revision")
    if revision != AUTO:
        revision = resolve_revision(revision)
    only = tuple(args.only) if args.only else run.get("only")
    if only is not None:
        # Known to some revision, and to this one (auto: checked once it is detected).
        known = ALL_OPERATIONS if revision == AUTO else tuple(revision_operations(revision))
        if unknown := set(only) - set(known):
            where = f"revision {revision}" if revision not in (None, AUTO) else "any revision"
            raise ConfigError(
                f"unknown operations for {where}: {', '.join(sorted(unknown))} "
                f"(known: {', '.join(op for op in ALL_OPERATIONS if op in known)})"
            )
        only = tuple(op for op in ALL_OPERATIONS if op in only)
    token = token_from(args.token)
    if token is None:
        raise ConfigError(NO_TOKEN)
    return Options(
        base_url=base_url,
        brm_base_url=brm_url,
        token=token,
        only=only,
        revision=revision,
        max_examples=int(pick("max_examples", args.max_examples, 25)),
        time_budget=float(pick("time_budget", args.time_budget, 50.0)),
        timeout=float(pick("timeout", args.timeout, 10.0)),
        seed=pick("seed", args.seed, None),
        read_only=bool(pick("read_only", args.read_only, False)),
        fail_on=args.fail_on,
        schemathesis=not args.no_schemathesis,
        fixtures=fixtures,
    )


def run(args: argparse.Namespace) -> int:
    from ..contract.config import ConfigError, Misconfigured

    prog = "amlyze-contracts test"
    try:
        options = build_options(args)
    except ConfigError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_USAGE

    from ..contract import report
    from ..contract.suite import run as run_suite

    try:
        result = run_suite(options, progress=None if args.quiet else sys.stderr)
    except Misconfigured as exc:
        # One line naming the cause, before (instead of) any violation.
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report.write_text(result, sys.stdout, quiet=args.quiet)
    try:
        if args.report_json:
            report.write_json(result, args.report_json)
        if args.junit_xml:
            report.write_junit(result, args.junit_xml)
    except OSError as exc:
        print(f"{prog}: cannot write report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if result.ok and not result.judged:
        # Not a pass: nothing was decided (the notes above say which requests were cut).
        print(
            f"{prog}: no check was judged within --time-budget {options.time_budget:g} s "
            f"(--timeout {options.timeout:g} s); raise the budget or lower the timeout",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return EXIT_OK if result.ok else EXIT_VIOLATIONS
