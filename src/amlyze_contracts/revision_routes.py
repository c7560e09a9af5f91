"""Which other vendor revision fits an exchange that the one in use does not: its route
(method and path), or its request body.

Recorded traffic is matched to operations by route; some routes moved between
revisions (the balances batch is ``PUT`` up to 2024-11-05, ``POST`` from 2024-11-28) and
the bundled specs lack the single operations. An exchange whose route the revision in
use does not know, but another revision does, is reported (``input.operation-unknown``,
naming the ``--revision`` that has it) rather than skipped as foreign traffic; a request
body with schema errors that another revision's document accepts gets the library's
revision hint, as a file does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .violations import Violation

if TYPE_CHECKING:
    from .catalogue import RuleSet
    from .proxy.exchange import Matcher
    from .revisions import Revision

RULE = "input.operation-unknown"


class OtherRevisions:
    """Routes of the revisions other than ``used`` (None: the bundled specs); each
    distinct set of documents is compiled into a matcher once, on first need."""

    def __init__(self, used: Revision | None) -> None:
        self.used = used
        self._matchers: list[tuple[list[str], Matcher]] | None = None

    def _load(self) -> list[tuple[list[str], Matcher]]:
        from . import revisions
        from .proxy.exchange import Matcher

        by_documents: dict[tuple[str, ...], list[str]] = {}
        for name, rev in revisions.table().revisions.items():
            if self.used is None or name != self.used.name:
                key = tuple(str(p) for p in dict.fromkeys(rev.documents.values()))
                by_documents.setdefault(key, []).append(name)
        # A revision with the same documents as the one in use has no other route.
        if self.used is not None:
            by_documents.pop(
                tuple(str(p) for p in dict.fromkeys(self.used.documents.values())), None
            )
        return [
            (names, Matcher(revisions.resolve(names[0]).specs())) for names in by_documents.values()
        ]

    def find(self, method: str, target: str) -> tuple[str, list[str]] | None:
        """(operationId, the revisions that have it at this route), oldest first."""
        if self._matchers is None:
            self._matchers = self._load()
        operation_id: str | None = None
        fits: list[str] = []
        for names, matcher in self._matchers:
            match = matcher.match(method, target)
            if match is not None:
                operation_id = operation_id or match.operation_id
                fits.extend(names)
        return (operation_id, sorted(fits)) if operation_id else None

    def violation(self, method: str, target: str, rules: RuleSet | None) -> Violation | None:
        """``input.operation-unknown`` naming the revision that has this route, or None
        when no revision has it (foreign traffic) or the rule is off (``rules``: the
        rule set in use, None for the bundled rules)."""
        from .catalogue import load_rules

        found = self.find(method, target)
        severity = (rules if rules is not None else load_rules()).severity(RULE)
        if found is None or severity == "off":
            return None
        operation_id, fits = found
        import urllib.parse

        path = urllib.parse.urlsplit(target).path
        used = f"revision {self.used.name}" if self.used else "the bundled specs"
        also = f" (also {', '.join(fits[1:])})" if len(fits) > 1 else ""
        return Violation(
            RULE,
            severity,
            "",
            f"{method.upper()} {path} is no operation of {used}; the route fits vendor "
            f"revision {fits[0]}{also} as {operation_id}: use --revision {fits[0]}",
        )

    def with_body_hint(
        self,
        operation_id: str,
        body: bytes | None,
        violations: list[Violation],
        rules: RuleSet | None,
        classifiers: Any,
    ) -> list[Violation]:
        """``violations`` of a request body, or, when it has schema errors, the library's
        report with the hint naming the revision whose document accepts the body (the
        second validation runs for such bodies only)."""
        if body is None or not any(
            v.rule.startswith("schema.") and v.severity == "error" for v in violations
        ):
            return violations
        from . import validate_request

        report = validate_request(
            operation_id,
            body,
            rules=rules,
            classifiers=classifiers,
            item=False,
            revision=None if self.used is None else self.used.name,
        )
        return report.violations
