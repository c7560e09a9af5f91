"""``amlyze-contracts validate``: check JSON payload files against the bundled specs and rules.

Paths are files, directories (every ``*.json`` below them, sorted; hidden folders
skipped) or ``-`` for stdin. The operation comes from the body's shape unless
``--operation`` names it. Everything is checked in one process with the specs and
rules compiled once (the library caches compiled operations per rule set, so this
command builds the rule set once and passes the same object for every file);
``--jobs N`` spreads chunks of files over N processes, output staying in input order.

Exit codes: 0 no errors, 1 at least one error (or warning with
``--warnings-as-errors``), 2 usage error or a path that could not be read.
"""

from __future__ import annotations

import argparse
import itertools
import os
import stat
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from ..cli_output import FORMATS, FileResult, OutputOptions, Summary, reporter
from ..domain import EXIT_OK, EXIT_USAGE, EXIT_VIOLATIONS
from ..violations import Violation
from .options import UsageError, add_revision_option, fail, resolve_revision

if TYPE_CHECKING:
    from ..catalogue import RuleSet
    from ..specs import Spec

PROG = "amlyze-contracts validate"
STDIN = "-"
STDIN_NAME = "<stdin>"
# Below this many files a process pool costs more than it saves; the output is the same.
PARALLEL_MIN_FILES = 64


def _jobs(value: str) -> int:
    try:
        jobs = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if jobs < 0:
        raise argparse.ArgumentTypeError("must be 0 (one per CPU) or more")
    return jobs or (os.cpu_count() or 1)


def _status(value: str) -> int:
    if not value.isdigit() or not 100 <= int(value) <= 599:
        raise argparse.ArgumentTypeError(f"not an HTTP status code: {value!r}")
    return int(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Validate JSON payloads (files, directories of *.json, or - for stdin) against the "
        "bundled AMLYZE / Oracle BRM specs and the rule catalogue. The operation is detected "
        "from the body's shape unless --operation names it."
    )
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="file, directory (recursing into *.json) or -"
    )
    what = parser.add_argument_group("what to check")
    what.add_argument(
        "--operation", metavar="OPERATION_ID", help="validate every body for this operation"
    )
    shape = what.add_mutually_exclusive_group()
    shape.add_argument(
        "--item", action="store_true", help="bodies are single batch items (needs --operation)"
    )
    shape.add_argument(
        "--response",
        type=_status,
        metavar="STATUS",
        help="bodies are stored responses with this status (needs --operation)",
    )
    what.add_argument("--spec", metavar="FILE", help="a newer vendor spec to validate against")
    add_revision_option(what)
    what.add_argument(
        "--har",
        action="append",
        default=[],
        metavar="FILE",
        help="validate the exchanges recorded in a HAR file (repeatable)",
    )
    rules = parser.add_argument_group("rules")
    add_rule_options(rules)
    rules.add_argument(
        "--warnings-as-errors", action="store_true", help="exit 1 on warnings as well"
    )
    out = parser.add_argument_group("output")
    out.add_argument("--format", choices=FORMATS, default="text")
    out.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    verbosity = out.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-q", "--quiet", action="store_true", help="text: print the summary line only"
    )
    verbosity.add_argument(
        "-v", "--verbose", action="store_true", help="text: list files without violations too"
    )
    parser.add_argument(
        "--jobs",
        type=_jobs,
        default=1,
        metavar="N",
        help="check files in N processes (0: one per CPU)",
    )


def add_rule_options(rules: argparse._ArgumentGroup) -> None:
    """--rules, --severity, --classifiers / --classifiers-url: shared with ``proxy``
    (read back by :func:`rule_settings`)."""
    rules.add_argument(
        "--rules", action="append", default=[], metavar="FILE", help="extra rule file (repeatable)"
    )
    rules.add_argument(
        "--severity",
        action="append",
        default=[],
        metavar="RULE=LEVEL",
        help="set a rule's severity: off, warning or error (repeatable)",
    )
    source = rules.add_mutually_exclusive_group()
    source.add_argument(
        "--classifiers", metavar="FILE", help="classifier snapshot (JSON) for x-dynamic-enum fields"
    )
    source.add_argument(
        "--classifiers-url",
        metavar="URL",
        help="fetch the classifiers once from GET URL/classifier/{name}",
    )


