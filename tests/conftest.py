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
