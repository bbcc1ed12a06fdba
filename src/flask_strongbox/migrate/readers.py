"""The reader for a Flask-Session store, by the URL of the store.

Nothing here connects; each reader is imported only when its URL names it, so
a missing client library (an extra) is one clear error.
"""

from __future__ import annotations

import os

from ..errors import ConfigurationError
from .flask_session import FlaskSessionConfig
from .results import LegacyReader


def open_reader(
    url: str, config: FlaskSessionConfig, instance_path: str = ".", timeout: float = 5.0,
) -> LegacyReader:
    """The reader for the Flask-Session store at ``url``. Nothing connects yet.

    - ``redis://``, ``rediss://``, ``unix://``, ``redis+sentinel://``: the
      Redis backend (extra ``redis``).
    - ``sqlite:///relative/file`` (in ``instance_path``, as Flask-SQLAlchemy
      resolves it) or ``sqlite:////absolute/file``: the SQLAlchemy backend on
      SQLite.
    - ``postgresql://`` (or ``postgres://``, ``postgresql+psycopg://``...): the
      SQLAlchemy backend on PostgreSQL (extra ``postgres``).
    - ``filesystem:///absolute/dir[?hash=md5|sha256]``: the filesystem and
      cachelib ``FileSystemCache`` backends. File names hash the key with
      SHA-256 since cachelib 0.17, MD5 before; by default the hash is told
      from the cache's own count file.

    :param timeout: seconds a network store may take to connect or answer
        before :class:`~flask_strongbox.StoreUnavailable` is raised.
    :raises ConfigurationError: for an unknown scheme, or a missing extra.
    """
    scheme = url.partition("://")[0].lower()
    base = scheme.partition("+")[0]
    try:
        if base in ("redis", "rediss", "unix") and "cluster" not in scheme:
            from .redis_reader import RedisReader

            return RedisReader.from_url(url, config, timeout)
        if scheme == "sqlite":
            from .sql_reader import SQLiteReader

            return SQLiteReader(_sqlite_path(url, instance_path), config)
        if base in ("postgresql", "postgres"):
            from .sql_reader import PostgresReader

            return PostgresReader(url, config, timeout)
        if scheme == "filesystem":
            from .filesystem_reader import FileSystemReader

            return FileSystemReader.from_url(url, config)
    except ImportError as exc:
        extra = "postgres" if base.startswith("postgres") else "redis"
        raise ConfigurationError(
            f"STRONGBOX_MIGRATE_STORE uses {scheme}://, which needs the {extra} extra: "
            f"pip install 'flask-strongbox[{extra},migrate]' ({exc.name} is missing)"
        ) from None
    raise ConfigurationError(
        f"STRONGBOX_MIGRATE_STORE scheme {scheme!r} is not a Flask-Session store; use redis://, "
        "sqlite:///, postgresql:// or filesystem:///"
    )


def _sqlite_path(url: str, instance_path: str) -> str:
    rest = url.partition("://")[2].partition("?")[0]
    if not rest.startswith("/") or rest == "/":
        raise ConfigurationError(
            "STRONGBOX_MIGRATE_STORE must look like sqlite:///file or sqlite:////abs/file"
        )
    return os.path.join(instance_path, rest[1:])