class ConfigError(Exception):
    """An option cannot be used (bad rule file, unknown operation, ...): exit 2."""


# ------------------------------------------------------------------ the checker


class Settings(msgspec.Struct, frozen=True):
    """Everything a (worker) process needs to rebuild the same Checker; picklable."""

    rule_files: tuple[str, ...] = ()
    severities: tuple[tuple[str, str], ...] = ()
    classifiers: tuple[tuple[str, tuple[str, ...]], ...] | None = None
    spec: str | None = None
    revision: str | None = None
    operation: str | None = None
    item: bool = False
    response: int | None = None


class Checker:
    """Validates one body per call, with rules, specs and classifiers prepared once."""

    def __init__(self, settings: Settings) -> None:
        # Imported here, not at module level: `--help` needs none of this.
        from ..catalogue import RuleFileError, load_rules
        from ..engine.api import validate_request, validate_response
        from ..engine.shapes import detect_bytes
        from ..specs import SpecError, load, load_bundled

        self._detect_bytes = detect_bytes
        self._validate_request = validate_request
        self._validate_response = validate_response
        self.settings = settings
        try:
            self.ruleset: RuleSet = load_rules(settings.rule_files).with_severities(
                dict(settings.severities)
            )
            self.user_spec: Spec | None = load(settings.spec) if settings.spec else None
            bundled = self._revision_specs(settings.revision) or load_bundled()
        except (RuleFileError, SpecError) as exc:
            raise ConfigError(str(exc)) from None
        except OSError as exc:  # e.g. the bundled specs folder is missing from an install
            raise ConfigError(f"cannot load the bundled specs: {exc}") from None
        # A user's spec comes first, so it wins over a bundled one for the same operationId.
        self.specs: list[Spec] = [self.user_spec, *bundled] if self.user_spec else bundled
        self.classifiers: Mapping[str, tuple[str, ...]] | None = (
            dict(settings.classifiers) if settings.classifiers is not None else None
        )
        self._spec_of: dict[str, Spec | None] = {}
        if settings.operation is not None:
            op = self._operation(settings.operation)
            if settings.item and op.batch_item is None:
                raise ConfigError(f"--item: {op.operation_id} has no batch items")
            if settings.response is None and op.request_schema is None:
                raise ConfigError(
                    f"{op.operation_id} has no request body; use --response STATUS "
                    "to check a stored response"
                )

    @staticmethod
    def _revision_specs(revision: str | None) -> list[Spec]:
        """The documents of ``--revision`` (none without it: the bundled specs)."""
        if revision is None:
            return []
        from .. import revisions

        return revisions.resolve(revision).specs()

    def _operation(self, operation_id: str) -> Any:
        from ..specs import SpecError, operation

        try:
            return operation(operation_id, self.specs)
        except SpecError as exc:
            raise ConfigError(str(exc)) from None

    def _spec_for(self, operation_id: str) -> Spec | None:
        """``spec=`` for the library: the user's spec when it defines the operation."""
        if operation_id not in self._spec_of:
            op = self._operation(operation_id)
            self._spec_of[operation_id] = op.spec if op.spec is self.user_spec else None
        return self._spec_of[operation_id]

    def _request(self, operation_id: str | None, data: bytes, item: bool | None) -> Any:
        return self._validate_request(
            operation_id,
            data,
            rules=self.ruleset,
            classifiers=self.classifiers,
            item=item,
            spec=self._spec_for(operation_id) if operation_id else None,
            revision=self.settings.revision,
        )

    def _response(self, operation_id: str, status: int, data: bytes) -> list[Violation]:
        if not data.strip():
            # validate_response treats no bytes as "no body" (fine for HTTP); a stored
            # response file that is empty is an input error, reported by the request reader.
            violations: list[Violation] = self._request(operation_id, data, None).violations
            return violations
        report = self._validate_response(
            operation_id,
            status,
            data,
            rules=self.ruleset,
            spec=self._spec_for(operation_id),
            revision=self.settings.revision,
        )
        return report.violations

    def check(self, data: bytes) -> tuple[str | None, str | None, list[Violation]]:
        """(operationId, kind, violations) for one body."""
        settings = self.settings
        if settings.operation is not None:
            if settings.response is not None:
                found = self._response(settings.operation, settings.response, data)
                return settings.operation, "response", found
            report = self._request(settings.operation, data, True if settings.item else None)
            return report.operation_id, report.kind, report.violations
        detected = self._detect_bytes(data, self.specs)
        if detected is None:
            # Not JSON (or no known shape): the library reports why, with positions.
            report = self._request(None, data, None)
            return (
                report.operation_id,
                None if report.operation_id is None else report.kind,
                (report.violations),
            )
        operation_id, kind = detected
        if kind == "response":
            return operation_id, kind, self._response(operation_id, 200, data)
        report = self._request(operation_id, data, kind == "item")
        return report.operation_id, report.kind, report.violations


