"""A blocking face on an async store, so the one store contract suite runs
the async stores too: every call is the async store's coroutine, run on one
event loop in a thread of its own (threads calling at once make coroutines
running at once on that loop)."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import redis.asyncio

from flask_strongbox.aio import (
    AsyncMemoryStore,
    AsyncPostgresStore,
    AsyncRedisStore,
    AsyncSQLiteStore,
    AsyncStore,
)
from flask_strongbox.stores import SQLiteStore

from ..services import postgres_store, redis_store, redis_url

T = TypeVar("T")


class Loop:
    """An event loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="bridge-loop", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


class SyncBridge:
    """The :class:`Store` methods of ``store``, blocking. Attributes that are
    not coroutines (``name``, ``expires_records_itself``) pass through."""

    def __init__(self, store: AsyncStore, loop: Loop) -> None:
        self.store = store
        self._loop = loop

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SyncBridge:
        raise NotImplementedError("bridges are made around a store")

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.store, name)
        if not inspect.iscoroutinefunction(found):
            return found

        def blocking(*args: Any, **kwargs: Any) -> Any:
            return self._loop.run(found(*args, **kwargs))

        return blocking



def make_async_store(name: str, tmp_path: Path) -> Iterator[AsyncStore]:
    """An async store of kind ``name``, on records of the test's own."""
    if name == "memory":
        yield AsyncMemoryStore()
    elif name == "sqlite":
        yield AsyncSQLiteStore(SQLiteStore(tmp_path / "sessions.sqlite3"))
    elif name == "redis":
        for twin in redis_store():
            yield AsyncRedisStore(redis.asyncio.Redis.from_url(redis_url()), twin)  # type: ignore[arg-type]
    else:
        for twin in postgres_store():
            yield AsyncPostgresStore(twin)  # type: ignore[arg-type]


def bridged(name: str, tmp_path: Path) -> Iterator[SyncBridge]:
    loop = Loop()
    try:
        for store in make_async_store(name, tmp_path):
            yield SyncBridge(store, loop)
            loop.run(store.close())
    finally:
        loop.stop()


