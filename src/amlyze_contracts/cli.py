"""Command-line entry point: argument parsing only; each subcommand lives in
``amlyze_contracts.commands.<name>`` and is imported only when it runs, so that
``validate`` never pays for the server or the fuzzer."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from .extras import MissingExtra, extra_of, require

# name -> (module, one-line help, the extra it needs or None). Modules expose
# add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str, str | None]] = {
    "validate": (
        "validate_cmd",
        "validate JSON payloads against the bundled specs and rules",
        None,
    ),
    "specs": ("specs_cmd", "list or lint OpenAPI specs", None),
    "rules": ("rules_cmd", "list the rule catalogue", None),
    "serve": ("serve_cmd", "run the embedded reference server", "server"),
    "test": ("test_cmd", "contract-test a deployed implementation", "contract"),
}

EXIT_OK, EXIT_VIOLATIONS, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse exits with 2 on usage errors already; keep its message on one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="amlyze-contracts",
        description="Validate AMLYZE and Oracle BRM payloads; contract-test implementations.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module, help_text, _extra) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        if only == name:
            # Only the chosen command's module is imported (lazy imports); plain
            # `--help` and `--version` import none.
            importlib.import_module(f"amlyze_contracts.commands.{module}").add_arguments(cmd)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in args_list if not a.startswith("-")), None)
    parser = build_parser(chosen if chosen in COMMANDS else None)
    args = parser.parse_args(args_list)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    module_name, _help, extra = COMMANDS[args.command]
    prog = f"amlyze-contracts {args.command}"
    try:
        if extra:
            require(extra, prog)
        module = importlib.import_module(f"amlyze_contracts.commands.{module_name}")
        return int(module.run(args))
    except MissingExtra as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except ModuleNotFoundError as exc:
        # A module of an extra imported deeper down (e.g. `validate --classifiers-url`).
        needed = extra_of(exc.name)
        if needed is None:
            raise
        print(MissingExtra(needed, prog, (exc.name or "",)), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
