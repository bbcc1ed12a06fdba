"""The Flask extension: ``Strongbox(app)`` or ``Strongbox().init_app(app)``."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar, overload

from flask import Flask, current_app, has_request_context, request_tearing_down
from flask.globals import _cv_request, request_ctx

from . import devices, signals, users
from .audit import logger
from .engine import Engine, Events
from .engine.adopt import Adopter
from .errors import ConfigurationError, StoreUnavailable
from .health import Health, check
from .interface import EXCLUSIVE_MARK, StrongboxSessionInterface, strongbox_of
from .keys import Keyring
from .session import StrongboxSession
from .settings import Settings
from .stores import is_network_url, store_from_url
from .stores.base import Record, Store

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

DEFAULT_FILE = "strongbox-sessions.sqlite3"
F = TypeVar("F", bound=Callable[..., Any])
_ANY_USER: Any = object()


@dataclass(frozen=True)
class SessionInfo:
    """One live session of a user, as listed by :meth:`Strongbox.sessions_of`."""

    #: Opaque; pass it to :meth:`Strongbox.revoke`. It cannot be turned into
    #: a cookie, but it revokes the session, so it is kept out of ``repr``.
    handle: str = field(repr=False)
    #: When the session was created (its login, for a logged-in one).
    created: datetime
    #: When it was last used, to within ``STRONGBOX_TOUCH_INTERVAL``.
    last_seen: datetime
    #: When it ends unless used again.
    expires: datetime
    #: A short hint such as ``"Firefox on Linux"`` when
    #: ``STRONGBOX_DEVICE_HINTS`` is on, else ``None``.
    device: str | None
    #: Whether it is the session of the current request.
    current: bool


class Strongbox:
    """Server-side, encrypted sessions for a Flask app.

    After ``Strongbox(app)``, ``flask.session`` works as before, but the
    browser holds only a signed, opaque id and the data is sealed in a store.

    :param app: the app, or ``None`` to call :meth:`init_app` later.
    :param store: a store object, overriding ``STRONGBOX_STORE``.
    :param clock: a callable returning Unix seconds, overriding
        ``STRONGBOX_CLOCK``; tests pass one to move time.
    :param metrics: a ``prometheus_client`` registry: turns metrics on (as
        ``STRONGBOX_METRICS`` does) and registers them there.

    .. versionchanged:: 0.2
        The ``metrics`` parameter.
    """

    def __init__(
        self, app: Flask | None = None, *, store: Store | None = None,
        clock: Callable[[], float] | None = None, metrics: CollectorRegistry | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._registry = metrics
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read the settings once and install the session interface."""
        settings = Settings.from_config(app.config, store=self._store, clock=self._clock)
        store = _metered(app, settings, self._registry, _build_store(app, settings))
        interface = StrongboxSessionInterface(Engine(settings, store))
        interface.adopter = _adopter(app, settings, interface.engine)
        app.session_interface = interface
        app.extensions["strongbox"] = interface
        # A signal, not a teardown_request function: Flask sends it anyway,
        # and a receiver costs less per request than a hook.
        request_tearing_down.connect(_release_leases, app)
        from .cli import sessions_command

        if "sessions" not in app.cli.commands:
            app.cli.add_command(sessions_command)

    def check_config(self, app: Flask) -> None:
        """Fail now if the app's keys are unsafe for production, rather than
        on the first request. Call it at the end of an app factory, once
        ``SECRET_KEY`` and debug/testing are final.

        Keys are otherwise checked when the first request derives them, so the
        tutorial's ``app.run(debug=True)`` after set-up still counts as
        development.

        :raises ConfigurationError: naming the setting and the fix.
        """
        if strongbox_of(app).keyring(app) is None:
            raise ConfigurationError(
                "SECRET_KEY is not set; Strongbox needs it to sign and seal sessions"
            )

    # -- health ----------------------------------------------------------------

    def health(self) -> Health:
        """Whether the current app's store answers a cheap read within
        ``STRONGBOX_STORE_TIMEOUT``, for a readiness probe. Needs an app
        context, not a ``SECRET_KEY``. An outage is ``ok=False`` with the
        reason, never an exception.

        .. versionadded:: 0.2
        """
        interface = strongbox_of(current_app)
        return check(interface.store, interface.clock(), interface.settings.store_timeout)

    # -- exclusive sessions ----------------------------------------------------

    @overload
    def exclusive(self, view: F) -> F: ...
    @overload
    def exclusive(self, view: None = None) -> None: ...

    def exclusive(self, view: F | None = None) -> F | None:
        """Serialise the requests of one session: while one holds it, the
        next waits until it has saved (up to ``STRONGBOX_EXCLUSIVE_WAIT``,
        then 503 with ``Retry-After``). Requests of other sessions never wait.

        As a decorator on a view, ``@strongbox.exclusive``; called with no
        argument, as a ``before_request`` function, for every request it runs
        for (``bp.before_request(strongbox.exclusive)``). ``STRONGBOX_EXCLUSIVE
        = True`` makes every request that loads its session exclusive.

        .. versionadded:: 0.2
        """
        if view is not None:
            setattr(view, EXCLUSIVE_MARK, True)
            return view
        session = request_ctx.session
        if isinstance(session, StrongboxSession):
            app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
            strongbox_of(app).make_exclusive(app, session)
        return None

    # -- per-user API ----------------------------------------------------------

    def sessions_of(self, user: object) -> list[SessionInfo]:
        """The live sessions whose identity (``session["user"]`` or another
        ``STRONGBOX_IDENTITY_KEYS`` key) equals ``user``, oldest first."""
        interface, keyring, _ = _runtime()
        current = _current_key()
        records = users.sessions_of(interface.store, keyring, user, interface.clock())
        return [_info(keyring, record, current) for record in records]

    def revoke(self, handle: str, *, user: object = _ANY_USER) -> bool:
        """End one session by its handle. With ``user``, only if the session
        belongs to that user (``user=None``, as from a logged-out request's
        ``session.get("user")``, owns nothing). Takes effect on that session's
        next request."""
        interface, keyring, events = _runtime()
        if user is None:
            return False
        if user is not _ANY_USER:
            owned = users.sessions_of(interface.store, keyring, user, interface.clock())
            if handle not in {r.key for r in owned}:
                return False
        if not interface.store.delete(handle):
            return False
        events.announce(signals.session_revoked, handle, "revoked")
        return True

    def revoke_user(self, user: object, *, keep_current: bool = False) -> int:
        """End every session of ``user``; with ``keep_current``, all but the
        current request's ("sign out everywhere else"). Returns how many."""
        interface, keyring, events = _runtime()
        keep = _current_key() if keep_current else None
        removed = users.delete_user(interface.store, keyring, user, keep=keep)
        for handle in removed:
            events.announce(signals.session_revoked, handle, "revoked with all of user")
        return len(removed)


