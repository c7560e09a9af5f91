"""Small AMLYZE servers of the account flow, one per vendor revision, written from
CONTRACT.md and the revision documents (none of the reference server's code): a plain
``http.server`` handler whose class attributes say which revision it implements.

What the contract fixes is written out here: routes and methods, bearer auth, the
bodies of 400/401/404/405, per-item results, the state (communicationNumbers used,
accounts and their owners), validate-batch-accounts saving nothing, the single
operations' answers. Which items break a request rule is asked of the library's
validator for the server's own revision, as an adopter might do; it does not know
the server's data (customers, owners, numbers used), which are this server's own.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

from amlyze_contracts.engine.api import validate_request
from tests.httpd import serving

TOKEN = "revision-server-token"
API = "/amlyze-ws-rest"
# This server's own known data (not the reference server's).
CUSTOMERS = ("BANK-C1", "BANK-C2")
CLASSIFIERS: dict[str, list[str]] = {
    "currency": ["EUR", "USD", "GBP", "CHF", "PLN", "SEK"],
    "accountType": ["IND_B2B", "ORG_B2B"],
    "businessUnit": ["sandbox", "BU_1"],
    "accountBalanceType": ["DAILY_BALANCE", "STATEMENT_BALANCE"],
}
IN_BATCH_REUSE = "batch.communication-number-unique"  # answered as O005, from the state


class RevisionServer(BaseHTTPRequestHandler):
    """AMLYZE's account flow as of ``revision``. Subclasses (see :func:`server_for`)
    set the revision, the balances batch's method, and what is left out or broken."""

    protocol_version = "HTTP/1.1"
    revision: ClassVar[str] = "2024-11-04"
    balances_method: ClassVar[str] = "PUT"
    single_operations: ClassVar[bool] = True  # serve /account, /account-balance, validate
    validate_saves: ClassVar[bool] = False  # a bug: validate-batch-accounts saves
    lock: ClassVar[threading.Lock]
    numbers: ClassVar[dict[str, set[str]]]  # state group -> communicationNumbers used
    owners: ClassVar[dict[str, str]]  # accountExtId -> businessEntityExtId

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # ------------------------------------------------------------------ plumbing

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _spring(self, status: int, error: str) -> None:
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        path = self.path.split("?", 1)[0]
        self._send(status, {"timestamp": now, "status": status, "error": error, "path": path})

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _routes(self) -> dict[str, tuple[str, str]]:
        """path -> (method, operationId) as the revision's pages give them."""
        routes = {
            f"{API}/batch-accounts": ("POST", "batchAccounts"),
            f"{API}/batch-account-balances": (self.balances_method, "registerBatchAccountBalances"),
        }
        if self.single_operations:
            routes[f"{API}/validate-batch-accounts"] = ("POST", "validateBatchAccounts")
            routes[f"{API}/account"] = ("POST", "createAccount")
            routes[f"{API}/account-balance"] = ("PUT", "registerAccountBalance")
        return routes

    def _any(self) -> None:
        body = self._body()
        path = self.path.split("?", 1)[0]
        if self.command == "GET" and path.startswith("/classifier/"):
            codes = CLASSIFIERS.get(path.rsplit("/", 1)[-1])
            if codes is None:
                self._send(404, b"Not Found", "text/plain")
            else:
                self._send(200, [{"code": c, "name": c} for c in codes])
            return
        route = self._routes().get(path)
        if route is None:
            self._send(404, b"Not Found", "text/plain")
            return
        if self.command == "OPTIONS":
            self.send_response(204)
            self.send_header("Allow", f"{route[0]}, OPTIONS")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() != TOKEN:
            self._spring(401, "Unauthorized")
            return
        method, operation_id = route
        if self.command != method:
            self._spring(405, "Method Not Allowed")
            return
        try:
            parsed = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            self._spring(400, "Bad Request")
            return
        # The validator reads the bytes as sent: a duplicate member is seen, not merged.
        errors = self._validate(operation_id, body)
        if operation_id in ("createAccount", "registerAccountBalance"):
            self._single(operation_id, parsed, errors)
        else:
            self._batch(operation_id, parsed, errors)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _any

    # ------------------------------------------------------------------ the contract

    def _group(self, operation_id: str) -> str:
        """Which numbers an operation shares: the accounts', or the balances'."""
        return "balances" if "Balance" in operation_id else "accounts"

    def _verdict(self, operation_id: str, item: Any, errors: list[Any], seen: set[str]) -> Any:
        """(code, description) of a rejection, or None: accepted (and recorded)."""
        errors = [v for v in errors if v.rule != IN_BATCH_REUSE]
        if errors:
            return errors[0].code or "001", errors[0].message
        number = item["communicationNumber"]
        if number in self.numbers.setdefault(self._group(operation_id), set()) | seen:
            return "O005", "CommunicationNumber already used in amlyze"
        if self._group(operation_id) == "accounts":
            customer, account = item["businessEntityExtId"], item["accountExtId"]
            if customer not in CUSTOMERS:
                return "404", "BusinessEntity with given extId does not exist in amlyze"
            if self.owners.get(account, customer) != customer:
                return "003", "Account belongs to another customer"
        seen.add(number)
        if operation_id != "validateBatchAccounts" or self.validate_saves:
            self.numbers[self._group(operation_id)].add(number)
            if self._group(operation_id) == "accounts":
                self.owners[item["accountExtId"]] = item["businessEntityExtId"]
        return None

    def _validate(self, operation_id: str, body: bytes) -> list[Any]:
        classifiers = {name: frozenset(codes) for name, codes in CLASSIFIERS.items()}
        report = validate_request(
            operation_id, body, revision=self.revision, classifiers=classifiers, positions=False
        )
        return list(report.errors)

    def _batch(self, operation_id: str, body: Any, errors: list[Any]) -> None:
        key = "accountBalances" if self._group(operation_id) == "balances" else "accounts"
        items = body.get(key) if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            self._spring(400, "Bad Request")
            return
        per_item: dict[int, list[Any]] = {}
        for v in errors:
            head = v.pointer[len(f"/{key}/") :].split("/", 1)[0]
            if not v.pointer.startswith(f"/{key}/") or not head.isdigit():
                self._spring(400, "Bad Request")  # the body as a whole is unreadable
                return
            per_item.setdefault(int(head), []).append(v)
        results = []
        seen: set[str] = set()
        with self.lock:
            for index, item in enumerate(items):
                verdict = self._verdict(operation_id, item, per_item.get(index, []), seen)
                result: dict[str, Any] = {}
                if verdict is None:
                    result["resultType"] = "REQUEST_ACCEPTED"
                else:
                    result.update(
                        resultType="REQUEST_REJECTED",
                        errorCode=verdict[0],
                        errorDescription=verdict[1],
                    )
                if isinstance(item, dict):
                    for name in ("communicationNumber", "accountExtId", "businessUnit"):
                        if isinstance(item.get(name), str):
                            result[name] = item[name]
                result["timeElapsedMs"] = 1
                results.append(result)
        self._send(200, {"results": results, "timeElapsedMs": len(results) + 1})

    def _single(self, operation_id: str, body: Any, errors: list[Any]) -> None:
        if not isinstance(body, dict):
            self._spring(400, "Bad Request")
            return
        with self.lock:
            verdict = self._verdict(operation_id, body, errors, set())
        if verdict is not None:
            code, description = verdict
            rejection = {"resultType": "REQUEST_REJECTED", "errorCode": code}
            self._send(400, {**rejection, "errorDescription": description})
        elif operation_id == "createAccount":
            self._send(200, {"resultType": "OK"})  # as the account page shows (E39)
        else:
            self._send(200, {"resultType": "REQUEST_ACCEPTED"})


def server_for(
    revision: str,
    *,
    single_operations: bool = True,
    validate_saves: bool = False,
    balances_method: str | None = None,
) -> type[RevisionServer]:
    """A handler class of its own (its own state) for one revision of the pages."""
    method = balances_method or ("POST" if revision >= "2024-11-28" else "PUT")
    return type(
        f"RevisionServer_{revision.replace('-', '_')}",
        (RevisionServer,),
        {
            "revision": revision,
            "balances_method": method,
            "single_operations": single_operations,
            "validate_saves": validate_saves,
            "lock": threading.Lock(),
            "numbers": {},
            "owners": {},
        },
    )


def serve_revision(revision: str, **changes: Any) -> Iterator[str]:
    """Serve :func:`server_for` on 127.0.0.1; yields its base URL."""
    with serving(server_for(revision, **changes)) as url:
        yield url
