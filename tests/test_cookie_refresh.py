"""A permanent session's cookie is re-sent only when its expiry moves.

The record's expiry slides in throttled touches (``STRONGBOX_TOUCH_INTERVAL``,
or a tenth of a short lifetime); the browser's cookie is given the record's
expiry plus that throttle as slack, so a read between two touches needs no
``Set-Cookie`` and the cookie never dies in the browser before the record
dies on the server. The clock is the suite's hand-moved one; the stores are
real.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask, session

from flask_strongbox import Strongbox
from flask_strongbox.stores.base import Store
from flask_strongbox.testing import Clock

from .apps import Browser, set_cookie, store_key
from .conftest import SECRET

LIFETIME = 600  # seconds: the throttle is a tenth of it, 60 s
SLACK = 60


def make_app(store: Store, clock: Clock, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update({"SECRET_KEY": SECRET, "TESTING": True,
                       "PERMANENT_SESSION_LIFETIME": LIFETIME, **config})
    Strongbox(app, store=store, clock=clock)

    @app.route("/login/<name>")
    def login(name: str) -> str:
        session["user"] = name
        session.permanent = True
        return "ok"

    @app.route("/guest/<name>")
    def guest(name: str) -> str:
        session["user"] = name
        return "ok"

    @app.route("/whoami")
    def whoami() -> str:
        return str(session.get("user"))

    @app.route("/put/<value>")
    def put(value: str) -> str:
        session["value"] = value
        return "ok"

    @app.route("/resend")
    def resend() -> str:
        session.modified = True
        return "ok"

    return app


def cookie_expiry(response: Any) -> float | None:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith("session=") and "Expires=" in header:
            text = header.split("Expires=")[1].split(";")[0]
            stamp = datetime.strptime(text, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=timezone.utc)
            return stamp.timestamp()
    return None


def record_expires(store: Store, app: Flask, cookie: str, now: float) -> float:
    record = store.get(store_key(app, cookie), now)
    assert record is not None
    return record.expires


def test_a_read_between_two_touches_sends_no_cookie(store: Store, clock: Clock) -> None:
    app = make_app(store, clock)
    browser = Browser(app)
    browser.get("/login/alice")
    for _ in range(5):
        clock.advance(10)  # well within the 60 s throttle
        response = browser.get("/whoami")
        assert response.get_data(as_text=True) == "alice"
        assert "Set-Cookie" not in response.headers


def test_a_touch_re_sends_the_cookie_with_the_new_expiry_plus_slack(store: Store, clock: Clock) -> None:
    app = make_app(store, clock)
    browser = Browser(app)
    login = browser.get("/login/alice")
    assert browser.cookie
    expiry = cookie_expiry(login)
    assert expiry == pytest.approx(record_expires(store, app, browser.cookie, clock()) + SLACK, abs=1)
    clock.advance(SLACK + 1)  # the expiry would move by more than the throttle: a touch
    response = browser.get("/whoami")
    expiry = cookie_expiry(response)
    assert expiry is not None, "the moved expiry reaches the browser"
    assert record_expires(store, app, browser.cookie, clock()) == pytest.approx(clock() + LIFETIME)
    assert expiry == pytest.approx(clock() + LIFETIME + SLACK, abs=1)
    assert "Vary" in response.headers and "Cookie" in response.headers["Vary"]


def test_the_cookie_never_dies_in_the_browser_before_the_record(store: Store, clock: Clock) -> None:
    """Reads at random intervals: after each, the browser's cookie (the last
    one received) expires no earlier than the record the server keeps."""
    rng = random.Random(16)
    app = make_app(store, clock)
    browser = Browser(app)
    browser_expiry = cookie_expiry(browser.get("/login/alice"))
    sent = 0
    for _ in range(60):
        clock.advance(rng.uniform(0, 2 * SLACK))
        response = browser.get("/whoami")
        assert response.get_data(as_text=True) == "alice"
        if (moved := cookie_expiry(response)) is not None:
            browser_expiry, sent = moved, sent + 1
        assert browser_expiry is not None and browser.cookie
        server = record_expires(store, app, browser.cookie, clock())
        assert browser_expiry >= server, "the browser would drop a live session"
        assert browser_expiry <= server + SLACK + 1, "at most the slack beyond the record"
    assert 0 < sent < 60, "re-sent when the expiry moved, not on every read"


def test_the_cookie_stops_at_the_absolute_lifetime(store: Store, clock: Clock) -> None:
    """No touch can move the record past ``STRONGBOX_ABSOLUTE_LIFETIME``, so
    the cookie gets no slack beyond it."""
    app = make_app(store, clock, STRONGBOX_ABSOLUTE_LIFETIME=LIFETIME + 30)
    browser = Browser(app)
    created = clock()
    expiry = cookie_expiry(browser.get("/login/alice"))
    assert expiry == pytest.approx(created + LIFETIME + 30, abs=1)  # not + 60
    for _ in range(11):  # reads every 50 s keep it alive
        clock.advance(50)
        response = browser.get("/whoami")
        assert response.get_data(as_text=True) == "alice"
        assert cookie_expiry(response) in (None, pytest.approx(created + LIFETIME + 30, abs=1))
    clock.advance(LIFETIME + 31 - 11 * 50)
    assert browser.get("/whoami").get_data(as_text=True) == "None", "it ended with its cookie"


def test_a_write_sends_the_cookie_with_slack(store: Store, clock: Clock) -> None:
    app = make_app(store, clock)
    browser = Browser(app)
    browser.get("/login/alice")
    clock.advance(5)
    response = browser.get("/put/1")
    assert cookie_expiry(response) == pytest.approx(clock() + LIFETIME + SLACK, abs=1)


def test_session_modified_re_sends_the_cookie_between_touches(store: Store, clock: Clock) -> None:
    """Flask's way to push changed ``SESSION_COOKIE_*`` settings still works."""
    app = make_app(store, clock)
    browser = Browser(app)
    browser.get("/login/alice")
    clock.advance(5)
    app.config["SESSION_COOKIE_SAMESITE"] = "Strict"
    response = browser.get("/resend")
    assert set_cookie(response) == browser.cookie
    assert "SameSite=Strict" in response.headers["Set-Cookie"]
    assert cookie_expiry(response) is not None


