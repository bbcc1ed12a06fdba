"""Flask-Strongbox: server-side, encrypted sessions for Flask.

The browser holds only a signed, opaque id; the session data is sealed with
AES-256-GCM and kept in a store (SQLite by default, Redis or PostgreSQL).
"""

from __future__ import annotations

from typing import cast

import flask

from . import signals
from .errors import (
    ConfigurationError,
    SaveConflict,
    SessionBusy,
    SessionTooDeep,
    SessionTooLarge,
    StoreUnavailable,
    StrongboxError,
    UnreadableRecord,
)
from .extension import SessionInfo, Strongbox
from .health import Health
from .interface import StrongboxSessionInterface
from .session import StrongboxSession
from .settings import Settings
from .stores import MemoryStore, Record, SQLiteStore, Store, StoreStats

#: :data:`flask.session`, typed as the :class:`StrongboxSession` it is once
#: ``Strongbox(app)`` is installed, so ``session.expired``, ``session.handle``
#: and ``session.regenerate()`` type-check without a cast.
session = cast(StrongboxSession, flask.session)

__all__ = [
    "ConfigurationError",
    "Health",
    "MemoryStore",
    "Record",
    "SQLiteStore",
    "SaveConflict",
    "SessionBusy",
    "SessionInfo",
    "SessionTooDeep",
    "SessionTooLarge",
    "Settings",
    "Store",
    "StoreStats",
    "StoreUnavailable",
    "Strongbox",
    "StrongboxError",
    "StrongboxSession",
    "StrongboxSessionInterface",
    "UnreadableRecord",
    "session",
    "signals",
]
