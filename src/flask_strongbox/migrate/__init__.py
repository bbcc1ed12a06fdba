"""Readers of the session formats an app may be moving away from.

Framework-free and read-only except for deleting a record: each turns a
legacy cookie or record into a :class:`Loaded` session, a :class:`Refused`
one (with a log-safe reason), or :class:`Missing`. None of them imports
Flask-Session, and none ever unpickles.

- Flask's signed cookie: :class:`FlaskCookieReader`, :func:`cookie_fingerprint`.
- Flask-Session 0.8: :class:`FlaskSessionConfig` (its settings and cookie)
  and :func:`open_reader` for its Redis, SQLAlchemy (SQLite, PostgreSQL) and
  filesystem stores, and :func:`take` to move one record exactly once.
  Decoding its msgpack needs the ``migrate`` extra.

.. versionadded:: 0.2
"""

from __future__ import annotations

from .flask_cookie import FlaskCookieReader, cookie_fingerprint
from .flask_session import FlaskSessionConfig
from .readers import open_reader
from .results import (
    LegacyReader,
    LegacyRecord,
    LegacyResult,
    Loaded,
    Missing,
    RefusalKind,
    Refused,
    take,
)

__all__ = [
    "FlaskCookieReader",
    "FlaskSessionConfig",
    "LegacyReader",
    "LegacyRecord",
    "LegacyResult",
    "Loaded",
    "Missing",
    "RefusalKind",
    "Refused",
    "cookie_fingerprint",
    "open_reader",
    "take",
]
