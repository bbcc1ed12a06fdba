"""The store contract suite (:class:`StoreContract`), run for the async
stores too: memory, SQLite in a thread pool, Redis on redis.asyncio and
PostgreSQL on psycopg's async pool, each behind a thin blocking bridge (an
event loop running the async store's coroutines). One suite, both forms.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..test_store_contract import StoreContract
from .bridge import SyncBridge, bridged


class TestAsyncMemoryStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SyncBridge]:
        yield from bridged("memory", tmp_path)


class TestAsyncSQLiteStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SyncBridge]:
        yield from bridged("sqlite", tmp_path)


class TestAsyncRedisStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SyncBridge]:
        yield from bridged("redis", tmp_path)


class TestAsyncPostgresStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SyncBridge]:
        yield from bridged("postgres", tmp_path)
