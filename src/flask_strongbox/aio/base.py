"""The store protocol in async form, and any blocking store run in a
bounded pool of threads.

An :class:`AsyncStore` has exactly the methods of
:class:`~flask_strongbox.stores.base.Store`, with the same meaning, as
coroutines. Each async store also names its blocking twin, ``sync``: a
:class:`Store` on the same records, for what runs outside the event loop (the
background purge, ``flask sessions``, a Flask app sharing the store).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

from ..stores.base import Record, Store, StoreStats

T = TypeVar("T")


@runtime_checkable
class AsyncStore(Protocol):
    """What an async adapter needs from a place to keep sealed records: the
    methods of :class:`~flask_strongbox.stores.base.Store`, awaited.

    .. versionadded:: 0.2
    """

    name: str
    expires_records_itself: bool
    #: A blocking store on the same records.
    sync: Store

    async def init_db(self) -> None: ...
    async def get(self, key: str, now: float) -> Record | None: ...
    async def create(self, record: Record) -> bool: ...
    async def replace(self, record: Record, expected_version: int, now: float) -> bool: ...
    async def touch(self, key: str, expires: float, now: float) -> bool: ...
    async def delete(self, key: str) -> bool: ...
    async def sessions_of(self, user_hash: str, now: float) -> list[Record]: ...
    async def delete_user(self, user_hash: str, keep: str | None = None) -> list[str]: ...
    async def lock(self, key: str, token: str, until: float, now: float) -> bool: ...
    async def unlock(self, key: str, token: str) -> bool: ...
    async def purge(self, now: float, limit: int = 500) -> int: ...
    async def scan(self, cursor: str, limit: int) -> tuple[list[Record], str]: ...
    async def stats(self, now: float) -> StoreStats: ...
    async def close(self) -> None: ...


class ThreadedStore:
    """A blocking :class:`Store` as an :class:`AsyncStore`: each call runs in
    a worker thread (:func:`asyncio.to_thread`), at most ``max_threads`` at
    once, so a burst of requests queues on the event loop instead of
    starting a thread each. This is how SQLite (or any third-party store)
    serves an ASGI app.

    :param store: the blocking store; it is ``sync``.
    :param max_threads: calls in flight at once.

    .. versionadded:: 0.2
    """

    def __init__(self, store: Store, *, max_threads: int = 4) -> None:
        if max_threads < 1:
            raise ValueError("a threaded store runs at least one call at a time (max_threads >= 1)")
        self.sync = store
        self.name: str = store.name
        self.expires_records_itself: bool = store.expires_records_itself
        self.max_threads = max_threads
        # Made on first use: a semaphore belongs to the loop that first waits on it.
        self._slots: asyncio.Semaphore | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.sync!r}>"

    async def _call(self, method: Callable[..., T], *args: Any) -> T:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_threads)
        async with self._slots:
            return await asyncio.to_thread(method, *args)

    async def init_db(self) -> None:
        await self._call(self.sync.init_db)

    async def get(self, key: str, now: float) -> Record | None:
        return await self._call(self.sync.get, key, now)

    async def create(self, record: Record) -> bool:
        return await self._call(self.sync.create, record)

    async def replace(self, record: Record, expected_version: int, now: float) -> bool:
        return await self._call(self.sync.replace, record, expected_version, now)

    async def touch(self, key: str, expires: float, now: float) -> bool:
        return await self._call(self.sync.touch, key, expires, now)

    async def delete(self, key: str) -> bool:
        return await self._call(self.sync.delete, key)

    async def sessions_of(self, user_hash: str, now: float) -> list[Record]:
        return await self._call(self.sync.sessions_of, user_hash, now)

    async def delete_user(self, user_hash: str, keep: str | None = None) -> list[str]:
        return await self._call(self.sync.delete_user, user_hash, keep)

    async def lock(self, key: str, token: str, until: float, now: float) -> bool:
        return await self._call(self.sync.lock, key, token, until, now)

    async def unlock(self, key: str, token: str) -> bool:
        return await self._call(self.sync.unlock, key, token)

    async def purge(self, now: float, limit: int = 500) -> int:
        return await self._call(self.sync.purge, now, limit)

    async def scan(self, cursor: str, limit: int) -> tuple[list[Record], str]:
        return await self._call(self.sync.scan, cursor, limit)

    async def stats(self, now: float) -> StoreStats:
        return await self._call(self.sync.stats, now)

    async def close(self) -> None:
        await self._call(self.sync.close)