def test_a_non_permanent_session_cookie_is_sent_once(store: Store, clock: Clock) -> None:
    """A browser-session cookie has no expiry to move: touches send nothing."""
    app = make_app(store, clock, STRONGBOX_IDLE_TIMEOUT=LIFETIME)
    browser = Browser(app)
    assert set_cookie(browser.get("/guest/bob")) is not None
    for _ in range(3):
        clock.advance(SLACK + 1)
        response = browser.get("/whoami")
        assert response.get_data(as_text=True) == "bob"
        assert "Set-Cookie" not in response.headers


def test_without_refresh_each_request_reads_never_send_the_cookie(store: Store, clock: Clock) -> None:
    """``SESSION_REFRESH_EACH_REQUEST = False``: a permanent session keeps the
    expiry of its last write, in the record and in the browser."""
    app = make_app(store, clock, SESSION_REFRESH_EACH_REQUEST=False)
    browser = Browser(app)
    expiry = cookie_expiry(browser.get("/login/alice"))
    assert browser.cookie
    before = record_expires(store, app, browser.cookie, clock())
    for _ in range(3):
        clock.advance(SLACK + 1)
        response = browser.get("/whoami")
        assert "Set-Cookie" not in response.headers
    assert record_expires(store, app, browser.cookie, clock()) == before
    assert expiry is not None and expiry >= before
    clock.advance(timedelta(minutes=1).total_seconds())
    assert cookie_expiry(browser.get("/put/2")) == pytest.approx(clock() + LIFETIME + SLACK, abs=1)
