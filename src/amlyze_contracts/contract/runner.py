"""Orchestration: preflight, probes, targeted batches, stateful sequences, the
Hypothesis phases (positive and one-rule-broken batches, BRM reads) and the generic
Schemathesis phase, all within one time budget; every answer goes through every
check and is recorded per operation and rule.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO, TypeVar

import orjson

from ..classifiers import KNOWN_CLASSIFIERS
from .checks import CheckFailure, Context, ItemExpect, rules_applied, run_checks
from .client import Client, Received, Sent, curl, redact_headers
from .config import BATCH_OPERATIONS, BRM_OPERATION, Options, in_ci
from .generate import (
    BatchTemplate,
    ItemModel,
    Target,
    Uniques,
    knowledge,
    negative_batches,
    positive_batches,
    realize,
)
from .scenarios import (
    BRM_ATTRIBUTES,
    Endpoints,
    auth_probes,
    batch_case,
    brm_case,
    brm_probes,
    malformed_probes,
    sequences,
    targeted_batches,
)

T = TypeVar("T")
BODY_EXCERPT = 2000


class Unreachable(Exception):
    """The server did not answer at start (exit code 2)."""


@dataclass
class FailureRecord:
    rule: str
    severity: str
    operation: str
    label: str
    phase: str
    message: str
    curl: str
    status: int
    response_headers: dict[str, str]
    response_body: str
    error: str | None
    size: int
    elapsed: float  # seconds since the run started

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "operation": self.operation,
            "case": self.label,
            "phase": self.phase,
            "message": self.message,
            "reproduce": self.curl,
            "response": {
                "status": self.status or None,
                "headers": self.response_headers,
                "body": self.response_body,
                "error": self.error,
            },
            "seconds_into_run": round(self.elapsed, 3),
        }


@dataclass
class RuleStats:
    examples: int = 0
    failures: int = 0
    worst: str = "none"  # none | warning | error
    smallest: FailureRecord | None = None
    first: FailureRecord | None = None


@dataclass
class RunResult:
    options: Options
    run_id: str
    stats: dict[tuple[str, str], RuleStats] = field(default_factory=dict)
    requests: int = 0
    started: float = field(default_factory=time.monotonic)
    duration: float = 0.0
    classifier_source: str = "config"
    notes: list[str] = field(default_factory=list)
    budget_exhausted: bool = False

    def stat(self, operation: str, rule: str) -> RuleStats:
        return self.stats.setdefault((operation, rule), RuleStats())

    def failures(self) -> list[FailureRecord]:
        out = []
        for stat in self.stats.values():
            if stat.smallest is not None:
                out.append(stat.smallest)
        return sorted(out, key=lambda f: (f.operation, f.rule))

    def failed_rules(self, severity: str = "warning") -> set[str]:
        wanted = ("error",) if severity == "error" else ("error", "warning")
        return {rule for (_, rule), s in self.stats.items() if s.failures and s.worst in wanted}

    @property
    def ok(self) -> bool:
        return not self.failed_rules(self.options.fail_on)

    def first_failure_seconds(self) -> float | None:
        times = [s.first.elapsed for s in self.stats.values() if s.first is not None]
        return min(times) if times else None


class Progress:
    """One status line on a TTY (stderr); silent in CI or when not a terminal."""

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self.enabled = stream is not None and stream.isatty() and not in_ci()
        self._last = 0.0

    def update(self, result: RunResult, phase: str) -> None:
        if not self.enabled or self.stream is None:
            return
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        failed = sum(1 for s in result.stats.values() if s.failures)
        self.stream.write(
            f"\r\x1b[K{phase:<28} {result.requests:>6} requests  "
            f"{failed:>3} failing checks  {now - result.started:6.1f} s"
        )
        self.stream.flush()

    def done(self) -> None:
        if self.enabled and self.stream is not None:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


class _Stop(Exception):
    """Raised inside a Hypothesis test so it shrinks a failing example."""


SHRINK_REQUESTS = 30  # requests spent on shrinking one failure, at most


@dataclass
class _Attempt:
    """One Hypothesis search: examples sent, and the rule being shrunk (if any)."""

    shrunk: frozenset[str]
    sent: int = 0
    target: str = ""
    shrink_sent: int = 0

    def test_function(
        self, runner: Runner, send: Callable[[Any], list[CheckFailure]]
    ) -> Callable[[Any], None]:
        def test(value: Any) -> None:
            if runner.out_of_time():
                return
            if self.target:
                if self.shrink_sent >= SHRINK_REQUESTS:
                    return  # budget spent: the smallest failure so far stands
                self.shrink_sent += 1
                if any(f.rule == self.target for f in send(value)):
                    raise _Stop(self.target)
                return
            self.sent += 1
            fresh = [f for f in send(value) if f.rule not in self.shrunk]
            if fresh:
                self.target = fresh[0].rule
                raise _Stop(self.target)

        return test


class Runner:
    def __init__(self, options: Options, *, progress: TextIO | None = sys.stderr) -> None:
        self.options = options
        self.endpoints = Endpoints(options.base_url.rstrip("/"), options.brm_base_url.rstrip("/"))
        self.uniques = Uniques()
        self.result = RunResult(options, self.uniques.run_id)
        self.deadline = self.result.started + options.time_budget
        self.client = Client(
            timeout=options.timeout,
            max_response_bytes=options.max_response_bytes,
            secret=options.token,
            run_deadline=self.deadline,
        )
        self.ctx = Context(options.max_response_bytes)
        self.progress = Progress(progress)
        self.phase = "start"

    # -------------------------------------------------------------- basics

    def out_of_time(self) -> bool:
        if time.monotonic() >= self.deadline:
            self.result.budget_exhausted = True
            return True
        return False

    def execute(self, case: Any) -> Received:
        received = self.client.send(case.sent)
        self.result.requests = self.client.requests
        if received.out_of_budget:  # cut by the run's deadline, within its timeout
            self.result.budget_exhausted = True
            self.result.notes.append(f"not judged: {case.label}: {received.error}")
            self._last_failures = []
            return received
        applied, failures = run_checks(self.ctx, received, case)
        for failure in failures:
            # A caught failure's traceback holds the checks' frames and so the body
            # (up to max_response_bytes): a cycle only the cyclic GC would free, late.
            failure.__traceback__ = None
        self._record(case, received, applied, failures)
        self.progress.update(self.result, self.phase)
        self._last_failures = failures
        return received

    def _record(
        self, case: Any, received: Received, applied: list[str], failures: list[CheckFailure]
    ) -> None:
        for rule in rules_applied(applied, case):
            self.result.stat(case.operation_id, rule).examples += 1
        for failure in failures:
            self.record_failure(
                case.operation_id, failure, case.label, case.phase, case.sent, received
            )

    def record_failure(
        self,
        operation: str,
        failure: CheckFailure,
        label: str,
        phase: str,
        sent: Sent,
        received: Received,
    ) -> None:
        stat = self.result.stat(operation, failure.rule)
        if stat.examples == 0:
            stat.examples = 1
        stat.failures += 1
        if failure.severity == "error" or stat.worst == "none":
            stat.worst = failure.severity
        scrub = self.client.scrub
        body = received.body[:BODY_EXCERPT].decode("utf-8", "replace")
        record = FailureRecord(
            rule=failure.rule,
            severity=failure.severity,
            operation=operation,
            label=label,
            phase=phase,
            message=scrub(failure.message),
            curl=scrub(curl(sent)),
            status=received.status,
            response_headers=redact_headers(received.headers),
            response_body=scrub(body + ("..." if len(received.body) > BODY_EXCERPT else "")),
            error=received.error,
            size=len(sent.url) + len(sent.body or b""),
            elapsed=time.monotonic() - self.result.started,
        )
        if stat.first is None:
            stat.first = record
        # Keep the smallest reproduction (Hypothesis shrinks towards it), errors first.
        best = stat.smallest
        if (
            best is None
            or (record.severity == "error" and best.severity != "error")
            or (record.severity == best.severity and record.size < best.size)
        ):
            stat.smallest = record

    # -------------------------------------------------------------- phases

    def preflight(self) -> None:
        """Reachability and classifiers (served by the server, else the config)."""
        self.phase = "preflight"
        fetched: dict[str, frozenset[str]] = {}
        reached = False
        for name in KNOWN_CLASSIFIERS:
            got = self.client.send(
                Sent(
                    "GET",
                    f"{self.endpoints.base_url}/classifier/{name}",
                    {"Accept": "application/json"},
                )
            )
            if got.error:
                if not reached:
                    raise Unreachable(f"{self.endpoints.base_url}: {got.error}")
                continue
            reached = True
            codes = _classifier_codes(got)
            if codes is not None:
                fetched[name] = codes
        if BRM_OPERATION in self.options.only and not self.endpoints.brm_base_url.startswith(
            self.endpoints.base_url
        ):
            got = self.client.send(
                Sent("GET", self.endpoints.brm_base_url + "/accumulatedBalance/-")
            )
            if got.error:
                raise Unreachable(f"{self.endpoints.brm_base_url}: {got.error}")
        self.result.requests = self.client.requests
        if fetched:
            merged = dict(self.options.fixtures.classifiers)
            merged.update(fetched)
            fixtures = self.options.fixtures.__class__(
                **{**self.options.fixtures.__dict__, "classifiers": merged}
            )
            self.options = self.options.with_(fixtures=fixtures)
            self.result.options = self.options
            self.result.classifier_source = "server: " + ", ".join(sorted(fetched))

    def run(self) -> RunResult:
        try:
            self.preflight()
            steps: list[tuple[str, Callable[[], None]]] = [
                ("probes", self._probes),
            ]
            if self.options.writes:
                steps += [
                    ("targeted batches", self._targeted),
                    ("stateful sequences", self._sequences),
                    ("negative batches", self._negative),
                    ("positive batches", self._positive),
                ]
            steps.append(("BRM reads", self._brm_reads))
            if self.options.schemathesis:
                steps.append(("schemathesis", self._schemathesis))
            for name, step in steps:
                if self.out_of_time():
                    self.result.notes.append(f"time budget exhausted before: {name}")
                    continue
                self.phase = name
                step()
        finally:
            self.client.close()
            self.progress.done()
            self.result.duration = time.monotonic() - self.result.started
            self.result.requests = self.client.requests
        return self.result

    def _each(self, cases: Iterable[Any]) -> None:
        for case in cases:
            if self.out_of_time():
                return
            self.execute(case)

    def _probes(self) -> None:
        o, e = self.options, self.endpoints
        self._each(auth_probes(o, e))
        self._each(malformed_probes(o, e))
        self._each(brm_probes(o, e, self.uniques.run_id))

    def _targeted(self) -> None:
        self._each(targeted_batches(self.options, self.endpoints, self.uniques))

    def _sequences(self) -> None:
        sequences(self.options, self.endpoints, self.uniques, self.execute)

    # -------------------------------------------------------------- hypothesis

    def _models(self) -> list[ItemModel]:
        fx = self.options.fixtures
        know = knowledge(fx.classifiers, fx.customers)
        return [ItemModel(op, know) for op in self.options.only if op in BATCH_OPERATIONS]

    def _send_batch(
        self, model: ItemModel, template: BatchTemplate, label: str, phase: str
    ) -> list[CheckFailure]:
        items = realize(template.items, self.uniques)
        case = batch_case(
            self.options,
            self.endpoints,
            model.operation_id,
            label,
            items,
            phase=phase,
            valid=template.valid,
            invalid={i: ItemExpect(rule, code) for i, (rule, code) in template.invalid.items()},
        )
        self.execute(case)
        return self._last_failures

    def _positive(self) -> None:
        for model in self._models():
            self._explore(
                positive_batches(model),
                functools.partial(
                    self._send_batch, model, label="generated: valid items", phase="positive"
                ),
                self.options.max_examples,
            )

    def _negative(self) -> None:
        per_target = max(1, self.options.max_examples // 10)
        for model in self._models():
            for target in model.targets():
                if self.out_of_time():
                    return
                self._explore(
                    negative_batches(model, target),
                    functools.partial(
                        self._send_batch,
                        model,
                        label=f"generated: breaks {target.label}",
                        phase="negative",
                    ),
                    per_target,
                )

    def _brm_reads(self) -> None:
        if BRM_OPERATION not in self.options.only:
            return
        from hypothesis import strategies as st

        fx = self.options.fixtures
        fields = st.lists(
            st.one_of(
                st.sampled_from(BRM_ATTRIBUTES),
                st.text("abcdefghijklmnopqrstuvwxyz@", min_size=1, max_size=10),
            ),
            min_size=1,
            max_size=4,
        ).map(",".join)
        query = st.fixed_dictionaries(
            {},
            optional={"@type": st.sampled_from(fx.brm_types), "fields": fields},
        )
        known: Any = st.tuples(st.sampled_from(fx.brm_ids), query, st.just("brm-known"))
        unknown: Any = st.tuples(
            st.text(min_size=1, max_size=30).filter(
                lambda s: s not in fx.brm_ids and set(s) - {"."} != set()
            ),
            st.just({}),
            st.just("brm-unknown"),
        )

        def send(args: tuple[str, dict[str, str], str]) -> list[CheckFailure]:
            raw_id, q, probe = args
            self.execute(
                brm_case(
                    self.options,
                    self.endpoints,
                    f"generated: {probe}",
                    raw_id,
                    query=q,
                    probe=probe,
                )
            )
            return self._last_failures

        self._explore(st.one_of(known, unknown), send, self.options.max_examples)

    def _explore(
        self, strategy: Any, send: Callable[[Any], list[CheckFailure]], max_examples: int
    ) -> None:
        """Run ``send`` on Hypothesis examples. A failure of a rule not yet shrunk in
        this phase raises inside the test so Hypothesis shrinks it (every failing
        replay is recorded; the smallest is kept); then the search resumes for the
        examples left, so one defect does not hide the others."""
        shrunk: set[str] = set()
        remaining = max_examples
        for _attempt in range(4):
            if remaining <= 0 or self.out_of_time():
                return
            attempt = _Attempt(shrunk=frozenset(shrunk))
            try:
                self._hypothesis(strategy, attempt.test_function(self, send), remaining)
            except _Stop as stop:
                shrunk.add(str(stop))
            except Exception:  # Hypothesis' own (Flaky, Unsatisfiable, ...): findings are recorded
                if attempt.target:
                    shrunk.add(attempt.target)
            remaining -= attempt.sent
            if not attempt.target:
                return  # the search ran to its end without a new failure

    def _hypothesis(self, strategy: Any, test: Callable[[Any], None], max_examples: int) -> None:
        from hypothesis import HealthCheck, Phase, Verbosity, given, settings
        from hypothesis import seed as hseed

        decorate: Any = given(strategy)
        wrapped: Any = decorate(test)
        wrapped = settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            derandomize=self.options.derandomize and self.options.seed is None,
            suppress_health_check=list(HealthCheck),
            phases=(Phase.explicit, Phase.generate, Phase.shrink),
            report_multiple_bugs=False,
            verbosity=Verbosity.quiet,
            print_blob=False,
        )(wrapped)
        if self.options.seed is not None:
            wrapped = hseed(self.options.seed)(wrapped)
        wrapped()

    # -------------------------------------------------------------- schemathesis

    def _schemathesis(self) -> None:
        from . import fuzz

        fuzz.run(self)


def _classifier_codes(received: Received) -> frozenset[str] | None:
    if received.status != 200:
        return None
    try:
        data = orjson.loads(received.body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, list):
        return None
    codes = [e.get("code") for e in data if isinstance(e, dict)]
    if not codes or not all(isinstance(c, str) for c in codes):
        return None
    return frozenset(c for c in codes if isinstance(c, str))


def run(options: Options, *, progress: TextIO | None = sys.stderr) -> RunResult:
    return Runner(options, progress=progress).run()


def targets_of(options: Options) -> list[tuple[str, Target]]:
    fx = options.fixtures
    know = knowledge(fx.classifiers, fx.customers)
    return [
        (op, t)
        for op in options.only
        if op in BATCH_OPERATIONS
        for t in ItemModel(op, know).targets()
    ]
