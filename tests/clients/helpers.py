"""What the client-hook and middleware tests share: bodies the reference server
accepts, its credentials, and one way to send an exchange through each client hook."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import orjson
import requests

from amlyze_contracts.clients import (
    httpx_async_hooks,
    httpx_hooks,
    requests_adapter,
    requests_hooks,
)
from amlyze_contracts.server.fixtures import DEFAULT_TOKEN, valid_account

ACCOUNTS = "/amlyze-ws-rest/batch-accounts"
BRM = "/brm/prepayBalanceManagement/v1/accumulatedBalance/"
BRM_ID = "0.0.0.1%2B-account%2B102879"  # 0.0.0.1+-account+102879, a known balance
AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}", "Content-Type": "application/json"}
# Every way a client can carry the hooks: each test runs with all four.
KINDS = ("httpx", "httpx-async", "requests-adapter", "requests-hooks")


def accounts(count: int = 3) -> list[dict[str, Any]]:
    run = uuid.uuid4().hex[:10]
    return [valid_account(f"cl-{run}-{i}", f"acc-{run}-{i}") for i in range(count)]


def body(items: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"accounts": items})


def send(
    kind: str,
    base: str,
    method: str,
    path: str,
    content: bytes | None = None,
    *,
    mode: str = "raise",
    headers: dict[str, str] | None = None,
    hooks_base: str | None = None,
    **options: Any,
) -> Any:
    """Send one request to ``base + path`` with the hooks of ``kind`` made for
    ``hooks_base`` (default ``base``); returns the library's response."""
    headers = AUTH if headers is None else headers
    url = base + path
    base = hooks_base or base
    if kind == "httpx":
        with httpx.Client(event_hooks=httpx_hooks(base, mode, **options), timeout=10) as client:
            return client.request(method, url, content=content, headers=headers)
    if kind == "httpx-async":

        async def go() -> httpx.Response:
            hooks = httpx_async_hooks(base, mode, **options)
            async with httpx.AsyncClient(event_hooks=hooks, timeout=10) as client:
                return await client.request(method, url, content=content, headers=headers)

        return asyncio.run(go())
    if kind == "requests-adapter":
        with requests.Session() as session:
            session.mount(base, requests_adapter(base, mode, **options))
            return session.request(method, url, data=content, headers=headers, timeout=10)
    assert kind == "requests-hooks", kind
    hooks = requests_hooks(base, mode, **options)
    return requests.request(method, url, data=content, headers=headers, hooks=hooks, timeout=10)
