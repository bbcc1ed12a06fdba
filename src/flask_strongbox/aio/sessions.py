"""What an async adapter (Starlette, Quart) does with the engine: the same
engine the Flask adapter drives, run against an async store.

The session is loaded before the view when the request carries a validly
signed token (a view's ``session`` is synchronous, so it cannot load on first
use the way Flask's does); a request without one, or with a forged one,
never reaches the store. The save runs as the response starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from .. import ids, signals
from ..audit import logger
from ..engine import Context, Engine, Events, LazySession, Lifetimes, Outcome, leases, ops
from ..errors import ConfigurationError, SaveConflict, StoreUnavailable
from ..extension import SessionInfo, _info
from ..keys import KeyCache, Keyring
from ..settings import Settings
from ..stores.base import Record
from .base import AsyncStore

S = TypeVar("S", bound=LazySession)
#: ``revoke(handle)`` with no ``user``: any session.
ANY_USER: Any = object()


@dataclass(frozen=True)
class Request:
    """One request, as the async adapters describe it.

    :param tokens: the session tokens it carries (cookie values, or the
        header's), in order.
    :param user_agent: its ``User-Agent``, for device hints.
    :param lifetimes: the lifetimes in force.
    :param keyring: the app's keys.
    """

    tokens: list[str]
    user_agent: str | None
    lifetimes: Lifetimes
    keyring: Keyring


class AsyncSessions:
    """Sessions on an async store, under one app's settings.

    :param settings: the app's Strongbox settings.
    :param store: where the sealed records are kept. The engine's
        background purge runs on its blocking twin, in its own thread.
    :param sender: the signals' sender (the app).
    """

    def __init__(self, settings: Settings, store: AsyncStore, sender: object) -> None:
        if settings.migrate_from is not None:
            raise ConfigurationError(
                "STRONGBOX_MIGRATE_FROM moves Flask sessions and works in the Flask extension only; "
                "migrate with the Flask app (or `flask sessions import`) and leave it unset here"
            )
        if settings.redis_cache:
            raise ConfigurationError(
                "STRONGBOX_REDIS_CACHE is a read cache of the Flask extension's Redis store; the "
                "async Redis store reads the server each time: leave it unset here"
            )
        self.settings = settings
        self.store = store
        self.sender = sender
        self.engine = Engine(settings, store.sync)
        self._keys = KeyCache()
        self._events: tuple[Keyring, Events] | None = None

    def keyring(self, secret: object, fallbacks: object, relaxed: bool) -> Keyring | None:
        """The keys for ``secret`` and its fallbacks, derived once and again
        only when they change; weak keys are refused unless ``relaxed``
        (debug or testing).

        ``STRONGBOX_SECRET_KEY`` (and its fallbacks), when set, is used
        instead of ``secret`` and ``fallbacks``.

        :raises ConfigurationError: a key is unsafe, naming the setting.
        """
        settings = self.settings
        if settings.secret_key is not None:
            return self._keys.get(settings.secret_key, settings.secret_key_fallbacks, relaxed,
                                  settings.key_settings)
        return self._keys.get(secret, fallbacks, relaxed)

    def lifetimes(self, permanent: float, idle: float | None = None) -> Lifetimes:
        """The lifetimes: ``permanent`` for a permanent session, ``idle``
        (``STRONGBOX_IDLE_TIMEOUT`` if ``None``) for any other."""
        settings = self.settings
        return Lifetimes(
            permanent, settings.idle_timeout.total_seconds() if idle is None else idle,
            settings.absolute_lifetime.total_seconds(), settings.touch_interval.total_seconds(),
        )

    def events(self, keyring: Keyring) -> Events:
        cached = self._events
        if cached is None or cached[0] is not keyring:
            cached = self._events = (keyring, Events(self.sender, keyring, self.engine.rejections))
        return cached[1]

    def context(self, request: Request, refresh_each_request: bool = False) -> Context:
        settings = self.settings
        user_agent = request.user_agent if settings.device_hints else None
        return Context(request.keyring, request.lifetimes, refresh_each_request, user_agent,
                       self.events(request.keyring), settings.clock(), settings.exclusive)

    # -- a request -------------------------------------------------------------

    async def open(self, ctx: Context, tokens: list[str], make: type[S]) -> S:
        """The request's session (a ``make``, such as :class:`LazySession`), loaded if a token
        verifies (a new, empty one if none does).

        :raises StoreUnavailable: the store cannot answer now.
        """
        cookie, refused = self.engine.open(ctx.keyring, tokens)
        if refused is not None:
            ctx.events.reject(refused, ctx.now)
        if cookie is None:
            return make()
        try:
            loaded = await ops.run_async(self.engine.load_steps(ctx, cookie), self.store)
        except StoreUnavailable as exc:
            exc.retry_after = self.settings.retry_after
            logger.error("session not loaded: %s", exc)
            raise
        session = make(lambda: loaded, cookie.marker)
        session.context = ctx
        session.data  # noqa: B018 - takes what was loaded
        return session

    async def save(self, ctx: Context, session: LazySession, endpoint: str | None = None) -> Outcome:
        """Write what the request did.

        :raises StoreUnavailable: (or :class:`SaveConflict`) nothing was
            saved; answer 503 with ``retry_after``.
        """
        if session.state is None and not session.modified:
            return Outcome()  # no session before, none now
        try:
            return await ops.run_async(self.engine.save_steps(ctx, session), self.store)
        except StoreUnavailable as exc:
            session.failed = True
            exc.retry_after = self.settings.retry_after
            if isinstance(exc, SaveConflict):
                logger.warning("session not saved: %s", exc.detail)
                handle = None if session.state is None else session.state.key
                ctx.events.announce(signals.session_conflict, handle, exc.reason, endpoint=endpoint)
            else:
                logger.error("session not saved: %s", exc)
            raise

    async def release(self, session: LazySession) -> None:
        """Give back the leases of an exclusive request whose save never ran."""
        if session.state is not None and session.state.leases:
            await ops.run_async(leases.release(session.state), self.store)

    # -- per user --------------------------------------------------------------

    async def records_of(self, keyring: Keyring, user: object) -> list[Record]:
        """The live records of ``user``, under every key, oldest first."""
        now = self.settings.clock()
        found = {}
        for keyset in keyring.sets:
            for record in await self.store.sessions_of(ids.identity_key(keyset, user), now):
                found[record.key] = record
        return sorted(found.values(), key=lambda r: (r.created, r.key))

    async def sessions_of(self, keyring: Keyring, user: object, current: str | None) -> list[SessionInfo]:
        """:meth:`flask_strongbox.Strongbox.sessions_of`, awaited."""
        return [_info(keyring, record, current) for record in await self.records_of(keyring, user)]

    async def revoke(self, keyring: Keyring, handle: str, user: object = ANY_USER) -> bool:
        """:meth:`flask_strongbox.Strongbox.revoke`, awaited."""
        if user is None:
            return False
        if user is not ANY_USER and handle not in {r.key for r in await self.records_of(keyring, user)}:
            return False
        if not await self.store.delete(handle):
            return False
        self.events(keyring).announce(signals.session_revoked, handle, "revoked")
        return True

    async def revoke_user(self, keyring: Keyring, user: object, keep: str | None = None) -> int:
        """:meth:`flask_strongbox.Strongbox.revoke_user`, awaited."""
        removed: list[str] = []
        for keyset in keyring.sets:
            removed += await self.store.delete_user(ids.identity_key(keyset, user), keep)
        announce = self.events(keyring).announce
        for handle in removed:
            announce(signals.session_revoked, handle, "revoked with all of user")
        return len(removed)


def tokens_in(cookie_headers: Iterable[str], name: str) -> list[str]:
    """Every value of the cookie ``name`` in these ``Cookie`` headers, in
    order (a browser may send two, for two paths)."""
    found = []
    for header in cookie_headers:
        for pair in header.split(";"):
            key, sep, value = pair.strip().partition("=")
            if sep and key == name:
                found.append(value.strip().strip('"'))
    return found
