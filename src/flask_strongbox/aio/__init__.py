"""Sessions for async frameworks: the store contract in async form, and the
async stores.

==========================  ==============================================
``memory://``               :class:`AsyncMemoryStore`
``sqlite:///file``          :class:`AsyncSQLiteStore` (a bounded thread pool)
``redis://``, ``rediss://``, ``AsyncRedisStore`` (extra ``redis``)
``unix://``
``postgresql://``           ``AsyncPostgresStore`` (extra ``postgres``)
==========================  ==============================================

Any blocking store serves an async app through :class:`ThreadedStore`.

.. versionadded:: 0.2
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import AsyncStore, ThreadedStore
from .memory import AsyncMemoryStore
from .sqlite import AsyncSQLiteStore

if TYPE_CHECKING:
    from .postgres import AsyncPostgresStore
    from .redis import AsyncRedisStore

__all__ = [
    "AsyncMemoryStore", "AsyncPostgresStore", "AsyncRedisStore", "AsyncSQLiteStore", "AsyncStore",
    "ThreadedStore",
]


def __getattr__(name: str) -> Any:
    # The Redis and PostgreSQL stores import their extras' packages.
    if name == "AsyncRedisStore":
        from .redis import AsyncRedisStore

        return AsyncRedisStore
    if name == "AsyncPostgresStore":
        from .postgres import AsyncPostgresStore

        return AsyncPostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