def _release_leases(app: Flask, **_: object) -> None:
    """Give back the leases of an exclusive request whose save never ran
    (an error propagated past Flask's handlers).

    It reads the context's ``_session``, not ``request_ctx.session``: that
    property marks the session accessed (so it would seem used by a request
    that never touched it) and fails if the session was never opened."""
    ctx = _cv_request.get(None)
    session = ctx._session if ctx is not None else None
    if isinstance(session, StrongboxSession) and session.state is not None and session.state.leases:
        strongbox_of(app).release(session)


def _build_store(app: Flask, settings: Settings) -> Store:
    if settings.store is not None and not isinstance(settings.store, str):
        if settings.redis_cache:
            raise ConfigurationError(
                "STRONGBOX_REDIS_CACHE applies to a store built from a STRONGBOX_STORE URL; "
                "for a store object, pass RedisStore(client, cache=...) instead"
            )
        return settings.store
    scheme = (settings.store or "sqlite").partition(":")[0]
    if settings.redis_cache and scheme not in ("redis", "rediss", "unix"):
        raise ConfigurationError(
            "STRONGBOX_REDIS_CACHE needs a redis://, rediss:// or unix:// STRONGBOX_STORE; "
            "set it to 0 for this store"
        )
    options = {"table": settings.table, "prefix": settings.key_prefix,
               "timeout": settings.store_timeout, "base_dir": app.instance_path,
               "cache": settings.redis_cache}
    if settings.store is None:
        os.makedirs(app.instance_path, mode=0o700, exist_ok=True)
        return store_from_url(f"sqlite:///{DEFAULT_FILE}", options)
    store = store_from_url(settings.store, options)
    if is_network_url(settings.store):
        _probe(store, settings)
    return store


def _adopter(app: Flask, settings: Settings, engine: Engine) -> Adopter | None:
    """What moves the sessions of the app's former session system, if
    ``STRONGBOX_MIGRATE_FROM`` names one."""
    if settings.migrate_from is None or settings.migrate_until is None:
        return None
    from .migrate.sources import source_from_config

    source = source_from_config(settings.migrate_from, app.config, settings.migrate_store, app.instance_path)
    return Adopter(engine, source, settings.migrate_until.timestamp())


def _metered(app: Flask, settings: Settings, registry: CollectorRegistry | None, store: Store) -> Store:
    """``store``, timed and counted, if metrics are on; the app's signals
    counted too."""
    if registry is None and not settings.metrics:
        return store
    try:
        from .metrics import metrics_for
    except ImportError as exc:
        raise ConfigurationError(
            "STRONGBOX_METRICS needs the metrics extra: pip install 'flask-strongbox[metrics]' "
            f"(module {exc.name!r} cannot be imported)"
        ) from None
    from .metered import MeteredStore

    metrics = metrics_for(registry)
    metrics.connect(app)
    return MeteredStore(store, metrics)


def _probe(store: Store, settings: Settings) -> None:
    """Tell the operator at start-up when the store's server cannot be
    reached. The app still starts: requests get a 503 until it is back."""
    try:
        store.get("0" * 64, settings.clock())
    except StoreUnavailable as exc:
        logger.error("session store unreachable at start-up (the app will retry): %s", exc)


def _runtime() -> tuple[StrongboxSessionInterface, Keyring, Events]:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    interface = strongbox_of(app)
    keyring = interface.keyring(app)
    if keyring is None:
        raise RuntimeError("SECRET_KEY is not set; Strongbox needs it to find sessions")
    return interface, keyring, interface.events(app, keyring)


def _current_key() -> str | None:
    if not has_request_context():
        return None
    session = request_ctx.session
    if isinstance(session, StrongboxSession):
        return session.handle
    return None


def _stamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def _info(keyring: Keyring, record: Record, current: str | None) -> SessionInfo:
    return SessionInfo(
        handle=record.key, created=_stamp(record.created), last_seen=_stamp(record.last_seen),
        expires=_stamp(record.expires), device=devices.open_hint(keyring, record.sealed_device, record.key),
        current=record.key == current,
    )