# ------------------------------------------------------------------ inputs


class Target(msgspec.Struct, frozen=True):
    """One input: a file to read, stdin's bytes, or a path that already failed."""

    display: str
    path: str | None = None
    data: bytes | None = None
    error: str | None = None


def _json_files(root: str) -> list[str]:
    found: list[tuple[tuple[str, ...], str]] = []
    for folder, dirs, files in os.walk(root):
        # Hidden folders (.git, .venv, .tox) hold tooling data, not payloads.
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = Path(os.path.relpath(folder, root)).parts
        rel = () if rel == (".",) else rel
        found.extend(
            ((*rel, name), os.path.join(folder, name)) for name in files if name.endswith(".json")
        )
    return [path for _key, path in sorted(found)]


def _missing(path: str, exc: OSError) -> str:
    if os.path.islink(path):
        return "broken symbolic link"
    if isinstance(exc, FileNotFoundError):
        return "no such file or directory"
    return f"cannot read: {exc.strerror or exc}"


def collect(paths: Sequence[str], stdin: Any = None) -> list[Target]:
    targets: list[Target] = []
    stdin_read = False
    for given in paths:
        if given == STDIN:
            if stdin_read:
                targets.append(Target(STDIN_NAME, error="stdin can be read only once"))
                continue
            stdin_read = True
            stream = stdin if stdin is not None else sys.stdin.buffer
            try:
                targets.append(Target(STDIN_NAME, data=stream.read()))
            except OSError as exc:
                targets.append(Target(STDIN_NAME, error=f"cannot read: {exc.strerror or exc}"))
            continue
        try:
            is_dir = stat.S_ISDIR(os.stat(given).st_mode)  # one syscall per path given
        except OSError as exc:
            targets.append(Target(given, error=_missing(given, exc)))
            continue
        if is_dir:
            files = _json_files(given)
            if not files:
                targets.append(Target(given, error="no *.json files in this directory"))
            targets.extend(Target(path, path) for path in files)
        else:
            targets.append(Target(given, given))
    return targets


