"""Orchestration: preflight, probes, targeted batches, stateful sequences, the
Hypothesis phases (positive and one-rule-broken batches, BRM reads) and a generic
phase given by the caller (Schemathesis, wired in :mod:`.suite`), all within one
time budget; every answer goes through every check and is recorded per operation
and rule.

A run that cannot judge the server stops with :class:`Misconfigured` (exit 2): no
token, credentials rejected (in the preflight or later), none of the operations at
the base URL. A failure is reported only if it reproduces: it is re-sent on a fresh
connection first, and one that passes then is reported as flaky. The expectations
of a batch (which items must be rejected, which accepted) are re-checked by the
validator before each send, so a shrunk example that lost its only invalid part is
never reported as "invalid item accepted".
"""

from __future__ import annotations

import functools
import re
import secrets
import sys
import time
import types
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TextIO

import orjson

from ..classifiers import KNOWN_CLASSIFIERS
from .checks import SINGLE, Case, CheckFailure, Context, ItemExpect, rules_applied, run_checks
from .client import Client, Received, Sent, curl, redact_headers
from .config import (
    AUTO,
    BATCH_OPERATIONS,
    BRM_OPERATION,
    DEFAULT_BRM_PATH,
    NO_TOKEN,
    SINGLE_OPERATIONS,
    TOKEN_ENV,
    Misconfigured,
    Options,
    in_ci,
    operation_of,
    resolve_revision,
)
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
    auth_headers,
    auth_probes,
    batch_case,
    brm_case,
    brm_probes,
    malformed_probes,
    quote_id,
    sequences,
    targeted_batches,
)

BODY_EXCERPT = 2000
# Consecutive authenticated requests answered 401/403 that stop a run: the
# credentials were revoked or expired mid-run (a misconfiguration, not violations).
REJECTED_STREAK = 5
# Tried when no operation answers at the base URL: the base with its last path
# segments dropped, then these appended (a servlet context path or gateway prefix).
COMMON_PREFIXES = ("/api", "/api/v1", "/v1")

# A judge beyond the suite's checks (the generic phase's): (rule ids it applied, failures).
Judge = Callable[["Case", Received], tuple[list[str], list[CheckFailure]]]


