"""Options shared by several commands, defined once: ``--revision DATE|latest``.

Every command that takes a revision adds it with :func:`add_revision_option` (same
flag, same help) and turns the value into a :class:`~amlyze_contracts.revisions.Revision`
with :func:`resolve_revision`, whose :class:`UsageError` carries the one message for an
unknown revision (that of ``RevisionTable.resolve``); the command prints it with
:func:`fail`: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ..domain import EXIT_USAGE

if TYPE_CHECKING:
    from ..revisions import Revision

# `test --revision auto` (and whoever else detects the revision) offers this word too.
AUTO = "auto"

REVISION_HELP = (
    "the vendor's pages of this date, or latest (default: the seeds, i.e. the bundled "
    "specs; `amlyze-contracts specs revisions` lists the dates)"
)


class UsageError(Exception):
    """A command-line value that cannot be used: one line on stderr, exit 2."""


def add_revision_option(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, auto: str | None = None
) -> None:
    """``--revision`` (dest ``revision``, default None: the default revision).

    ``auto``: what ``--revision auto`` does for this command, for commands that can
    work the revision out themselves; the command handles :data:`AUTO` before calling
    :func:`resolve_revision`, which does not know it.
    """
    parser.add_argument(
        "--revision",
        metavar="DATE|latest|auto" if auto else "DATE|latest",
        help=f"{REVISION_HELP}; auto: {auto}" if auto else REVISION_HELP,
    )


def resolve_revision(name: str | None) -> Revision:
    """The revision a ``--revision`` value names (None: the default revision).

    Raises :class:`UsageError` with the message of an unknown revision, which names
    the known ones.
    """
    from .. import revisions
    from ..specs import SpecError

    try:
        table = revisions.table()
        return table.resolve(table.default if name is None else name)
    except SpecError as exc:  # an unknown name, or a broken revisions.yaml
        raise UsageError(str(exc)) from None


def fail(prog: str, message: str) -> int:
    """Print ``PROG: error: MESSAGE`` on one line (parser messages span several), exit 2."""
    flat = "; ".join(part.strip() for part in message.splitlines() if part.strip())
    print(f"{prog}: error: {flat}", file=sys.stderr)
    return EXIT_USAGE
