"""Session stores, and the URL scheme that selects each.

==========================================  ===========================
``memory://``                               :class:`MemoryStore`
``sqlite:///relative/file``                 :class:`SQLiteStore`, relative to the instance folder
``sqlite:////absolute/file``                :class:`SQLiteStore`
``redis://``, ``rediss://``, ``unix://``,   ``RedisStore`` (extra ``redis``)
``redis+sentinel://``, ``redis+cluster://``, ``rediss+cluster://``
``postgresql://``, ``postgres://``          ``PostgresStore`` (extra ``postgres``)
==========================================  ===========================
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from .base import Record, Store, StoreStats
from .memory import MemoryStore
from .sqlite import SQLiteStore

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["MemoryStore", "Record", "SQLiteStore", "Store", "StoreStats", "is_network_url", "store_from_url"]

_NETWORK = {
    "redis": ("redis", "RedisStore"),
    "rediss": ("redis", "RedisStore"),
    "unix": ("redis", "RedisStore"),
    "redis+sentinel": ("redis", "RedisStore"),
    "redis+cluster": ("redis", "RedisStore"),
    "rediss+cluster": ("redis", "RedisStore"),
    "postgresql": ("postgres", "PostgresStore"),
    "postgres": ("postgres", "PostgresStore"),
}


def is_network_url(url: str) -> bool:
    """Whether the URL names a store on another server (Redis, PostgreSQL)."""
    return url.partition("://")[0] in _NETWORK


def store_from_url(url: str, settings: Settings, instance_path: str) -> Store:
    """Build the store a ``STRONGBOX_STORE`` URL names."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigurationError(f"STRONGBOX_STORE={url.split('@')[-1]!r} is not a URL")
    if scheme == "memory":
        return MemoryStore()
    if scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise ConfigurationError("STRONGBOX_STORE must look like sqlite:///file or sqlite:////abs/file")
        return SQLiteStore(os.path.join(instance_path, rest[1:]), table=settings.table)
    if scheme not in _NETWORK:
        raise ConfigurationError(
            f"STRONGBOX_STORE scheme {scheme!r} is not supported; use memory://, sqlite://, "
            "redis://, rediss://, redis+sentinel://, redis+cluster:// or postgresql://"
        )
    extra, class_name = _NETWORK[scheme]
    # Both the store module and from_url may import the extra's packages (the
    # Redis store imports redis-py only to build a client from a URL).
    try:
        store_class: Any = getattr(importlib.import_module(f"{__name__}.{extra}"), class_name)
        if extra == "redis":
            store: Store = store_class.from_url(
                url, prefix=settings.key_prefix, socket_timeout=settings.store_timeout
            )
        else:
            store = store_class.from_url(
                url, table=settings.table, connect_timeout=settings.store_timeout)
    except ImportError as exc:
        missing = f"module {exc.name!r} cannot be imported" if exc.name else str(exc)
        raise ConfigurationError(
            f"STRONGBOX_STORE uses {scheme}://, which needs the {extra} extra: "
            f"pip install 'flask-strongbox[{extra}]' ({missing})"
        ) from None
    return store
