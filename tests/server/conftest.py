"""Shared fixtures for the reference-server tests: real HTTP on 127.0.0.1 only."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from amlyze_contracts.server import running

TOKEN = "dev-token"
SMALL_LIMIT = 4096  # body limit of the shared server, so 413 is cheap to provoke
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ACCOUNTS = "/amlyze-ws-rest/batch-accounts"
BALANCES = "/amlyze-ws-rest/batch-account-balances"
BRM = "/brm/prepayBalanceManagement/v1/accumulatedBalance/"
KNOWN_BRM_ID = "0.0.0.1+-account+102879"
OTHER_BRM_ID = "0.0.0.1+-account+200001"


def make_client(base_url: str, *, auth: bool = True) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers=AUTH if auth else {}, timeout=10.0)


@pytest.fixture(scope="session")
def connect() -> Callable[..., httpx.Client]:
    """``connect(url, auth=True)``: an httpx client with the bearer token."""
    return make_client


@pytest.fixture(scope="session")
def base_url() -> Iterator[str]:
    """One correct server for the whole session (in-memory state, small body limit)."""
    with running(token=TOKEN, max_body=SMALL_LIMIT, body_timeout=1.0) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with make_client(base_url) as c:
        yield c


_counter = itertools.count()
_RUN = uuid.uuid4().hex[:8]


@pytest.fixture
def uid() -> Callable[[str], str]:
    """Unique identifiers, so tests sharing a server never collide."""
    return lambda prefix: f"{prefix}-{_RUN}-{next(_counter)}"
