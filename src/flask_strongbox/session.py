"""The session object Flask views see as ``flask.session``: the engine's lazy
mapping with Flask's session API (``permanent``, ``modified``, ``accessed``,
``new``) on top."""

from __future__ import annotations

from flask.sessions import SessionMixin

from .engine import session as engine_session


class StrongboxSession(engine_session.LazySession, SessionMixin):
    """A server-side session. Works like Flask's own: a mutable mapping with
    ``permanent``, ``modified``, ``accessed`` and ``new``; it loads itself from
    the store on first use, so a request that never touches it never reaches
    the store.

    Beyond Flask's API: :attr:`expired`, :attr:`handle` and
    :meth:`regenerate`. ``flask_strongbox.session`` is ``flask.session``
    typed as this class.
    """

    #: The token the request carried in ``STRONGBOX_HEADER`` (``""``: the
    #: header, with no token), or ``None``: it used the cookie. A new token
    #: goes back in a response header.
    header_token: str | None = None


class RefusedSession(engine_session.RefusedSession, StrongboxSession):
    """The session while Strongbox refuses the app's keys (see
    :class:`flask_strongbox.engine.RefusedSession`)."""


class UnavailableSession(engine_session.UnavailableSession, StrongboxSession):
    """The session an async adapter could not load: any use raises the
    outage (see :class:`flask_strongbox.engine.session.UnavailableSession`)."""