class Unreachable(Misconfigured):
    """The server did not answer at start (exit code 2)."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"server unreachable: {detail}")


class _Abort(BaseException):
    """Stops a run from inside a Hypothesis test (which catches every Exception)."""

    def __init__(self, reason: Misconfigured) -> None:
        super().__init__(str(reason))
        self.reason = reason


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
    # Flaky only: the request sent just before on the same client (its connection,
    # when the server kept it open), and what the re-send got.
    preceded_by: str | None = None
    resent: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
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
        if self.resent is not None:
            out["resent"] = self.resent
            out["preceded_by"] = self.preceded_by
        return out


@dataclass
class RuleStats:
    examples: int = 0
    failures: int = 0  # failures that reproduced (or repeat a reproduced one)
    worst: str = "none"  # none | warning | error
    smallest: FailureRecord | None = None
    first: FailureRecord | None = None
    flaky: int = 0  # failures that did not fail again when re-sent
    flaky_record: FailureRecord | None = None
    seconds: float = 0.0  # summed elapsed time of the requests that exercised the rule


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
    resent: int = 0  # re-sends on a fresh connection (included in requests)
    unjudged_items: int = 0  # expectations the validator no longer agreed with
    detected: str | None = None  # --revision auto: the one line saying what it found

    @property
    def seed(self) -> int:
        assert self.options.seed is not None  # the Runner always picks one
        return self.options.seed

    def stat(self, operation: str, rule: str) -> RuleStats:
        return self.stats.setdefault((operation, rule), RuleStats())

    def failures(self) -> list[FailureRecord]:
        out = []
        for stat in self.stats.values():
            if stat.smallest is not None:
                out.append(stat.smallest)
        return sorted(out, key=lambda f: (f.operation, f.rule))

    def flaky(self) -> list[FailureRecord]:
        """One record per rule that failed only irreproducibly."""
        out = [s.flaky_record for s in self.stats.values() if s.flaky_record and not s.failures]
        return sorted(out, key=lambda f: (f.operation, f.rule))

    def failed_rules(self, severity: str = "warning") -> set[str]:
        wanted = ("error",) if severity == "error" else ("error", "warning")
        return {rule for (_, rule), s in self.stats.items() if s.failures and s.worst in wanted}

    @property
    def ok(self) -> bool:
        return not self.failed_rules(self.options.fail_on)

    @property
    def judged(self) -> bool:
        """At least one check was decided: a run cut before any (a budget spent on
        requests that never answered) proves nothing either way."""
        return any(s.examples for s in self.stats.values())

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


@dataclass(frozen=True)
class _Preflight:
    """One harmless authenticated request per operation: an empty batch (nothing to
    write) or a read of a known BRM id; ``build`` makes it for another base URL."""

    operation: str
    option: str  # the command-line option the base URL comes from
    base: str
    build: Callable[[str], Sent]

    @property
    def sent(self) -> Sent:
        return self.build(self.base)


class Runner:
    """One run. ``generic`` is an extra phase run last (the Schemathesis phase, given
    by :mod:`.suite`); a Runner without one runs the suite's own phases only."""

    def __init__(
        self,
        options: Options,
        *,
        progress: TextIO | None = sys.stderr,
        generic: Callable[[Runner], None] | None = None,
    ) -> None:
        # The seed is always chosen (and reported), so any run can be replayed.
        seed = options.seed if options.seed is not None else secrets.randbelow(2**32)
        self.options = options.with_(seed=seed)
        self._only = options.only  # as given (None: every operation of the revision)
        # auto: the preflight works the revision out; until then, the default's paths.
        self._use_revision(None if options.revision == AUTO else resolve_revision(options.revision))
        if options.revision == AUTO:
            self.options = self.options.with_(revision=AUTO, only=self._only)
        self.uniques = Uniques()
        self.result = RunResult(self.options, self.uniques.run_id)
        # Before the first client: every client caps its requests at this deadline.
        self.deadline = self.result.started + options.time_budget
        self.client = self._new_client(options.timeout)
        self.progress = Progress(progress)
        self.generic = generic
        self.phase = "start"
        self._previous: Sent | None = None  # the last request sent on self.client
        self._rejected: list[Sent] = []  # consecutive authenticated requests got 401/403
        self._found: list[_Preflight] = []  # preflight requests the server accepted
        self._unique = re.compile(re.escape(self.uniques.run_id) + r"-(\d{5})-")
        self._seen_unique = 0  # the highest per-run unique number sent so far
        self._preflight_done = False

    def _use_revision(self, revision: str | None) -> None:
        """Test this revision (None: the default one, the seeds' operations): its
        operations, their methods and paths, and its documents to judge answers by."""
        options = self.options.with_(revision=revision, only=self._only)
        self.options = options.with_(only=options.operations)
        self.endpoints = Endpoints(
            options.base_url.rstrip("/"), options.brm_base_url.rstrip("/"), revision
        )
        self.ctx = Context(options.max_response_bytes, revision)
        if hasattr(self, "result"):
            self.result.options = self.options

    def _new_client(self, timeout: float) -> Client:
        return Client(
            timeout=timeout,
            max_response_bytes=self.options.max_response_bytes,
            secret=self.options.token,
            run_deadline=self.deadline,
        )

    # -------------------------------------------------------------- basics

    def out_of_time(self) -> bool:
        if time.monotonic() >= self.deadline:
            self.result.budget_exhausted = True
            return True
        return False

    def _send(self, sent: Sent) -> Received:
        received = self.client.send(sent)
        self._previous = sent
        self.result.requests = self.client.requests + self.result.resent
        return received

    def execute(self, case: Case) -> Received:
        """Send ``case``, judge and record the answer; the answer (for sequences)."""
        return self._exchange(case)[0]

    def exchange(self, case: Case, extra: Judge | None = None) -> list[CheckFailure]:
        """Send ``case``, judge it (by the suite's checks and ``extra``), record the
        outcome; the failures that reproduced."""
        return self._exchange(case, extra)[1]

    def _exchange(
        self, case: Case, extra: Judge | None = None
    ) -> tuple[Received, list[CheckFailure]]:
        case = self._sound(case)
        preceding = self._previous
        received = self._send(case.sent)
        if received.out_of_budget:  # cut by the run's deadline, within its timeout
            self.result.budget_exhausted = True
            self.result.notes.append(f"not judged: {case.label}: {received.error}")
            return received, []
        self._watch_credentials(case, received)
        applied, failures = self._judge(case, received, extra)
        for rule in applied:
            stat = self.result.stat(case.operation_id, rule)
            stat.examples += 1
            stat.seconds += received.elapsed
        if failures:
            failures = self._reproduce(case, received, failures, extra, preceding)
        self._note_uniques(case.sent)
        self.progress.update(self.result, self.phase)
        return received, failures

    def _judge(
        self, case: Case, received: Received, extra: Judge | None
    ) -> tuple[list[str], list[CheckFailure]]:
        names, failures = run_checks(self.ctx, received, case)
        rules = list(rules_applied(names, case))
        if extra is not None:
            more_rules, more = extra(case, received)
            rules += more_rules
            failures = [*failures, *more]
        for failure in failures:
            # A caught failure's traceback holds the checks' frames and so the body
            # (up to max_response_bytes): a cycle only the cyclic GC would free, late.
            failure.__traceback__ = None
        return rules, failures

    # -------------------------------------------------------------- what it says

    def _sound(self, case: Case) -> Case:
        """The case with only the expectations the validator still agrees with: an
        item expected rejected still breaks the rule it names, an item expected
        accepted is still valid. (A shrunk example may have lost its only invalid
        part; it must not be reported as "invalid item accepted".) Expectations the
        validator cannot judge (known data, reuse) are kept as they are."""
        if not (case.invalid_items or case.valid_items) or not (
            case.item_key or case.kind == SINGLE
        ):
            return case
        errors = _item_errors(case, self.options)
        if errors is None:
            return case
        whole = errors.get(-1, set())
        invalid = {
            i: e
            for i, e in case.invalid_items.items()
            if not _judged_by_validator(e.rule) or _rule_id(e.rule) in errors.get(i, set()) | whole
        }
        # An input.* error outside any item (a NaN, bad bytes: the body cannot be read
        # item by item) is the bytes a raw case put into its invalid item, not the
        # valid sibling's.
        foreign = {r for r in whole if not r.startswith("input.")}
        valid = frozenset(i for i in case.valid_items if not errors.get(i) and not foreign)
        dropped = len(case.invalid_items) - len(invalid) + len(case.valid_items) - len(valid)
        if not dropped:
            return case
        self.result.unjudged_items += dropped
        return replace(case, invalid_items=invalid, valid_items=valid)

    # -------------------------------------------------------------- reproduction

    def _reproduce(
        self,
        case: Case,
        received: Received,
        failures: list[CheckFailure],
        extra: Judge | None,
        preceding: Sent | None,
    ) -> list[CheckFailure]:
        """Failures that would become a rule's reported reproduction are re-sent on a
        fresh connection first; those that do not fail again are recorded as flaky.
        Others (a rule already reproduced by a smaller request) count as they are."""
        size = _size(case.sent)
        pending = [f for f in failures if self._would_report(case.operation_id, f, size)]
        confirmed = [f for f in failures if f not in pending]
        if pending:
            again, resent = self._resend(case, extra)
            for failure in pending:
                if failure.rule in again:
                    confirmed.append(failure)
                else:
                    self._record_flaky(case, failure, received, preceding, resent)
        for failure in confirmed:
            self._record_failure(case, failure, received)
        return confirmed

    def _would_report(self, operation: str, failure: CheckFailure, size: int) -> bool:
        best = self.result.stat(operation, failure.rule).smallest
        return (
            best is None
            or (failure.severity == "error" and best.severity != "error")
            or (failure.severity == best.severity and size < best.size)
        )

    def _resend(self, case: Case, extra: Judge | None) -> tuple[set[str], str]:
        """(rules failing again, what the re-send got), on a new connection. Per-run
        identifiers this request introduced are replaced by fresh ones, so a write is
        judged as the first one was (not as a resubmission of it)."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            return set(), "not re-sent: the time budget is spent"
        fresh = self._renamed(case)
        client = self._new_client(min(self.options.timeout, remaining))
        try:
            got = client.send(fresh.sent)
        finally:
            client.close()
        self.result.resent += 1
        self.result.requests = self.client.requests + self.result.resent
        self._note_uniques(fresh.sent)
        _, failures = self._judge(fresh, got, extra)
        outcome = got.error or f"{got.status} {got.content_type}".strip()
        passed = sorted({f.rule for f in failures})
        return {f.rule for f in failures}, "re-sent on a fresh connection: " + outcome + (
            f" (failing {', '.join(passed)})" if passed else ""
        )

    def _renamed(self, case: Case) -> Case:
        """``case`` with the per-run unique identifiers first sent in it replaced by
        fresh ones of the same length (earlier ones, e.g. a reused communicationNumber,
        stay)."""
        seen = self._seen_unique
        mapping: dict[str, str] = {}

        def fresh(match: re.Match[str]) -> str:
            if int(match.group(1)) <= seen:
                return match.group(0)
            return mapping.setdefault(match.group(0), self.uniques.next())

        def rename(value: Any) -> Any:
            if isinstance(value, str):
                return self._unique.sub(fresh, value)
            if isinstance(value, bytes):
                return rename(value.decode("utf-8", "surrogateescape")).encode(
                    "utf-8", "surrogateescape"
                )
            if isinstance(value, dict):
                return {k: rename(v) for k, v in value.items()}
            if isinstance(value, list):
                return [rename(v) for v in value]
            return value

        sent = case.sent
        renamed = Sent(
            sent.method,
            rename(sent.url),
            sent.headers,
            None if sent.body is None else rename(sent.body),
        )
        made_here = sent.body is not None and self._unique.search(
            sent.body.decode("utf-8", "surrogateescape")
        )
        if made_here or sent.body is None or not case.item_key or case.reused_items:
            # The suite's own batch: only what this request introduced is renamed (a
            # sequence's earlier number, e.g. a corrected item's, stays).
            return replace(case, sent=renamed, request=rename(case.request))
        return self._fresh_numbers(case)

    def _fresh_numbers(self, case: Case) -> Case:
        """A generated batch (not made of per-run identifiers) with each item's
        communicationNumber replaced by a fresh one of the same length, in place in
        the bytes; only if the validator judges every item as before, else as sent."""
        body = case.sent.body or b""
        try:
            items = orjson.loads(body).get(case.item_key)
        except (orjson.JSONDecodeError, AttributeError):
            return case
        numbers = {
            item["communicationNumber"]
            for item in items or ()
            if isinstance(item, dict) and isinstance(item.get("communicationNumber"), str)
        }
        if not numbers or not isinstance(items, list):
            return case
        for old in numbers:
            unique = self.uniques.next()
            new = unique + old[len(unique) :] if len(old) >= len(unique) else _random(len(old))
            member = re.compile(rb'("communicationNumber"\s*:\s*)' + re.escape(_json(old)))
            body = member.sub(functools.partial(_swap, _json(new)), body)
        fresh = replace(case, sent=replace(case.sent, body=body))
        if _item_errors(fresh, self.options) != _item_errors(case, self.options):
            return case
        return replace(fresh, request=orjson.loads(body))

    def _note_uniques(self, sent: Sent) -> None:
        text = sent.url + (sent.body or b"").decode("utf-8", "surrogateescape")
        for match in self._unique.finditer(text):
            self._seen_unique = max(self._seen_unique, int(match.group(1)))

    def _record_flaky(
        self,
        case: Case,
        failure: CheckFailure,
        received: Received,
        preceding: Sent | None,
        resent: str,
    ) -> None:
        stat = self.result.stat(case.operation_id, failure.rule)
        stat.flaky += 1
        if stat.flaky_record is None:
            record = self._record(case, failure, received)
            record.preceded_by = self.client.scrub(curl(preceding)) if preceding else None
            record.resent = resent
            stat.flaky_record = record

    def _watch_credentials(self, case: Case, received: Received) -> None:
        """Stop the run when the credentials stop working (revoked, expired): after
        a streak of 401/403 answers to the operations' own authenticated requests,
        the preflight's requests are sent again; all rejected too is a
        misconfiguration, anything else (a WAF refusing one payload) is judged as
        usual."""
        auth = {k.lower(): v for k, v in case.sent.headers.items()}.get("authorization")
        if (
            case.probe in ("auth", "wrong-method", "brm-method")
            or not case.documented
            or received.error
            or auth != f"Bearer {self.options.token}"
        ):
            return
        if received.status not in (401, 403):
            self._rejected.clear()
            return
        self._rejected.append(case.sent)
        if len(self._rejected) < REJECTED_STREAK:
            return
        again = [(p, self._send(p.sent)) for p in self._found]
        self._rejected.clear()
        if again and all(got.status in (401, 403) for _, got in again):
            p, got = again[0]
            raise _Abort(
                Misconfigured(
                    f"credentials rejected during the run: {REJECTED_STREAK} authenticated "
                    f"requests in a row got 401/403, then {p.sent.method} {p.sent.url} got "
                    f"{got.status} (it passed the preflight); check --token or {TOKEN_ENV}"
                )
            )

    def _record_failure(self, case: Case, failure: CheckFailure, received: Received) -> None:
        operation = case.operation_id
        stat = self.result.stat(operation, failure.rule)
        if stat.examples == 0:
            stat.examples = 1
        stat.failures += 1
        if failure.severity == "error" or stat.worst == "none":
            stat.worst = failure.severity
        record = self._record(case, failure, received)
        if stat.first is None:
            stat.first = record
        # Keep the smallest reproduction (Hypothesis shrinks towards it), errors first.
        if self._would_report(operation, failure, record.size):
            stat.smallest = record

    def _record(self, case: Case, failure: CheckFailure, received: Received) -> FailureRecord:
        scrub = self.client.scrub
        body = received.body[:BODY_EXCERPT].decode("utf-8", "replace")
        return FailureRecord(
            rule=failure.rule,
            severity=failure.severity,
            operation=case.operation_id,
            label=case.label,
            phase=case.phase,
            message=scrub(failure.message),
            curl=scrub(curl(case.sent)),
            status=received.status,
            response_headers=redact_headers(received.headers),
            response_body=scrub(body + ("..." if len(received.body) > BODY_EXCERPT else "")),
            error=received.error,
            size=_size(case.sent),
            elapsed=time.monotonic() - self.result.started,
        )

    # -------------------------------------------------------------- preflight

    def preflight(self) -> None:
        """A token, reachability, classifiers (served by the server, else the
        config), then one harmless authenticated request per operation: none found
        at the base URL, or the credentials rejected, stops the run
        (:class:`Misconfigured`)."""
        if self._preflight_done:
            return
        self.phase = "preflight"
        if not self.options.token:
            raise Misconfigured(NO_TOKEN)
        fetched: dict[str, frozenset[str]] = {}
        reached = False
        for name in KNOWN_CLASSIFIERS:
            got = self._send(
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
        if fetched:
            merged = dict(self.options.fixtures.classifiers)
            merged.update(fetched)
            fixtures = replace(self.options.fixtures, classifiers=merged)
            self.options = self.options.with_(fixtures=fixtures)
            self.result.options = self.options
            self.result.classifier_source = "server: " + ", ".join(sorted(fetched))
        if self.options.revision == AUTO:
            from .detect import detect

            found = detect(self)
            self._use_revision(found.revision)
            self.result.detected = found.line
        self._find_operations()
        self._preflight_done = True

    def _preflights(self) -> list[_Preflight]:
        o, e = self.options, self.endpoints
        auth = auth_headers(o.token)
        out = []
        for op_id in o.operations:
            if op_id in BATCH_OPERATIONS or op_id in SINGLE_OPERATIONS:
                # An empty batch, or an empty item (invalid: nothing is written).
                case = batch_case(o, e, op_id, "preflight", [])

                def build(base: str, sent: Sent = case.sent, path: str = case.sent.url) -> Sent:
                    return replace(sent, url=base + path[len(e.base_url) :])

                out.append(_Preflight(op_id, "--base-url", e.base_url, build))
            elif op_id == BRM_OPERATION:
                # Under --base-url unless --brm-base-url moved it elsewhere.
                derived = e.brm_base_url == e.base_url + DEFAULT_BRM_PATH
                path = (DEFAULT_BRM_PATH if derived else "") + "/accumulatedBalance/"
                read = functools.partial(_get, path + quote_id(o.fixtures.brm_ids[0]), auth)
                if derived:
                    out.append(_Preflight(op_id, "--base-url", e.base_url, read))
                else:
                    out.append(_Preflight(op_id, "--brm-base-url", e.brm_base_url, read))
        return out

    def _find_operations(self) -> None:
        answers: list[tuple[_Preflight, Received]] = []
        for p in self._preflights():
            got = self._send(p.sent)
            if got.unreachable:  # e.g. a --brm-base-url where nothing listens
                raise Unreachable(f"{p.sent.method} {p.sent.url}: {got.error}")
            if got.out_of_budget:
                self.result.budget_exhausted = True
                self.result.notes.append(f"not judged: preflight: {got.error}")
                return
            if got.error:
                # Connected, then no usable answer (a hang, a reset, a bomb): the
                # server's behaviour, for the run's own requests to judge
                # (server.no-5xx), not a misconfiguration. No more preflight requests:
                # each could cost a whole --timeout of the budget.
                self.result.notes.append(f"preflight: {p.sent.method} {p.sent.url}: {got.error}")
                return
            answers.append((p, got))
        if not answers:
            return
        missing = [(p, got) for p, got in answers if _missing(p, got)]
        if len(missing) == len(answers):
            raise Misconfigured(self._not_found(missing))
        revision = self.options.revision
        if revision is not None:
            # A revision was asked for: each of its operations must be there, with its
            # method (another revision's server is a misconfigured run, not violations).
            for p, got in answers:
                if _missing(p, got) or got.status == 405:
                    raise Misconfigured(self._wrong_revision(p, got, revision))
        found = [(p, got) for p, got in answers if (p, got) not in missing]
        self._found = [p for p, got in found if got.status not in (401, 403)]
        if found and all(got.status in (401, 403) for _, got in found):
            p, got = found[0]
            more = _more(len(found), "authenticated request")
            raise Misconfigured(
                f"credentials rejected: {p.sent.method} {p.sent.url} got {got.status} with "
                f"the given token{more}; check --token or {TOKEN_ENV}"
            )
        for p, _ in missing:
            self.result.notes.append(
                f"{p.operation}: {p.sent.method} {p.sent.url} answered 404 in the preflight"
            )

    def _wrong_revision(self, p: _Preflight, got: Received, revision: str) -> str:
        what = "not found" if got.status == 404 else "not with this method"
        how = "--revision auto" if self.result.detected is None else "another --revision"
        return (
            f"revision {revision}: {p.operation} {what}: {p.sent.method} {p.sent.url} "
            f"answered {got.status}; the server does not implement this revision "
            f"(try {how}, or --only the operations it has)"
        )

    def _not_found(self, missing: list[tuple[_Preflight, Received]]) -> str:
        p, _ = missing[0]
        message = (
            f"none of the operations found at {p.option} {p.base}: "
            f"{p.sent.method} {p.sent.url} answered 404{_more(len(missing), 'operation')}"
        )
        suggestion = self._suggest(p)
        if suggestion:
            message += f"; did you mean {p.option} {suggestion}?"
        return message

    def _suggest(self, p: _Preflight) -> str | None:
        """A base URL on the same origin where the operation answers (not 404)."""
        parts = urllib.parse.urlsplit(p.base)
        origin = f"{parts.scheme}://{parts.netloc}"
        segments = [s for s in parts.path.split("/") if s]
        candidates = ["/" + "/".join(segments[:k]) for k in range(len(segments) - 1, -1, -1)]
        candidates += ["/" + "/".join(segments) + prefix for prefix in COMMON_PREFIXES]
        for path in dict.fromkeys(c.replace("//", "/").rstrip("/") for c in candidates):
            if path == parts.path.rstrip("/") or self.out_of_time():
                continue
            got = self._send(p.build(origin + path))
            if not got.error and not _missing(p, got):
                return origin + path
        return None

    # -------------------------------------------------------------- phases

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
            if self.generic is not None and self.options.schemathesis:
                generic = self.generic
                steps.append(("schemathesis", lambda: generic(self)))
            for name, step in steps:
                if self.out_of_time():
                    self.result.notes.append(f"time budget exhausted before: {name}")
                    continue
                self.phase = name
                step()
        except _Abort as abort:
            raise abort.reason from None
        finally:
            self.client.close()
            self.progress.done()
            self.result.duration = time.monotonic() - self.result.started
            self.result.requests = self.client.requests + self.result.resent
        if self.result.unjudged_items:
            self.result.notes.append(
                f"{self.result.unjudged_items} item expectations dropped: the validator no "
                "longer agreed with them (e.g. a shrunk item that lost its invalid part)"
            )
        return self.result

    def _each(self, cases: Iterable[Case]) -> None:
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
        return models_of(self.options)

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
        return self.exchange(case)

    def _positive(self) -> None:
        for model in self._models():
            self.explore(
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
                self.explore(
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
        if BRM_OPERATION not in self.options.operations:
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
            return self.exchange(
                brm_case(
                    self.options,
                    self.endpoints,
                    f"generated: {probe}",
                    raw_id,
                    query=q,
                    probe=probe,
                )
            )

        self.explore(st.one_of(known, unknown), send, self.options.max_examples)

    def explore(
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
        wrapped: Any = decorate(_sourceless(test))
        wrapped = settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=(Phase.explicit, Phase.generate, Phase.shrink),
            report_multiple_bugs=False,
            verbosity=Verbosity.quiet,
            print_blob=False,
        )(wrapped)
        hseed(self.result.seed)(wrapped)()


def _sourceless(fn: Callable[[Any], None]) -> Callable[[Any], None]:
    """``fn`` without a source file. Hypothesis reads a test function's source (to
    digest it for its example database, which is off here, and to inspect its first
    parameter) at every search: ~8 ms each, and a run makes a few hundred searches.
    Without a source it uses the name."""
    code = fn.__code__.replace(co_filename="<amlyze-contracts search>")
    return types.FunctionType(code, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)


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


def _get(path: str, headers: dict[str, str], base: str) -> Sent:
    return Sent("GET", base + path, {"Accept": "application/json", **headers})


def _json(text: str) -> bytes:
    """A string as the generic phase serialises it (``json.dumps``)."""
    import json

    return json.dumps(text).encode()


def _swap(value: bytes, match: re.Match[bytes]) -> bytes:
    return match.group(1) + value


def _random(length: int) -> str:
    return "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(length))


def _size(sent: Sent) -> int:
    return len(sent.url) + len(sent.body or b"")


def _more(count: int, what: str) -> str:
    return f" (as did the other {count - 1} {what}{'s' if count > 2 else ''})" if count > 1 else ""


def _tmf_error(received: Received) -> bool:
    body = received.json() if received.body else None
    return isinstance(body, dict) and isinstance(body.get("code"), str) and "reason" in body


def _missing(p: _Preflight, received: Received) -> bool:
    """No such operation there: a 404, except BRM's own 404 for an id (a TMF Error)."""
    if received.error or received.status != 404:
        return False
    return not (p.operation == BRM_OPERATION and _tmf_error(received))


