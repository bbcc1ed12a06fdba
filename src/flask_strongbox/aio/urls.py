"""A ``STRONGBOX_STORE`` value for an async app: a URL, a blocking store or
an async one, made into an :class:`AsyncStore`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..settings import Settings
from ..stores import MemoryStore, SQLiteStore, Store, store_from_url
from .base import AsyncStore, ThreadedStore
from .memory import AsyncMemoryStore
from .sqlite import AsyncSQLiteStore

DEFAULT_FILE = "strongbox-sessions.sqlite3"


def async_store(settings: Settings, base_dir: str) -> AsyncStore:
    """The async store the settings name: ``settings.store`` as an async
    store, a blocking store served through a thread pool, or the store a URL
    names, built by the blocking stores' own ``from_url`` (so a URL means
    the same records for a Flask app and an ASGI app); ``None`` is a SQLite
    file in ``base_dir``.

    :raises ConfigurationError: naming the setting, for a URL no store takes.
    """
    found: Any = settings.store
    if isinstance(found, AsyncStore):
        return found
    if found is None or isinstance(found, str):
        options: Mapping[str, Any] = {"table": settings.table, "prefix": settings.key_prefix,
                                      "timeout": settings.store_timeout, "base_dir": base_dir}
        found = store_from_url(found or f"sqlite:///{DEFAULT_FILE}", options)
        return wrap(found, settings.store_timeout)
    return wrap(found, settings.store_timeout)


def wrap(store: Store, timeout: float) -> AsyncStore:
    """The native async form of a blocking store, if there is one, on the
    same records; else the store in a thread pool."""
    if isinstance(store, MemoryStore):
        return AsyncMemoryStore(store)
    if isinstance(store, SQLiteStore):
        return AsyncSQLiteStore(store)
    kind = type(store).__name__
    if kind == "PostgresStore":
        from .postgres import AsyncPostgresStore

        return AsyncPostgresStore(store)  # type: ignore[arg-type] # a PostgresStore, by name
    if kind == "RedisStore":
        from .redis import AsyncRedisStore

        native = AsyncRedisStore.for_store(store, timeout)  # type: ignore[arg-type] # by name
        if native is not None:
            return native
    return ThreadedStore(store)
