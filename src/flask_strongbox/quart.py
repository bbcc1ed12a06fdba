"""Strongbox for Quart: ``Strongbox(app)`` or ``Strongbox().init_app(app)``,
with the Flask extension's settings and defaults, on an async store.

.. versionadded:: 0.2
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any

from quart import Quart, Request, Response, current_app, has_request_context
from quart.globals import request_ctx
from quart.sessions import SessionInterface

from . import cookies, transport
from .aio.sessions import ANY_USER, AsyncSessions
from .aio.sessions import Request as Described
from .aio.urls import async_store
from .engine import Context, Lifetimes
from .errors import ConfigurationError, StoreUnavailable
from .extension import SessionInfo
from .keys import Keyring
from .session import RefusedSession, StrongboxSession, UnavailableSession
from .settings import Settings
from .stores.base import Store

__all__ = ["Strongbox", "StrongboxSessionInterface"]


class StrongboxSessionInterface(SessionInterface):
    """Quart's two-method session contract, over the async adapters' core.
    Installed by :class:`Strongbox`, which keeps it in
    ``app.extensions["strongbox"]``."""

    session_class = StrongboxSession

    def __init__(self, sessions: AsyncSessions) -> None:
        self.sessions = sessions
        self._lifetimes: tuple[float, Lifetimes] | None = None

    def keyring(self, app: Quart) -> Keyring | None:
        """The app's keys, as Quart reads them; weak ones only in debug or testing.

        :raises ConfigurationError: naming the setting.
        """
        return self.sessions.keyring(app.secret_key, app.config.get("SECRET_KEY_FALLBACKS"),
                                     bool(app.debug or app.testing))

    def context(self, app: Quart, keyring: Keyring, request: Request) -> Context:
        permanent = app.permanent_session_lifetime.total_seconds()
        if self._lifetimes is None or self._lifetimes[0] != permanent:
            self._lifetimes = (permanent, self.sessions.lifetimes(permanent))
        described = Described([], request.headers.get("User-Agent"), self._lifetimes[1], keyring)
        return self.sessions.context(described, app.config["SESSION_REFRESH_EACH_REQUEST"])

    async def open_session(self, app: Quart, request: Any) -> StrongboxSession | None:
        try:
            keyring = self.keyring(app)
        except ConfigurationError as exc:
            return RefusedSession(exc)  # pages that never touch the session are served
        if keyring is None:
            return None  # Quart's null session then says SECRET_KEY is missing
        ctx = self.context(app, keyring, request)
        tokens = transport.header_tokens(self.sessions.settings.header, request.headers.get)
        sent = None if tokens is None else (tokens[0] if tokens else "")
        if tokens is None:
            tokens = request.cookies.getlist(self.get_cookie_name(app))
        try:
            session = await self.sessions.open(ctx, tokens, StrongboxSession)
        except StoreUnavailable as exc:
            # "The store is down" is not "no session": using it raises the 503.
            return UnavailableSession(exc)
        session.header_token = sent
        return session

    async def save_session(self, app: Quart, session: Any, response: Any) -> None:
        if not isinstance(session, StrongboxSession) or response is None:
            return  # no key, or a websocket: no response to carry a cookie
        if session.accessed:
            cookies.vary_on_cookie(response)
        if session.failed or (session.context is None and not session.modified):
            return
        ctx = session.context or self.context(app, self._keyring_of(app), request_ctx.request)
        try:
            outcome = await self.sessions.save(ctx, session, request_ctx.request.endpoint)
        except StoreUnavailable as exc:
            await _become_error(app, response, exc)
            return
        cookies.apply(self, app, response, outcome, session.header_token)  # type: ignore[arg-type] # Quart's, alike

    def _keyring_of(self, app: Quart) -> Keyring:
        keyring = self.keyring(app)
        assert keyring is not None  # else open_session made no StrongboxSession
        return keyring


async def _become_error(app: Quart, response: Response, exc: StoreUnavailable) -> None:
    """The response becomes the app's 503 page, its cookies dropped."""
    error = await app.make_response(await app.handle_http_exception(exc))
    response.status_code = error.status_code
    response.headers.clear()
    for name, value in error.headers.items():
        if name.lower() != "set-cookie":
            response.headers[name] = value
    body: Any = error.get_data()  # a Quart response's is awaited, an HTTPException's is not
    response.set_data(await body if inspect.isawaitable(body) else body)


class Strongbox:
    """Server-side, encrypted sessions for a Quart app: ``quart.session``
    works as before, but the browser holds only a signed, opaque id. The
    settings and their defaults are the Flask extension's (``STRONGBOX_*``;
    a SQLite file in the instance folder; weak keys only in debug or testing).

    :param app: the app, or ``None`` to call :meth:`init_app` later.
    :param store: an async or blocking store, overriding ``STRONGBOX_STORE``.
    :param clock: a callable returning Unix seconds, overriding ``STRONGBOX_CLOCK``.
    """

    def __init__(
        self, app: Quart | None = None, *, store: Any = None, clock: Callable[[], float] | None = None,
    ) -> None:
        self._store: Store | None = store
        self._clock = clock
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Quart) -> None:
        """Read the settings once and install the session interface."""
        settings = Settings.from_config(app.config, store=self._store, clock=self._clock)
        if settings.store is None:  # the default: a SQLite file in the instance folder
            os.makedirs(app.instance_path, mode=0o700, exist_ok=True)
        store = async_store(settings, app.instance_path)
        interface = StrongboxSessionInterface(AsyncSessions(settings, store, app))
        app.session_interface = interface  # type: ignore[assignment] # any SessionInterface
        app.extensions["strongbox"] = interface
        app.after_serving(store.close)  # its connections belong to the serving loop
        app.teardown_request(_release_leases)

    # -- per-user API, for the current app ---------------------------------------

    async def sessions_of(self, user: object) -> list[SessionInfo]:
        """The live sessions of ``user``, oldest first."""
        interface, keyring = _runtime()
        return await interface.sessions.sessions_of(keyring, user, _current_key())

    async def revoke(self, handle: str, *, user: object = ANY_USER) -> bool:
        """End one session by its handle (only if it is ``user``'s, when given)."""
        interface, keyring = _runtime()
        return await interface.sessions.revoke(keyring, handle, user)

    async def revoke_user(self, user: object, *, keep_current: bool = False) -> int:
        """End every session of ``user`` (but the current one, with ``keep_current``)."""
        interface, keyring = _runtime()
        return await interface.sessions.revoke_user(keyring, user, _current_key() if keep_current else None)


async def _release_leases(_error: BaseException | None) -> None:
    """Give back the leases of an exclusive request (``STRONGBOX_EXCLUSIVE``)
    whose save never ran."""
    session = request_ctx.session
    if isinstance(session, StrongboxSession) and session.state is not None and session.state.leases:
        interface, _ = _runtime()
        await interface.sessions.release(session)


def _runtime() -> tuple[StrongboxSessionInterface, Keyring]:
    app: Quart = current_app._get_current_object()  # type: ignore[attr-defined]
    interface = app.extensions.get("strongbox")
    if not isinstance(interface, StrongboxSessionInterface):
        raise RuntimeError("Strongbox is not installed on this app: call Strongbox(app) first")
    return interface, interface._keyring_of(app)


def _current_key() -> str | None:
    session = request_ctx.session if has_request_context() else None
    return session.handle if isinstance(session, StrongboxSession) else None