def check_target(checker: Checker, target: Target) -> FileResult:
    if target.error is not None:
        return FileResult(target.display, error=target.error)
    data = target.data
    if data is None:
        assert target.path is not None
        try:
            with open(target.path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            return FileResult(target.display, error=f"cannot read: {exc.strerror or exc}")
    try:
        operation_id, kind, violations = checker.check(data)
    except Exception as exc:  # a library bug must not hide the other files' results
        return FileResult(
            target.display, error=f"internal error: {type(exc).__name__}: {exc} (please report)"
        )
    return FileResult(target.display, operation_id, kind, violations)


# ------------------------------------------------------------------ processes

_CHECKER: Checker | None = None


def _init_worker(settings: Settings) -> None:
    global _CHECKER
    # With fork the parent's checker (and its compiled caches) is inherited as is.
    if _CHECKER is None or _CHECKER.settings != settings:
        _CHECKER = Checker(settings)


def _check_chunk(chunk: list[Target]) -> list[FileResult]:
    assert _CHECKER is not None
    return [check_target(_CHECKER, target) for target in chunk]


def iter_results(checker: Checker, targets: list[Target], jobs: int) -> Iterator[FileResult]:
    global _CHECKER
    if jobs <= 1 or len(targets) < PARALLEL_MIN_FILES:
        for target in targets:
            yield check_target(checker, target)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    _CHECKER = checker
    methods = multiprocessing.get_all_start_methods()
    # fork shares the warmed-up specs and compiled rules; elsewhere workers rebuild them.
    context = multiprocessing.get_context(
        "fork" if sys.platform == "linux" and "fork" in methods else None
    )
    size = max(1, min(256, len(targets) // (jobs * 4)))
    chunks = [targets[i : i + size] for i in range(0, len(targets), size)]
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=context,
        initializer=_init_worker,
        initargs=(checker.settings,),
    ) as pool:
        for results in pool.map(_check_chunk, chunks):  # map keeps input order
            yield from results


# ------------------------------------------------------------------ the command


def _fail(message: str) -> int:
    return fail(PROG, message)


def parse_severities(values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``--severity RULE=LEVEL`` values (the last one per rule wins); also ``rules``'."""
    pairs: dict[str, str] = {}
    for value in values:
        rule, sep, level = value.partition("=")
        if not sep or not rule.strip() or not level.strip():
            raise ConfigError(f"--severity {value!r}: expected RULE=off|warning|error")
        pairs[rule.strip()] = level.strip()
    return tuple(pairs.items())


def _classifiers(args: argparse.Namespace) -> tuple[tuple[str, tuple[str, ...]], ...] | None:
    if not args.classifiers and not args.classifiers_url:
        return None
    from ..classifiers import ClassifierError, fetch, load_file

    try:
        loaded = load_file(args.classifiers) if args.classifiers else fetch(args.classifiers_url)
    except ClassifierError as exc:
        raise ConfigError(str(exc)) from None
    return tuple(sorted((name, tuple(sorted(codes))) for name, codes in loaded.items()))


def rule_settings(args: argparse.Namespace) -> Settings:
    """The options of :func:`add_rule_options`, and ``--revision``, as Settings."""
    return Settings(
        rule_files=tuple(args.rules),
        severities=parse_severities(args.severity),
        classifiers=_classifiers(args),
        revision=args.revision,
    )


def settings_from(args: argparse.Namespace) -> Settings:
    if (args.item or args.response is not None) and not args.operation:
        flag = "--item" if args.item else "--response"
        raise ConfigError(f"{flag} needs --operation OPERATION_ID")
    return msgspec.structs.replace(
        rule_settings(args),
        spec=args.spec,
        operation=args.operation,
        item=args.item,
        response=args.response,
    )


def _use_color(mode: str, stream: Any) -> bool:
    if mode != "auto":
        return mode == "always"
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def run(args: argparse.Namespace) -> int:
    if not args.paths and not args.har:
        return _fail("no PATH given (use - to read stdin)")
    if args.har and (args.operation or args.spec):
        return _fail("--har takes each exchange's operation from its method and path")
    if args.spec and args.revision:
        return _fail("give --spec FILE or --revision DATE, not both")
    try:
        revision = None if args.revision is None else resolve_revision(args.revision)
    except UsageError as exc:
        return _fail(str(exc))
    try:
        checker = Checker(settings_from(args))
    except ConfigError as exc:
        return _fail(str(exc))
    targets = collect(args.paths)
    options = OutputOptions(
        color=args.format == "text" and _use_color(args.color, sys.stdout),
        quiet=args.quiet,
        verbose=args.verbose,
        warnings_as_errors=args.warnings_as_errors,
    )
    out = reporter(args.format, sys.stdout, options)
    summary = Summary()
    results = iter_results(checker, targets, args.jobs)
    if args.har:
        from ..proxy.har import validate_har

        har = validate_har(
            args.har, rules=checker.ruleset, classifiers=checker.classifiers, revision=revision
        )
        results = itertools.chain(results, har)
    for result in results:
        if result.error is not None:
            # Whatever the format, an unreadable path is one line on stderr.
            print(f"{PROG}: error: {result.path}: {result.error}", file=sys.stderr)
        summary.add(result)
        out.file(result)
    out.close(summary)
    sys.stdout.flush()
    if summary.unreadable:
        return EXIT_USAGE
    if summary.errors or (args.warnings_as_errors and summary.warnings):
        return EXIT_VIOLATIONS
    return EXIT_OK
