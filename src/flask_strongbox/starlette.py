"""Strongbox for Starlette and FastAPI: ``StrongboxMiddleware`` in place of
Starlette's ``SessionMiddleware``, with the same options and the same
``request.session``, on server-side, encrypted records; and ``strongbox(request)``,
the per-user API. What a save writes on the response is in
:mod:`flask_strongbox.starlette_response`.

.. code-block:: python

    from flask_strongbox.starlette import StrongboxMiddleware

    app.add_middleware(StrongboxMiddleware, secret_key=..., store="redis://...")

.. versionadded:: 0.2
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from starlette.middleware.sessions import Session
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import serialization, transport
from .aio.base import AsyncStore
from .aio.options import SettingsOptions
from .aio.sessions import ANY_USER, AsyncSessions, Request, tokens_in
from .aio.urls import async_store
from .engine import LazySession
from .errors import StoreUnavailable
from .extension import SessionInfo
from .keys import Keyring
from .settings import Settings
from .starlette_response import Answer, CookieOptions, unavailable
from .stores.base import Store

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing's own from Python 3.11

__all__ = ["StrongboxMiddleware", "StrongboxSession", "strongbox"]


class StrongboxSession(Session):
    """``request.session``: Starlette's session (a ``dict`` that notes when
    it is read and changed), whose data is a sealed record in the store.

    Beyond Starlette's API: :attr:`expired`, :attr:`handle` and :meth:`regenerate`.
    """

    engine_session: LazySession | None = None
    regenerate_requested = False
    #: The token the request carried in ``STRONGBOX_HEADER`` (``""``: the
    #: header, with no token), or ``None``: it used the cookie.
    header_token: str | None = None

    def __setitem__(self, key: str, value: Any) -> None:
        serialization.check_value(key, value)
        super().__setitem__(key, value)

    def regenerate(self) -> None:
        """Give the session a new id at the end of the request, keeping its
        data: call it on any privilege change. A change of the identity
        (``session["user"]``) does it by itself."""
        self.regenerate_requested = True
        self.mark_modified()

    @property
    def expired(self) -> bool:
        """``True`` if the request's token named a session that no longer exists."""
        state = None if self.engine_session is None else self.engine_session.state
        return state is not None and state.expired

    @property
    def handle(self) -> str | None:
        """The stored record's opaque handle, or ``None`` for a new session."""
        state = None if self.engine_session is None else self.engine_session.state
        return state.key if state is not None and state.record is not None else None


