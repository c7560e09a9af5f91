"""Classifier snapshots: the codes behind ``x-dynamic-enum`` members.

A snapshot maps a classifier name (``currency``, ``accountType``, ...) to its codes.
It comes from a JSON file (``{"currency": ["EUR", ...]}`` or the server's own
``[{"code": ..., "name": ...}]`` lists) or is fetched once from a server's
``GET /classifier/{name}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

KNOWN_CLASSIFIERS = ("currency", "accountType", "businessUnit", "accountBalanceType")


class ClassifierError(Exception):
    """A snapshot cannot be read or fetched."""


def _codes(name: str, values: Any, source: str) -> frozenset[str]:
    if not isinstance(values, list):
        raise ClassifierError(f"{source}: classifier {name!r} must be a list")
    codes = []
    for entry in values:
        if isinstance(entry, str):
            codes.append(entry)
        elif isinstance(entry, Mapping) and isinstance(entry.get("code"), str):
            codes.append(entry["code"])
        else:
            raise ClassifierError(
                f"{source}: classifier {name!r} has an entry that is neither a code nor {{'code': ...}}"
            )
    return frozenset(codes)


def normalize(
    snapshot: Mapping[str, Iterable[Any]], source: str = "classifiers"
) -> dict[str, frozenset[str]]:
    # Lists (or other non-string iterables) of codes; a bare string is a mistake, not codes.
    return {
        str(name): _codes(
            str(name), values if isinstance(values, (str, bytes, Mapping)) else list(values), source
        )
        for name, values in snapshot.items()
    }


def load_file(path: str | Path) -> dict[str, frozenset[str]]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ClassifierError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ClassifierError(f"{path}: not a JSON classifier snapshot: {exc}") from None
    if not isinstance(data, dict):
        raise ClassifierError(f"{path}: a snapshot is an object mapping classifier names to codes")
    return normalize(data, str(path))


def fetch(
    base_url: str, names: Iterable[str] = KNOWN_CLASSIFIERS, timeout: float = 10.0
) -> dict[str, frozenset[str]]:
    """Read ``GET {base_url}/classifier/{name}`` once per name; names the server lacks are skipped."""
    import urllib.error
    import urllib.request

    out: dict[str, frozenset[str]] = {}
    for name in names:
        url = f"{base_url.rstrip('/')}/classifier/{name}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                out[name] = _codes(name, json.loads(resp.read()), url)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                continue
            raise ClassifierError(f"{url}: HTTP {exc.code}") from None
        except (OSError, ValueError) as exc:
            raise ClassifierError(f"{url}: {exc}") from None
    return out
