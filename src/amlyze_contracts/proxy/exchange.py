"""One HTTP exchange judged by the one rule set: which operation it is (method and
path), its request (``validate_request``) and its response with the request/response
rules (``validate_response(..., request=...)``). Shared by the proxy and
``validate --har``; needs no extra.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import orjson

from ..specs import Spec
from ..violations import Violation

if TYPE_CHECKING:
    from ..catalogue import RuleSet
    from ..specs import Operation

Classifiers = Mapping[str, Any] | str | Path | None
NOT_GIVEN: Any = object()  # ``response(request=...)`` left out
_ECHOED_PARAMS = frozenset(("id", "@type", "fields"))  # what the BRM read's echo rules compare


class Match(msgspec.Struct, frozen=True):
    """An exchange's operation and what its path and query said."""

    operation_id: str
    spec: Spec  # passed on: saves the library a search of every bundled spec per call
    has_request_body: bool
    batch: bool
    params: Mapping[str, str]  # path parameters, then query parameters


def _template(path: str) -> re.Pattern[str]:
    # The operation's path at the end of the URL's path: deployments mount the API
    # under a context path (BRM: /brm/prepayBalanceManagement/v1), the vendor's
    # own host or the proxy's.
    parts = re.split(r"\{([^}/]+)\}", path)
    pattern = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<p{i // 2}>[^/]+)" for i, part in enumerate(parts)
    )
    return re.compile(f"(?:/.*)?{pattern}/?")


class Matcher:
    """Finds the operation of (method, path) among the given specs."""

    def __init__(self, specs: list[Spec] | None = None) -> None:
        from ..specs import iter_operations

        self._routes: list[tuple[str, re.Pattern[str], list[str], Operation]] = []
        for op in iter_operations(specs):
            names = re.findall(r"\{([^}/]+)\}", op.path)
            self._routes.append((op.method.upper(), _template(op.path), names, op))
        # Longer (more specific) paths first.
        self._routes.sort(key=lambda route: -len(route[3].path))
        self._cache: dict[tuple[str, str], tuple[Operation, dict[str, str]] | None] = {}

    def operation(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        key = (method.upper(), path)
        if key not in self._cache:
            if len(self._cache) > 4096:  # paths with ids are unbounded; so is no cache
                self._cache.clear()
            self._cache[key] = self._find(*key)
        return self._cache[key]

    def _find(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        for route_method, pattern, names, op in self._routes:
            if route_method != method:
                continue
            found = pattern.fullmatch(path)
            if found:
                values = [urllib.parse.unquote(v) for v in found.groups()]
                return op, dict(zip(names, values, strict=True))
        return None

    def match(self, method: str, target: str) -> Match | None:
        """``target``: a path with an optional query (``/x/{id}?fields=a``) or a URL."""
        split = urllib.parse.urlsplit(target)
        found = self.operation(method, split.path)
        if found is None:
            return None
        op, path_params = found
        params = dict(path_params)  # the cached dict stays as found
        for name, value in urllib.parse.parse_qsl(split.query, keep_blank_values=True):
            params.setdefault(name, value)
        return Match(
            op.operation_id,
            op.spec,
            op.request_schema is not None,
            op.batch_item is not None,
            params,
        )


class ExchangeValidator:
    """Validates requests and responses with one prepared rule set."""

    def __init__(
        self,
        *,
        rules: RuleSet | None = None,
        classifiers: Classifiers = None,
        specs: list[Spec] | None = None,
    ) -> None:
        # The public entry points: the one rule set, wherever the engine lives.
        from .. import validate_request, validate_response

        self.ruleset = rules  # None: the bundled rules
        self.classifiers = classifiers
        self.matcher = Matcher(specs)
        from ..engine.jsoninput import may_have_duplicates

        self._validate_request = validate_request
        self._validate_response = validate_response
        self._may_have_duplicates = may_have_duplicates

    def request(
        self, match: Match, body: bytes | None, *, parsed: Any = NOT_GIVEN
    ) -> list[Violation]:
        """``parsed``: :meth:`request_value` of the same body, so that it is read once
        for both; validated in place of the bytes only where it stands for them
        exactly (a JSON object without duplicate keys, which a parse would drop)."""
        if not match.has_request_body:
            return []
        given: Any = body or b""
        if (
            match.batch
            and isinstance(parsed, dict)
            and not self._may_have_duplicates(given, orjson.dumps(parsed))
        ):
            given = parsed  # saves the library's own decode (0.1 ms of 100 items)
        report = self._validate_request(
            match.operation_id,
            given,
            rules=self.ruleset,
            classifiers=self.classifiers,
            item=False,
            spec=match.spec,
            positions=False,
        )
        return report.violations

    def request_value(self, match: Match, body: bytes | None) -> Any:
        """The request as the request/response rules read it: a batch body parsed
        (its bytes when not JSON: the library reports nothing more), or the BRM
        read's echoed parameters. The proxy computes it while the upstream works,
        so the response's validation does not parse the request again."""
        if not match.batch:
            # The BRM read: the request/response rules compare echoes with these.
            return {k: v for k, v in match.params.items() if k in _ECHOED_PARAMS}
        # Parsed here once: the library would re-read the bytes with positions
        # (0.2 ms for 100 items), which the request/response rules never show.
        try:
            return orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            return body

    def response(
        self,
        match: Match,
        request_body: bytes | None,
        status: int,
        headers: Mapping[str, str] | None,
        body: bytes | None,
        *,
        request: Any = NOT_GIVEN,
    ) -> list[Violation]:
        """``request``: :meth:`request_value` computed earlier (else from ``request_body``)."""
        if request is NOT_GIVEN:
            request = self.request_value(match, request_body)
        report = self._validate_response(
            match.operation_id,
            status,
            body or b"",
            headers=headers,
            request=request,
            rules=self.ruleset,
            spec=match.spec,
        )
        return report.violations