class StrongboxMiddleware:
    """Server-side sessions for a Starlette or FastAPI app.

    Takes Starlette ``SessionMiddleware``'s options, with their meaning:

    :param app: the ASGI app.
    :param secret_key: signs the cookie and seals the records; weak keys
        are refused unless the app runs with ``debug=True``.
    :param store: an async store, a blocking store (run in a thread pool),
        or a store URL (``STRONGBOX_STORE``); ``None``: the SQLite file
        ``strongbox-sessions.sqlite3`` in the current directory.
    :param session_cookie: the cookie's name.
    :param max_age: seconds a session lives after its last use, and the
        cookie's ``Max-Age``; ``None``: a browser-session cookie, and the
        server's ``idle_timeout``.
    :param path: the cookie's path.
    :param same_site: the cookie's ``SameSite``.
    :param https_only: the cookie is ``Secure``.
    :param domain: the cookie's domain.
    :param partitioned: the cookie is ``Partitioned``.
    :param secret_key_fallbacks: older keys that still verify (``SECRET_KEY_FALLBACKS``).
    :param permanent_session_lifetime: with ``max_age=None``, how long a
        session a Flask app marked permanent lives after its last use (Flask's
        ``PERMANENT_SESSION_LIFETIME``: give it the Flask app's value when
        they share sessions); with a ``max_age``, that is used instead.
    :param settings: any ``STRONGBOX_*`` setting, lower case and without the
        prefix (``idle_timeout=1800``, ``identity_keys=("user",)``).
    """

    def __init__(  # noqa: PLR0913 - SessionMiddleware's options, one for one
        self, app: ASGIApp, secret_key: object, store: AsyncStore | Store | str | None = None,
        session_cookie: str = "session", max_age: int | None = 14 * 24 * 60 * 60, path: str = "/",
        same_site: Literal["lax", "strict", "none"] = "lax", https_only: bool = False,
        domain: str | None = None, partitioned: bool = False,
        secret_key_fallbacks: tuple[str, ...] | list[str] = (),
        permanent_session_lifetime: float | timedelta = timedelta(days=31),
        **settings: Unpack[SettingsOptions],
    ) -> None:
        self.app = app
        self._secret = str(secret_key)  # Starlette's Secret, or text
        self._fallbacks = tuple(secret_key_fallbacks)
        config = {f"STRONGBOX_{name.upper()}": value for name, value in settings.items()}
        resolved = Settings.from_config(config, store=store)
        self.sessions = AsyncSessions(resolved, async_store(resolved, "."), self)
        self.cookie = CookieOptions(session_cookie, path, domain, https_only, same_site, partitioned)
        self.max_age = max_age
        permanent = permanent_session_lifetime
        if isinstance(permanent, timedelta):
            permanent = permanent.total_seconds()
        lifetime = float(permanent) if max_age is None else float(max_age)
        self._lifetimes = self.sessions.lifetimes(lifetime, None if max_age is None else float(max_age))

    def __repr__(self) -> str:
        return f"<StrongboxMiddleware {self.sessions.store!r}>"

    def keyring(self, scope: Scope) -> Keyring:
        """The app's keys; weak ones only under ``debug=True``.

        :raises ConfigurationError: naming the fix.
        """
        app = scope.get("app")
        found = self.sessions.keyring(self._secret, self._fallbacks, bool(getattr(app, "debug", False)))
        assert found is not None  # the key is never empty: refused as weak first
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._closing(send))
            return
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        headers = connection.headers
        tokens = transport.header_tokens(self.sessions.settings.header, headers.get)
        sent = None if tokens is None else (tokens[0] if tokens else "")
        if tokens is None:
            tokens = tokens_in(headers.getlist("cookie"), self.cookie.name)
        request = Request(tokens, headers.get("user-agent"), self._lifetimes, self.keyring(scope))
        ctx = self.sessions.context(request)
        try:
            lazy = await self.sessions.open(ctx, request.tokens, LazySession)
        except StoreUnavailable as exc:
            await unavailable(send, exc)
            return
        session = StrongboxSession(lazy.data if lazy.state is not None else {})
        session.engine_session = lazy
        session.header_token = sent
        scope["session"] = session
        scope["strongbox"] = RequestStrongbox(self.sessions, request.keyring, session)
        answer = Answer(self, ctx, session, send)
        try:
            await self.app(scope, receive, answer.send)
        finally:
            if not answer.saved:
                await self.sessions.release(lazy)


    def _closing(self, send: Send) -> Send:
        """``send`` for the lifespan: the store's connections, which belong
        to the serving loop, are closed as the app shuts down."""

        async def closing(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await self.sessions.store.close()
            await send(message)

        return closing


class RequestStrongbox:
    """Strongbox's API for the current request's app: its user's sessions,
    revocation, and rotation. Get it with :func:`strongbox`."""

    def __init__(self, sessions: AsyncSessions, keyring: Keyring, session: StrongboxSession) -> None:
        self._sessions, self._keyring, self._session = sessions, keyring, session

    def regenerate(self) -> None:
        """Rotate the session's id at the end of the request (at login)."""
        self._session.regenerate()

    async def sessions_of(self, user: object) -> list[SessionInfo]:
        """The live sessions of ``user``, oldest first."""
        return await self._sessions.sessions_of(self._keyring, user, self._session.handle)

    async def revoke(self, handle: str, *, user: object = ANY_USER) -> bool:
        """End one session by its handle (only if it is ``user``'s, when given)."""
        return await self._sessions.revoke(self._keyring, handle, user)

    async def revoke_user(self, user: object, *, keep_current: bool = False) -> int:
        """End every session of ``user`` (but the current one, with ``keep_current``)."""
        keep = self._session.handle if keep_current else None
        return await self._sessions.revoke_user(self._keyring, user, keep)


def strongbox(connection: HTTPConnection) -> RequestStrongbox:
    """Strongbox's API for this request (``strongbox(request).revoke_user(...)``).

    :raises RuntimeError: if ``StrongboxMiddleware`` is not installed.
    """
    found = connection.scope.get("strongbox")
    if not isinstance(found, RequestStrongbox):
        raise RuntimeError("StrongboxMiddleware is not installed on this app")
    return found
