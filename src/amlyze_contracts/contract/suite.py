"""The whole suite: the :class:`~.runner.Runner` with the generic Schemathesis phase
(:mod:`.fuzz`) wired in. The runner and the fuzzer do not import each other; this
module is where they meet, and Schemathesis is imported only when its phase runs."""

from __future__ import annotations

import sys
from typing import TextIO

from .config import Options
from .runner import Runner, RunResult


def schemathesis_phase(runner: Runner) -> None:
    from . import fuzz

    fuzz.run(runner)


def make_runner(options: Options, *, progress: TextIO | None = sys.stderr) -> Runner:
    return Runner(options, progress=progress, generic=schemathesis_phase)


def run(options: Options, *, progress: TextIO | None = sys.stderr) -> RunResult:
    return make_runner(options, progress=progress).run()
