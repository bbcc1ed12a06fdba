"""Helpers for testing an app that uses Strongbox.

A clock the test moves instead of sleeping, the in-memory store, and a look
at what the server holds for a test client's session, which a signed, opaque
cookie does not show::

    from flask_strongbox import Strongbox
    from flask_strongbox.testing import Clock, MemoryStore, session_of

    clock = Clock()
    Strongbox(app, store=MemoryStore(), clock=clock)
    client = app.test_client()
    client.post("/login", data={"user": "alice", "password": "..."})
    assert session_of(client)["user"] == "alice"
    clock.advance(timedelta(hours=2))  # past the idle timeout
    assert session_of(client) == {}

To put data into a client's session before a request, use Flask's own
:meth:`~flask.testing.FlaskClient.session_transaction`: it saves through
Strongbox like a request does.

.. versionadded:: 0.2
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from .audit import RejectionLog
from .engine import Events, ops
from .engine.load import Verified
from .interface import strongbox_of
from .keys import Keyring
from .metered import MeteredStore
from .stores.base import Record
from .stores.memory import MemoryStore

__all__ = ["Clock", "MemoryStore", "ServerSession", "server_session", "session_of"]


class Clock:
    """A clock for tests, moved by hand: pass it as ``Strongbox(app,
    clock=clock)``, then :meth:`advance` it past a timeout instead of
    sleeping.

    It starts at the real time, unless given ``now``: the test client drops
    cookies whose expiry has passed by the real clock, so a clock far from it
    would make the client lose or keep cookies the server disagrees about.

    :param now: the starting time, Unix seconds or an aware ``datetime``.
    """

    def __init__(self, now: float | datetime | None = None) -> None:
        self.now: float = time.time() if now is None else _seconds(now)

    def __call__(self) -> float:
        """The current time, Unix seconds: the clock Strongbox reads."""
        return self.now

    def __repr__(self) -> str:
        return f"<Clock {datetime.fromtimestamp(self.now, timezone.utc).isoformat()}>"

    def advance(self, by: float | timedelta) -> float:
        """Move the clock forward by ``by`` (seconds or a ``timedelta``; a
        negative one moves it back, as a corrected system clock would).
        Returns the new time."""
        self.now += by.total_seconds() if isinstance(by, timedelta) else by
        return self.now

    def set(self, now: float | datetime) -> None:
        """Set the clock to ``now``, Unix seconds or an aware ``datetime``."""
        self.now = _seconds(now)


def _seconds(when: float | datetime) -> float:
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError("a naive datetime has no time zone; pass an aware one")
        return when.timestamp()
    return float(when)


@dataclass(frozen=True)
class ServerSession:
    """What the server holds for one client's session, as
    :func:`server_session` found it."""

    #: The session's data, decrypted: a copy, changing it changes nothing.
    data: dict[str, Any] = field(repr=False)
    #: The stored record: the data still sealed, its version and its
    #: ``created``, ``last_seen``, ``expires`` and ``absolute_expires`` times.
    record: Record = field(repr=False)

    @property
    def handle(self) -> str:
        """The session's handle, as :meth:`~flask_strongbox.Strongbox.revoke`
        takes it and :attr:`~flask_strongbox.SessionInfo.handle` gives it."""
        return self.record.key

    @property
    def expires(self) -> datetime:
        """When the session ends unless used again."""
        return datetime.fromtimestamp(self.record.expires, timezone.utc)


def server_session(client: FlaskClient, path: str = "/") -> ServerSession | None:
    """The session the server holds for ``client``'s session cookie, read
    with the app's own keys, store and clock; ``None`` when the client has no
    live session (no cookie, a forged one, or one whose session expired,
    ended or was revoked).

    It reads as a request to ``path`` would, with the cookies the client
    would send there, but changes nothing: no write, no touch, and none of
    the app's signals or metrics.

    :param client: a test client of an app with Strongbox installed.
    :param path: the path whose cookies to use, for a ``SESSION_COOKIE_PATH``
        other than ``/``.
    :raises RuntimeError: Strongbox is not installed on the client's app, or
        ``SECRET_KEY`` is not set.
    :raises StoreUnavailable: the store cannot answer.
    """
    app: Flask = client.application
    interface = strongbox_of(app)
    keyring = interface.keyring(app)
    if keyring is None:
        raise RuntimeError("SECRET_KEY is not set; Strongbox needs it to read sessions")
    # The cookies a request to ``path`` would carry, chosen by the client's
    # own rules, as Flask's session_transaction chooses them. The context is
    # never pushed: pushing it would open (and later save) a session.
    environ = app.test_request_context(path).request.environ
    client._add_cookies_to_wsgi(environ)
    cookies = app.request_class(environ).cookies.getlist(interface.get_cookie_name(app))
    verified, _ = interface.engine.open(keyring, cookies)
    if verified is None:
        return None
    return _load_quietly(app, keyring, verified)


def _load_quietly(app: Flask, keyring: Keyring, verified: Verified) -> ServerSession | None:
    interface = strongbox_of(app)
    # Events with a sender no receiver listens for, rejections counted apart,
    # and the store itself rather than its meter: looking must not show up in
    # the app's signals or metrics.
    quiet = Events(object(), keyring, RejectionLog())
    ctx = replace(interface.context(app, keyring), events=quiet, exclusive=False)
    store = interface.store
    if isinstance(store, MeteredStore):
        store = store.store
    data, loaded = ops.run(interface.engine.load_steps(ctx, verified), store)
    if loaded.record is None:
        return None
    return ServerSession(data=data, record=loaded.record)


def session_of(client: FlaskClient, path: str = "/") -> dict[str, Any]:
    """The data of ``client``'s session on the server, decrypted; ``{}``
    when it has none. See :func:`server_session`, which also gives the
    stored record."""
    found = server_session(client, path)
    return {} if found is None else found.data
