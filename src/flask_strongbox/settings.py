"""Every ``STRONGBOX_*`` setting and its default, in one place, and
:meth:`Settings.from_config`, which reads them from an app's config.

Each value is checked on its own by :mod:`flask_strongbox.setting_checks`;
what takes several settings together (a key given twice, fallbacks without a
key, a migration without its end) is checked here.

Flask's own keys (``SECRET_KEY``, ``SECRET_KEY_FALLBACKS``,
``PERMANENT_SESSION_LIFETIME``, ``SESSION_REFRESH_EACH_REQUEST`` and
``SESSION_COOKIE_*``) keep their meaning and are read per request, so an app
may change them after ``init_app``, as the tutorial does.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from .errors import ConfigurationError
from .setting_checks import check
from .stores.base import Store


@dataclass(frozen=True, repr=False)
class Settings:
    """The resolved ``STRONGBOX_*`` settings of one app."""

    #: A store URL (``sqlite:///path``, ``memory://``, ``redis://...``,
    #: ``postgresql://...``) or a store object. ``None``: a SQLite file in the
    #: app's instance folder.
    store: str | Store | None = None
    #: Lifetime from creation that sliding never extends.
    absolute_lifetime: timedelta = timedelta(days=31)
    #: How long a non-permanent session survives without a request.
    idle_timeout: timedelta = timedelta(hours=1)
    #: Sliding expiry is written at most this often per session.
    touch_interval: timedelta = timedelta(seconds=60)
    #: Session keys whose value is the user's identity. A change of value
    #: rotates the session id; the value indexes the user's sessions.
    identity_keys: tuple[str, ...] = ("user", "_user_id")
    #: Most live sessions one identity may have; the oldest go first.
    max_sessions_per_user: int | None = None
    #: Keep a short, sealed device hint from ``User-Agent`` for session lists.
    device_hints: bool = False
    #: Largest sealed session, in bytes.
    max_size: int = 64 * 1024
    #: Compare-and-swap attempts before a save gives up with a 503.
    save_attempts: int = 8
    #: Serialise the requests of one session for every request that loads
    #: it, as ``@strongbox.exclusive`` does for one view: the second waits
    #: until the first has saved.
    exclusive: bool = False
    #: How long an exclusive request waits for the session before it
    #: answers 503 with ``Retry-After`` (:class:`~flask_strongbox.SessionBusy`).
    exclusive_wait: timedelta = timedelta(seconds=5)
    #: How long an exclusive request holds its session at most: after that
    #: the lease ends whether its holder crashed or is still running, and
    #: the next request may take it.
    exclusive_lease: timedelta = timedelta(seconds=10)
    #: Prefix of every key a Redis store writes.
    key_prefix: str = "strongbox:"
    #: Records a Redis store built from ``STRONGBOX_STORE`` keeps in memory,
    #: invalidated by the server (RESP3 client-side caching): a read of a
    #: session this process has seen then costs no round trip. ``0``, the
    #: default, asks the server on every read: the cache needs one more
    #: connection per process, Redis 6 or Valkey (not Cluster or Sentinel),
    #: and while that server hangs without closing the connection it serves
    #: what it holds for up to a second. See :doc:`stores`.
    redis_cache: int = 0
    #: Table name for SQL stores.
    table: str = "strongbox_sessions"
    #: Seconds a network store waits for its server before it is "unavailable".
    store_timeout: float = 2.0
    #: How often one process purges expired records as a side effect of writes.
    purge_interval: timedelta = timedelta(seconds=60)
    #: Records removed per purge batch.
    purge_batch: int = 200
    #: Seconds sent in ``Retry-After`` when the store is unavailable.
    retry_after: int = 2
    #: Zero-argument callable returning Unix seconds; tests move time with it.
    clock: Callable[[], float] = time.time
    #: The key that signs and seals sessions, in place of Flask's
    #: ``SECRET_KEY`` (which then only Flask uses), so that rotating one does
    #: not rotate the other. Judged like ``SECRET_KEY``: outside debug and
    #: testing, a weak one is refused. ``None``: ``SECRET_KEY``.
    #:
    #: .. versionadded:: 0.2
    secret_key: str | bytes | None = None
    #: Older values of ``STRONGBOX_SECRET_KEY`` that still verify cookies and
    #: open sessions until they move to the current key, as
    #: ``SECRET_KEY_FALLBACKS`` does for ``SECRET_KEY``; ``flask sessions
    #: keys`` says when one can go. Only with ``STRONGBOX_SECRET_KEY`` (or
    #: ``STRONGBOX_SECRET_KEY_FILE``).
    #:
    #: .. versionadded:: 0.2
    secret_key_fallbacks: tuple[str | bytes, ...] = ()
    #: A file holding ``STRONGBOX_SECRET_KEY``, such as a mounted secret,
    #: read once by ``init_app`` (surrounding whitespace stripped), instead of
    #: putting the key in the configuration or the environment.
    #:
    #: .. versionadded:: 0.2
    secret_key_file: str | None = None
    #: Count session events and time store calls as Prometheus metrics, on
    #: ``prometheus_client``'s default registry (the ``metrics`` extra);
    #: ``Strongbox(app, metrics=registry)`` names another registry. See
    #: :doc:`monitoring`.
    metrics: bool = False
    #: A request header that carries the session token for API clients,
    #: beside the cookie: ``"Authorization"`` reads ``Authorization: Bearer
    #: <token>``, any other name the raw token. ``None``: cookies only. See
    #: :doc:`asgi`.
    header: str | None = None
    #: Move the sessions of the system the app used before, on the first
    #: request that brings one: ``"flask-cookie"`` (Flask's signed cookie) or
    #: ``"flask-session"`` (Flask-Session 0.x records, read from
    #: ``STRONGBOX_MIGRATE_STORE``; the ``migrate`` extra). See :doc:`switching`.
    migrate_from: Literal["flask-cookie", "flask-session"] | None = None
    #: When legacy sessions stop being moved (afterwards their cookies are
    #: ignored): a timezone-aware :class:`~datetime.datetime`, or ISO 8601
    #: text with an offset. Required with ``STRONGBOX_MIGRATE_FROM``.
    migrate_until: datetime | None = None
    #: Flask-Session's store, read by ``flask sessions import`` and, with
    #: ``STRONGBOX_MIGRATE_FROM = "flask-session"``, by requests:
    #: ``redis://...``, ``sqlite:///file``, ``postgresql://...`` or
    #: ``filesystem:///dir``. Unset, requests find only imported sessions.
    migrate_store: str | None = None

    def __post_init__(self) -> None:
        _check_migration(self)

    def __repr__(self) -> str:
        # A store URL may carry a password: show where, never who or how.
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        shown["secret_key"] = None if self.secret_key is None else "<hidden>"
        shown["secret_key_fallbacks"] = f"<{len(self.secret_key_fallbacks)} hidden>"
        if isinstance(self.store, str):
            parts = urlsplit(self.store)
            shown["store"] = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **overrides: Any) -> Settings:
        """The settings in an app's ``config``: every ``STRONGBOX_*`` key,
        checked, over the defaults; ``overrides`` (such as a store object or a
        clock given to :class:`~flask_strongbox.Strongbox`) win.

        :raises ConfigurationError: for an unknown ``STRONGBOX_*`` key (with
            the closest known one) or a value of the wrong kind.
        """
        by_name = {f.name: f for f in fields(cls)}
        names = set(by_name)
        unknown = [k for k in config if k.startswith("STRONGBOX_") and k[10:].lower() not in names]
        if unknown:
            key = unknown[0]
            close = difflib.get_close_matches(key, [f"STRONGBOX_{n.upper()}" for n in names], 1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigurationError(f"{key} is not a Strongbox setting{hint}")
        values = {n: config[f"STRONGBOX_{n.upper()}"] for n in names if f"STRONGBOX_{n.upper()}" in config}
        values.update({k: v for k, v in overrides.items() if v is not None})
        checked = {name: check(by_name[name], value) for name, value in values.items()}
        return cls(**_session_key(checked))

    @property
    def key_settings(self) -> tuple[str, str]:
        """The settings the session keys come from, for messages: Flask's
        ``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS``, or Strongbox's own."""
        if self.secret_key is None:
            return ("SECRET_KEY", "SECRET_KEY_FALLBACKS")
        primary = "STRONGBOX_SECRET_KEY_FILE" if self.secret_key_file else "STRONGBOX_SECRET_KEY"
        return (primary, "STRONGBOX_SECRET_KEY_FALLBACKS")


