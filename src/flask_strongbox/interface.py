"""Flask's two-method session contract, as a thin adapter over the engine.

``open_session`` reads the cookie and lets the engine check its signature (no
I/O); the session loads itself on first use. ``save_session`` hands the
engine what the request did and writes its answer (a cookie, a cleared
cookie, or a 503 page) onto the response.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, Request, Response, has_request_context, request
from flask.globals import _cv_request
from flask.sessions import SessionInterface, SessionMixin

from . import cookies, signals, transport
from .audit import logger
from .engine import Context, Engine, Events, Lifetimes, Loaded, Outcome
from .engine.adopt import Adopter, Adoption
from .engine.load import Verified
from .engine.purge import Purger
from .errors import ConfigurationError, SaveConflict, StoreUnavailable
from .keys import KeyCache, Keyring
from .session import RefusedSession, StrongboxSession
from .settings import Settings
from .stores.base import Store

#: The attribute ``@strongbox.exclusive`` sets on a view function.
EXCLUSIVE_MARK = "_strongbox_exclusive"


class StrongboxSessionInterface(SessionInterface):
    """Server-side sessions. Installed by :class:`~flask_strongbox.Strongbox`,
    which keeps it in ``app.extensions["strongbox"]``.

    :param engine: the session engine it adapts.
    """

    session_class = StrongboxSession

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: Moves sessions of the app's former session system, if
        #: ``STRONGBOX_MIGRATE_FROM`` is set.
        self.adopter: Adopter | None = None
        self._keys = KeyCache()
        self._events: tuple[Flask, Keyring, Events] | None = None
        self._lifetimes: tuple[timedelta, Lifetimes] | None = None

    @property
    def store(self) -> Store:
        return self.engine.store

    @property
    def settings(self) -> Settings:
        return self.engine.settings

    @property
    def purger(self) -> Purger:
        return self.engine.purger

    def clock(self) -> float:
        return self.engine.clock()

    # -- what Flask says -------------------------------------------------------

    def keyring(self, app: Flask) -> Keyring | None:
        """The keys for the app's current secret key and fallbacks, derived
        once and re-derived only when they change. ``STRONGBOX_SECRET_KEY``
        and its fallbacks if set, else read as Flask reads them:
        ``app.secret_key``, ``SECRET_KEY_FALLBACKS``, ``app.debug`` and
        ``app.testing`` (a Flask subclass may set those as class attributes).

        :raises ConfigurationError: a key is unsafe outside debug and testing.
        """
        settings = self.engine.settings
        relaxed = bool(app.debug or app.testing)
        if settings.secret_key is None:
            return self._keys.get(app.secret_key, app.config.get("SECRET_KEY_FALLBACKS"), relaxed)
        return self._keys.get(settings.secret_key, settings.secret_key_fallbacks, relaxed,
                              settings.key_settings)

    def context(self, app: Flask, keyring: Keyring, exclusive: bool = False) -> Context:
        """The request, as the engine needs it."""
        settings = self.engine.settings
        wanted = settings.device_hints and has_request_context()
        user_agent = request.headers.get("User-Agent") if wanted else None
        events = self.events(app, keyring)
        return Context(keyring, self._lifetimes_of(app), app.config["SESSION_REFRESH_EACH_REQUEST"],
                       user_agent, events, self.engine.clock(), exclusive or settings.exclusive)

    def _context_of(self, app: Flask, session: StrongboxSession) -> Context:
        if session.context is not None:
            return session.context
        keyring = self.keyring(app)
        assert keyring is not None  # else open_session made no StrongboxSession
        return self.context(app, keyring)

    def events(self, app: Flask, keyring: Keyring | None) -> Events:
        """Where the app's session events go: signals sent by ``app``."""
        cached = self._events
        if cached is not None and cached[0] is app and cached[1] is keyring:
            return cached[2]
        events = Events(app, keyring, self.engine.rejections)
        if keyring is not None:
            self._events = (app, keyring, events)
        return events

    def _lifetimes_of(self, app: Flask) -> Lifetimes:
        permanent = app.permanent_session_lifetime
        cached = self._lifetimes
        if cached is not None and cached[0] == permanent:
            return cached[1]
        settings = self.engine.settings
        lifetimes = Lifetimes(
            permanent.total_seconds(), settings.idle_timeout.total_seconds(),
            settings.absolute_lifetime.total_seconds(), settings.touch_interval.total_seconds(),
        )
        self._lifetimes = (permanent, lifetimes)
        return lifetimes

    # -- open ------------------------------------------------------------------

    def open_session(self, app: Flask, request: Request) -> StrongboxSession | None:
        try:
            keyring = self.keyring(app)
        except ConfigurationError as exc:
            # Refuse as Flask refuses a missing key: pages that never touch the
            # session are served, touching it raises the error.
            return RefusedSession(exc)
        if keyring is None:
            return None  # Flask's NullSession then explains that SECRET_KEY is missing
        sent = transport.header_tokens(self.engine.settings.header, request.headers.get)
        header_token = None if sent is None else (sent[0] if sent else "")
        if sent is None:
            sent = cookies.session_cookies(request, self.get_cookie_name(app))
        cookie, refused = self.engine.open(keyring, sent)
        if refused is not None:
            adoption = None if self.adopter is None else self.adopter.adoption(sent, self.engine.clock())
            if adoption is not None:
                return self._adopting(app, keyring, adoption)
            self.events(app, keyring).reject(refused, self.engine.clock())
        if cookie is None:
            session = StrongboxSession()
        else:
            session = StrongboxSession(lambda: self._load(app, keyring, cookie, session), cookie.marker)
        session.header_token = header_token
        return session

    def _load(
        self, app: Flask, keyring: Keyring, cookie: Verified, session: StrongboxSession,
    ) -> tuple[dict[str, Any], Loaded]:
        exclusive = session.exclusive or _view_is_exclusive(app)
        session.context = self.context(app, keyring, exclusive)  # the save reuses it
        return self.engine.load(session.context, cookie)

    def _adopting(self, app: Flask, keyring: Keyring, adoption: Adoption) -> StrongboxSession:
        """A session that moves a legacy cookie's data into Strongbox."""
        adopter = self.adopter
        assert adopter is not None

        def load() -> tuple[dict[str, Any], Loaded | None]:
            session.context = self.context(app, keyring)
            return adopter.load(session.context, adoption)

        session = StrongboxSession(load)
        session.adoption = adoption
        return session

    def make_exclusive(self, app: Flask, session: StrongboxSession) -> None:
        """Let this request hold its session alone (``@strongbox.exclusive``):
        from its first load if it has not loaded yet, else from now on."""
        if not session.loaded:
            session.exclusive = True
        elif not isinstance(session, RefusedSession):
            self.engine.make_exclusive(self._context_of(app, session), session)

    def release(self, session: StrongboxSession) -> None:
        """Give back what an exclusive request still holds as it ends."""
        self.engine.release(session)

    # -- save ------------------------------------------------------------------

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, StrongboxSession):
            return  # Flask's NullSession: no SECRET_KEY, nothing to save
        if session.accessed:
            cookies.vary_on_cookie(response)
        if session.failed:
            return
        if not session.loaded and not session.modified and session.adoption is None:
            if self.engine.activity_due(session):  # a valid cookie: the visit may slide it
                outcome = self.engine.count_activity(self._context_of(app, session), session)
                cookies.apply(self, app, response, outcome, session.header_token)
            return
        try:
            outcome = self._save(app, session)
        except StoreUnavailable as exc:  # SaveConflict included: both are a 503
            session.failed = True
            exc.retry_after = self.engine.settings.retry_after
            if isinstance(exc, SaveConflict):
                logger.warning("session not saved: %s", exc.detail)
                handle = None if session.state is None else session.state.key
                self.events(app, self.keyring(app)).announce(
                    signals.session_conflict, handle, exc.reason, endpoint=request.endpoint)
            else:
                logger.error("session not saved: %s", exc)
            cookies.become_error(app, response, exc)
            return
        except Exception:
            session.failed = True  # Flask calls save again for its error page: don't
            raise
        cookies.apply(self, app, response, outcome, session.header_token)

    def _save(self, app: Flask, session: StrongboxSession) -> Outcome:
        if session.adoption is not None and self.adopter is not None:
            session.data  # noqa: B018 - a legacy cookie is moved whether or not the view read it
            return self.adopter.save(self._context_of(app, session), session, session.adoption)
        return self.engine.save(self._context_of(app, session), session)


def _view_is_exclusive(app: Flask) -> bool:
    """Whether the view this request is for was marked ``@strongbox.exclusive``.
    Asked as the session first loads (the lease is taken then), rather than
    in a ``before_request`` hook that every request would pay for."""
    ctx = _cv_request.get(None)
    endpoint = ctx.request.endpoint if ctx is not None else None
    view = app.view_functions.get(endpoint) if endpoint else None
    return bool(getattr(view, EXCLUSIVE_MARK, False))


def strongbox_of(app: Flask) -> StrongboxSessionInterface:
    """The app's Strongbox state: its session interface, with the engine,
    store and settings (``app.extensions["strongbox"]``).

    :raises RuntimeError: if ``Strongbox`` was not installed on ``app``.
    """
    found = app.extensions.get("strongbox")
    if not isinstance(found, StrongboxSessionInterface):
        raise RuntimeError("Strongbox is not installed on this app: call Strongbox(app) first")
    return found
