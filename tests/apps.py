"""A small app on Strongbox for the concurrency, per-user, signal and CLI tests.

``make_app(store, clock)`` builds a Flask app whose views each do one thing to
the session. Views that take part in a race call :func:`sync` right after the
session is loaded: a test that puts a :class:`threading.Barrier` (or a pair of
events) in ``app.config["SYNC"]`` makes every racing request load the same
version of the record before any of them saves, so the conflict path runs every
round instead of by chance.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, current_app, jsonify, request
from werkzeug.test import TestResponse

from flask_strongbox import Strongbox, session
from flask_strongbox.stores.base import Store
from flask_strongbox.testing import Clock as Clock  # the suite's clock, imported from here too

from .conftest import SECRET as SECRET  # imported from here too
from .cookies import set_cookie as set_cookie  # imported from here too

COOKIE = "session"
#: Every session cookie a :class:`Browser` sent or received, so tests can
#: check that none of them (nor the ids inside) reaches a log line.
SEEN_COOKIES: set[str] = set()
CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


class Slow:
    """Holds one request after it loaded its session until the test says go."""

    def __init__(self) -> None:
        self.loaded = threading.Event()
        self.go = threading.Event()

    def wait(self) -> None:
        self.loaded.set()
        if not self.go.wait(10):
            raise RuntimeError("the test never released the slow request")


def sync() -> None:
    point = current_app.config.get("SYNC")
    if isinstance(point, threading.Barrier):
        point.wait(10)
    elif isinstance(point, Slow) and request.args.get("slow"):
        point.wait()


def make_app(store: Store | None, clock: Any = None, *, secret: str = SECRET, metrics: Any = None,
             **config: Any) -> Flask:
    app = Flask(__name__)
    app.secret_key = secret
    app.config.update({"TESTING": True, **config})
    box = Strongbox(app, store=store, clock=clock, metrics=metrics)
    app.extensions["strongbox_extension"] = box

    @app.route("/set/<key>/<value>")
    def set_value(key: str, value: str) -> str:
        session.permanent  # loads the session, reading only "_permanent"
        sync()
        session[key] = value
        return "ok"

    @app.route("/del/<key>")
    def delete(key: str) -> str:
        session.permanent
        sync()
        session.pop(key, None)
        return "ok"

    @app.route("/dump")
    def dump() -> Any:
        return jsonify(dict(session))

    @app.route("/incr")
    def incr() -> Any:
        if "user" not in session:
            return "log in first", 401
        sync()
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    @app.route("/login/<name>")
    def login(name: str) -> str:
        session["user"] = name
        return "ok"

    @app.route("/logout")
    def logout() -> str:
        session.permanent
        sync()
        session.clear()
        return "ok"

    @app.route("/regenerate")
    def regenerate() -> str:
        session.permanent
        sync()
        session.regenerate()
        return "ok"

    @app.route("/sessions")
    def sessions() -> Any:
        return jsonify([
            {"handle": s.handle, "created": s.created.timestamp(), "last_seen": s.last_seen.timestamp(),
             "expires": s.expires.timestamp(), "device": s.device, "current": s.current}
            for s in box.sessions_of(session["user"])
        ])

    @app.route("/revoke/<handle>")
    def revoke(handle: str) -> Any:
        return jsonify(box.revoke(handle, user=session["user"]))

    @app.route("/revoke-others")
    def revoke_others() -> Any:
        return jsonify(box.revoke_user(session["user"], keep_current=True))

    return app


def extension(app: Flask) -> Strongbox:
    box: Strongbox = app.extensions["strongbox_extension"]
    return box


class Browser:
    """One test client that carries a given session cookie by hand, so several
    threads can each have their own client on one shared session."""

    def __init__(self, app: Flask, cookie: str | None = None, user_agent: str | None = None) -> None:
        self.client = app.test_client(use_cookies=False)
        self.cookie = cookie
        self.user_agent = user_agent

    def get_json(self, path: str) -> Any:
        """:meth:`get` ``path``; the JSON it answers."""
        data: Any = self.get(path).json
        return data

    def get(self, path: str, *, follow_cookie: bool = True) -> TestResponse:
        headers = {}
        if self.cookie:
            headers["Cookie"] = f"{COOKIE}={self.cookie}"
        if self.user_agent:
            headers["User-Agent"] = self.user_agent
        response = self.client.get(path, headers=headers)
        new = set_cookie(response)
        SEEN_COOKIES.update(c for c in (self.cookie, new) if c)
        if follow_cookie and new is not None:
            self.cookie = new or None
        return response


def store_key(app: Flask, cookie: str | None) -> str:
    """The store key (the handle) of the session a cookie names."""
    from flask_strongbox import ids

    assert cookie, "no session cookie"
    keyring = app.session_interface.keyring(app)  # type: ignore[attr-defined]
    verified = ids.unsign(keyring, cookie)
    assert verified is not None, "not a cookie this app signed"
    sid, keyset = verified
    return ids.store_key(keyset, sid)


def race(*calls: Any, timeout: float = 20) -> list[Any]:
    """Run each call in its own thread, all released at once by a barrier;
    return their results in order, re-raising the first failure."""
    start = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Any) -> None:
        try:
            start.wait(timeout)
            results[index] = call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c), daemon=True) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        if thread.is_alive():
            raise AssertionError("a racing request never finished")
    if errors:
        raise errors[0]
    return results


def _forbidden(cookie: str) -> set[str]:
    """A cookie and the id inside it, in every spelling a log line could use."""
    import base64

    sid = cookie.partition(".")[0]
    raw = base64.urlsafe_b64decode(sid + "=")
    return {cookie, sid, raw.hex(), base64.b64encode(raw).decode().rstrip("="), repr(raw)}


@pytest.fixture
def no_ids_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Capture every log record of the test (Strongbox's and others') and fail
    if any holds a session cookie or id that a test browser saw."""
    SEEN_COOKIES.clear()
    caplog.set_level(logging.DEBUG)
    yield
    forbidden = set().union(*(_forbidden(c) for c in SEEN_COOKIES if "." in c))
    for record in [*caplog.get_records("setup"), *caplog.get_records("call")]:
        text = " ".join([record.getMessage(), str(record.args), record.exc_text or ""])
        leaked = [f for f in forbidden if f in text]
        assert not leaked, f"a log line holds a session cookie or id: {record.getMessage()!r}"
