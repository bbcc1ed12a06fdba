"""Every ``STRONGBOX_*`` setting, its default, and its check, in one place.

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
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigurationError
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
    #: Count session events and time store calls as Prometheus metrics, on
    #: ``prometheus_client``'s default registry (the ``metrics`` extra);
    #: ``Strongbox(app, metrics=registry)`` names another registry. See
    #: :doc:`monitoring`.
    metrics: bool = False

    def __repr__(self) -> str:
        # A store URL may carry a password: show where, never who or how.
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
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
        names = {f.name for f in fields(cls)}
        unknown = [k for k in config if k.startswith("STRONGBOX_") and k[10:].lower() not in names]
        if unknown:
            key = unknown[0]
            close = difflib.get_close_matches(key, [f"STRONGBOX_{n.upper()}" for n in names], 1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigurationError(f"{key} is not a Strongbox setting{hint}")
        values = {n: config[f"STRONGBOX_{n.upper()}"] for n in names if f"STRONGBOX_{n.upper()}" in config}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**{name: _check(name, value) for name, value in values.items()})


def _check(name: str, value: Any) -> Any:
    """``value``, checked (and normalized) for the setting ``name``."""
    setting = f"STRONGBOX_{name.upper()}"
    check = _CHECKS.get(name) or _CHECKS_BY_KIND.get(_KINDS[name], _positive_number)
    return check(setting, value)


def _identity_keys(setting: str, value: Any) -> tuple[str, ...]:
    keys = (value,) if isinstance(value, str) else tuple(value)
    if not keys or not all(isinstance(k, str) and k for k in keys):
        raise ConfigurationError(f"{setting} must be a non-empty list of session keys")
    return keys


def _clock(setting: str, value: Any) -> Any:
    if not callable(value):
        raise ConfigurationError(f"{setting} must be a callable returning Unix seconds")
    return value


def _store(setting: str, value: Any) -> Any:
    if not isinstance(value, (str, Store)):
        raise ConfigurationError(f"{setting} must be a URL string or a store object")
    return value


def _flag(setting: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{setting} must be True or False, not {value!r}")
    return value


def _name(setting: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{setting} must be a non-empty string")
    return value


def _count(setting: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"{setting} must be a whole number, 0 or more, not {value!r}")
    return value


def _cap(setting: str, value: Any) -> Any:
    return None if value is None else _positive_number(setting, value)


def _duration(setting: str, value: Any) -> timedelta:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = timedelta(seconds=value)
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ConfigurationError(
            f"{setting} must be a positive timedelta or number of seconds, not {value!r}"
        )
    return value


def _positive_number(setting: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigurationError(f"{setting} must be a positive number, not {value!r}")
    return value


_KINDS = {f.name: f.type for f in fields(Settings)}
_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "identity_keys": _identity_keys, "clock": _clock, "store": _store,
    "key_prefix": _name, "table": _name, "max_sessions_per_user": _cap, "redis_cache": _count,
}
_CHECKS_BY_KIND: dict[object, Callable[[str, Any], Any]] = {"timedelta": _duration, "bool": _flag}
