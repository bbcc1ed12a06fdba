"""Flask-Session 0.8: its settings, its cookie, and a reader for its store.

Flask-Session (``flask_session/base.py``) keeps only a random id in the
cookie, ``secrets.token_urlsafe(SESSION_ID_LENGTH)``, optionally signed by an
itsdangerous :class:`~itsdangerous.Signer` (salt ``flask-session``, ``hmac``
key derivation, SHA-1, ``SECRET_KEY`` only) when ``SESSION_USE_SIGNER`` is
on. The record lives under ``SESSION_KEY_PREFIX + id`` in the store.
:func:`open_reader` picks the reader for the store's URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from itsdangerous import BadSignature, Signer

from ..errors import ConfigurationError

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
