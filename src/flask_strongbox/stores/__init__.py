"""Session stores, and the URL scheme that selects each.

==========================================  ===========================
``memory://``                               :class:`MemoryStore`
``sqlite:///relative/file``                 :class:`SQLiteStore`, relative to the instance folder
``sqlite:////absolute/file``                :class:`SQLiteStore`
``redis://``, ``rediss://``, ``unix://``,   ``RedisStore`` (extra ``redis``)
``redis+sentinel://``, ``redis+cluster://``, ``rediss+cluster://``
``postgresql://``, ``postgres://``          ``PostgresStore`` (extra ``postgres``)
==========================================  ===========================

Every store is built by its class's ``from_url(url, **options)``; the table
below says which module holds it, the extra it needs, and which of the
settings it takes.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, NamedTuple

from ..errors import ConfigurationError
from .base import Record, Store, StoreStats
from .memory import MemoryStore
from .sqlite import SQLiteStore

__all__ = ["MemoryStore", "Record", "SQLiteStore", "Store", "StoreStats", "is_network_url", "store_from_url"]


class Scheme(NamedTuple):
    module: str
    class_name: str
    #: The extra to install, for a store whose client library is optional.
    extra: str | None
    #: The ``from_url`` options it takes, by name (see :func:`store_from_url`).
    options: tuple[str, ...]


_REDIS = Scheme("redis", "RedisStore", "redis", ("prefix", "timeout", "cache"))
_POSTGRES = Scheme("postgres", "PostgresStore", "postgres", ("table", "timeout"))
SCHEMES: dict[str, Scheme] = {
    "memory": Scheme("memory", "MemoryStore", None, ()),
    "sqlite": Scheme("sqlite", "SQLiteStore", None, ("table", "base_dir")),
    "redis": _REDIS, "rediss": _REDIS, "unix": _REDIS,
    "redis+sentinel": _REDIS, "redis+cluster": _REDIS, "rediss+cluster": _REDIS,
    "postgresql": _POSTGRES, "postgres": _POSTGRES,
}


def is_network_url(url: str) -> bool:
    """Whether the URL names a store on another server (Redis, PostgreSQL)."""
    found = SCHEMES.get(url.partition("://")[0])
    return found is not None and found.extra is not None


def store_from_url(url: str, available: Mapping[str, Any]) -> Store:
    """Build the store a ``STRONGBOX_STORE`` URL names, with the options of
    ``available`` it takes: ``table`` (``STRONGBOX_TABLE``), ``prefix``
    (``STRONGBOX_KEY_PREFIX``), ``timeout`` (``STRONGBOX_STORE_TIMEOUT``),
    ``cache`` (``STRONGBOX_REDIS_CACHE``) and ``base_dir`` (the instance
    folder, for a relative SQLite path).

    :raises ConfigurationError: naming the setting, for a URL no store takes
        or a store whose extra is not installed.
    """
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise ConfigurationError(f"STRONGBOX_STORE={url.split('@')[-1]!r} is not a URL")
    entry = SCHEMES.get(scheme)
    if entry is None:
        raise ConfigurationError(
            f"STRONGBOX_STORE scheme {scheme!r} is not supported; use memory://, sqlite://, "
            "redis://, rediss://, redis+sentinel://, redis+cluster:// or postgresql://"
        )
    # An option ``available`` does not name keeps the store's default (a copy's
    # target store, say, keeps no Redis cache).
    options = {name: available[name] for name in entry.options if name in available}
    # Both the store module and from_url may import the extra's packages (the
    # Redis store imports redis-py only to build a client from a URL).
    try:
        store_class: Any = getattr(importlib.import_module(f"{__name__}.{entry.module}"), entry.class_name)
        store: Store = store_class.from_url(url, **options)
    except ImportError as exc:
        missing = f"module {exc.name!r} cannot be imported" if exc.name else str(exc)
        raise ConfigurationError(
            f"STRONGBOX_STORE uses {scheme}://, which needs the {entry.extra} extra: "
            f"pip install 'flask-strongbox[{entry.extra}]' ({missing})"
        ) from None
    except ValueError as exc:
        raise ConfigurationError(f"STRONGBOX_STORE: {exc}") from None
    return store