def _rule_id(label: str) -> str:
    """ "schema.maxLength (requester)" -> "schema.maxLength"."""
    return label.split(" ", 1)[0]


def _judged_by_validator(label: str) -> bool:
    from ..catalogue import load_rules

    rule = _rule_id(label)
    return rule.startswith(("schema.", "input.")) or rule in load_rules().by_id


def _item_errors(case: Case, options: Options) -> dict[int, set[str]] | None:
    """Error rule ids per item index of a batch body as sent (-1: outside any item);
    None when the body is not a batch the validator can read."""
    from ..engine.api import validate_request

    if case.sent.body is None:
        return None
    report = validate_request(
        case.operation_id,
        case.sent.body,
        classifiers=dict(options.fixtures.classifiers),
        spec=operation_of(case.operation_id, options.revision).spec,
        positions=False,
    )
    if case.kind == SINGLE:
        return {0: {v.rule for v in report.errors}} if report.errors else {}
    prefix = f"/{case.item_key}/"
    out: dict[int, set[str]] = {}
    for v in report.errors:
        head = v.pointer[len(prefix) :].split("/", 1)[0] if v.pointer.startswith(prefix) else ""
        out.setdefault(int(head) if head.isdigit() else -1, set()).add(v.rule)
    return out


def models_of(options: Options) -> list[ItemModel]:
    """The item models of the operations tested (batches and single items)."""
    fx = options.fixtures
    know = knowledge(fx.classifiers, fx.customers, options.revision)
    return [
        ItemModel(op, know)
        for op in options.operations
        if op in BATCH_OPERATIONS or op in SINGLE_OPERATIONS
    ]


def targets_of(options: Options) -> list[tuple[str, Target]]:
    return [(model.operation_id, t) for model in models_of(options) for t in model.targets()]