def _session_key(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with ``STRONGBOX_SECRET_KEY`` read from its file, if one
    is named; a key given twice, or fallbacks without a key, refused."""
    path = values.get("secret_key_file")
    if path is not None:
        if values.get("secret_key") is not None:
            raise ConfigurationError(
                "STRONGBOX_SECRET_KEY and STRONGBOX_SECRET_KEY_FILE are both set; set only one"
            )
        values["secret_key"] = _read_key(path)
    if values.get("secret_key_fallbacks") and values.get("secret_key") is None:
        raise ConfigurationError(
            "STRONGBOX_SECRET_KEY_FALLBACKS is set without STRONGBOX_SECRET_KEY; set the current "
            "key there too (or list the old keys in SECRET_KEY_FALLBACKS)"
        )
    return values


def _read_key(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            key = file.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc.strerror or str(exc)
        raise ConfigurationError(f"STRONGBOX_SECRET_KEY_FILE cannot be read: {path}: {reason}") from None
    if not key:
        raise ConfigurationError(f"STRONGBOX_SECRET_KEY_FILE is empty: {path}")
    return key


def _check_migration(settings: Settings) -> None:
    """The migration settings, checked together: a window that closes by
    itself. (Without ``STRONGBOX_MIGRATE_STORE``, Flask-Session cookies find
    only the sessions ``flask sessions import`` moved.)"""
    if settings.migrate_from is None:
        return
    if settings.migrate_until is None:
        raise ConfigurationError(
            "STRONGBOX_MIGRATE_UNTIL is required with STRONGBOX_MIGRATE_FROM: set it to the "
            "timezone-aware datetime after which legacy sessions are no longer moved"
        )
