"""Fixtures shared by the whole suite.

``store`` runs a test once per store. Memory and SQLite need nothing; Redis and
PostgreSQL use the machine's servers (or throwaway ones), see ``services.py``.
Under ``CI=true`` a missing server fails the run instead of skipping.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flask_strongbox.stores.base import Store
from flask_strongbox.stores.memory import MemoryStore
from flask_strongbox.stores.sqlite import SQLiteStore

from . import services
from .log_guard import no_secrets_in_logs  # noqa: F401 - autouse: no test may log a secret

STORES = ["memory", "sqlite", "redis", "postgres"]


def make_store(name: str, tmp_path: Path) -> Iterator[Store]:
    if name == "memory":
        yield MemoryStore()
    elif name == "sqlite":
        store = SQLiteStore(tmp_path / "sessions.sqlite3")
        yield store
        store.close()
    elif name == "redis":
        yield from services.redis_store()
    else:
        yield from services.postgres_store()


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from make_store(request.param, tmp_path)


@pytest.fixture(params=STORES)
def store_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


class FakeClock:
    """A clock the test moves by hand. It starts at the real time so the test
    client, which checks cookie expiry against the real clock, keeps cookies."""

    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingStore:
    """Wraps a real store and counts calls per method: a spy, not a fake."""

    def __init__(self, inner: Store) -> None:
        from collections import Counter

        self.inner = inner
        self.name = inner.name
        self.calls: Counter[str] = Counter()

    def __getattr__(self, method: str):  # type: ignore[no-untyped-def]
        target = getattr(self.inner, method)
        if not callable(target):
            return target

        def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
            self.calls[method] += 1
            return target(*args, **kwargs)

        return counted

    @property
    def writes(self) -> int:
        return sum(self.calls[m] for m in ("create", "replace", "touch", "delete", "delete_user"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
