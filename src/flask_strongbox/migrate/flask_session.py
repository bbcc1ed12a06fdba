"""Flask-Session 0.8: its settings, its cookie, and a reader for its store.

Flask-Session (``flask_session/base.py``) keeps only a random id in the
cookie, ``secrets.token_urlsafe(SESSION_ID_LENGTH)``, optionally signed by an
itsdangerous :class:`~itsdangerous.Signer` (salt ``flask-session``, ``hmac``
key derivation, SHA-1, ``SECRET_KEY`` only) when ``SESSION_USE_SIGNER`` is
on. The record lives under ``SESSION_KEY_PREFIX + id`` in the store.
:func:`open_reader` picks the reader for the store's URL.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from itsdangerous import BadSignature, Signer

from ..errors import ConfigurationError
from .results import LegacyReader

#: Ids Flask-Session ever made: ``token_urlsafe`` (0.6 on) or ``uuid4`` text
#: (before), within the SQL backend's 255-character ``session_id`` column.
_SID = re.compile(r"[A-Za-z0-9_-]{1,250}")
_SIGNER_SALT = "flask-session"


@dataclass(frozen=True)
class FlaskSessionConfig:
    """How an app configured Flask-Session: where records live, how they are
    encoded, and how the cookie is signed.

    :param key_prefix: ``SESSION_KEY_PREFIX``.
    :param use_signer: ``SESSION_USE_SIGNER``.
    :param serialization_format: ``SESSION_SERIALIZATION_FORMAT``.
    :param table: ``SESSION_SQLALCHEMY_TABLE``.
    :param schema: ``SESSION_SQLALCHEMY_SCHEMA``.
    :param secret_keys: the keys that may have signed a cookie, oldest first,
        as bytes (Flask-Session signed with ``SECRET_KEY`` alone).

    .. versionadded:: 0.2
    """

    key_prefix: str = "session:"
    use_signer: bool = False
    serialization_format: Literal["msgpack", "json"] = "msgpack"
    table: str = "sessions"
    schema: str | None = None
    secret_keys: tuple[bytes, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if self.use_signer and not self.secret_keys:
            raise ConfigurationError("SESSION_USE_SIGNER needs the SECRET_KEY that signed the cookies")
        if self.serialization_format not in ("msgpack", "json"):
            raise ConfigurationError("SESSION_SERIALIZATION_FORMAT must be 'msgpack' or 'json'")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FlaskSessionConfig:
        """Read Flask-Session's keys from an app's config, with its defaults.
        ``SECRET_KEY_FALLBACKS`` also verify a signed cookie, so a key rotated
        at the switch still lets old cookies in."""
        keys = (*(config.get("SECRET_KEY_FALLBACKS") or ()), config.get("SECRET_KEY"))
        return cls(
            key_prefix=config.get("SESSION_KEY_PREFIX", "session:"),
            use_signer=bool(config.get("SESSION_USE_SIGNER", False)),
            serialization_format=config.get("SESSION_SERIALIZATION_FORMAT", "msgpack"),
            table=config.get("SESSION_SQLALCHEMY_TABLE", "sessions"),
            schema=config.get("SESSION_SQLALCHEMY_SCHEMA"),
            secret_keys=tuple(key.encode() if isinstance(key, str) else key for key in keys if key),
        )

    def sid(self, cookie: str) -> str | None:
        """The session id in a Flask-Session cookie, or ``None`` if the cookie
        is empty, malformed, or (with ``use_signer``) forged. No I/O."""
        if self.use_signer:
            try:
                cookie = Signer(self.secret_keys, salt=_SIGNER_SALT, key_derivation="hmac") \
                    .unsign(cookie).decode()
            except (BadSignature, UnicodeError):
                return None
        return cookie if _SID.fullmatch(cookie) else None


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
