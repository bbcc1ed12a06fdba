"""Promises kept at the edges: what a user hits when the settings, the keys or
the stored records are not what the happy path assumes.

Each test names the behaviour it pins; the stores are real (SQLite files, the
machine's Redis and PostgreSQL), the clock is the suite's hand-moved one.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask, Response, session
from flask.globals import _cv_request

from flask_strongbox import ConfigurationError, MemoryStore, Settings, SQLiteStore, Strongbox, ids
from flask_strongbox.keys import Keyring
from flask_strongbox.stores.base import Store
from flask_strongbox.testing import Clock

from . import services
from .apps import Browser, set_cookie, store_key
from .conftest import OLD_SECRET, SECRET
from .cookies import set_cookies
from .doubles import CountingStore


def make_app(store: Any, clock: Clock, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update({"SECRET_KEY": SECRET, "TESTING": True, **config})
    Strongbox(app, store=store, clock=clock)

    @app.route("/login/<name>")
    def login(name: str) -> str:
        session["user"] = name
        session.permanent = True
        return "ok"

    @app.route("/guest/<name>")
    def guest(name: str) -> str:  # a non-permanent session
        session["user"] = name
        return "ok"

    @app.route("/whoami")
    def whoami() -> str:
        return str(session.get("user"))

    @app.route("/plain")
    def plain() -> str:  # never touches the session
        return "plain"

    @app.route("/resend")
    def resend() -> str:
        session.modified = True  # Flask's documented way to force a save
        return "ok"

    @app.route("/logout")
    def logout() -> str:
        session.pop("user", None)
        return "ok"

    return app


def cookie_expiry(response: Any) -> datetime | None:
    return next((cookie.expires for cookie in set_cookies(response) if cookie.expires), None)


# -- fallback keys slide (item 3) ---------------------------------------------------


def test_a_session_under_a_fallback_key_slides_like_one_under_the_current_key(
    store: Store, clock: Clock,
) -> None:
    app = make_app(store, clock, SECRET_KEY=OLD_SECRET, PERMANENT_SESSION_LIFETIME=600)
    browser = Browser(app)
    browser.get("/login/alice")
    old_cookie = browser.cookie
    assert old_cookie
    app.config.update(SECRET_KEY=SECRET, SECRET_KEY_FALLBACKS=[OLD_SECRET])  # the README's rotation
    for _ in range(5):  # 5 x 5 minutes of reading only: well past the 10-minute lifetime
        clock.advance(300)
        response = browser.get("/whoami")
        assert response.get_data(as_text=True) == "alice"
        expiry = cookie_expiry(response)
        assert expiry is not None, "the browser cookie's expiry is refreshed"
        # The record's new expiry, plus the touch throttle (a tenth of 600 s) as slack.
        assert expiry.timestamp() == pytest.approx(clock() + 600 + 60, abs=2)
    # The first read that slid it also moved it to the current key (a
    # rotation finishes by reading): a new cookie, signed and sealed anew.
    assert browser.cookie and browser.cookie != old_cookie
    assert ids.unsign(Keyring(SECRET), browser.cookie) is not None
    record = store.get(store_key(app, browser.cookie), clock())
    assert record is not None and record.expires == pytest.approx(clock() + 600)


# -- shorter lifetimes reach existing sessions (item 4) ------------------------------


def test_a_shortened_permanent_lifetime_applies_to_existing_sessions(store: Store, clock: Clock) -> None:
    app = make_app(store, clock, PERMANENT_SESSION_LIFETIME=timedelta(days=31))
    browser = Browser(app)
    browser.get("/login/alice")
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(minutes=5)  # an incident
    response = browser.get("/whoami")
    assert response.get_data(as_text=True) == "alice"
    expiry = cookie_expiry(response)
    # The new lifetime, plus the touch throttle (a tenth of it) as slack.
    assert expiry is not None and expiry.timestamp() <= clock() + 5 * 60 + 30 + 1
    clock.advance(6 * 60)
    assert browser.get("/whoami").get_data(as_text=True) == "None"


@pytest.mark.parametrize(("route", "setting"), [
    ("/guest/alice", "STRONGBOX_IDLE_TIMEOUT"),
    ("/login/alice", "STRONGBOX_ABSOLUTE_LIFETIME"),
])
def test_a_shortened_strongbox_lifetime_applies_after_a_restart(
    store: Store, clock: Clock, route: str, setting: str,
) -> None:
    """Settings are read at start-up: the app restarted with a shorter one
    applies it to the sessions already stored."""
    before = make_app(store, clock, PERMANENT_SESSION_LIFETIME=timedelta(days=30))
    browser = Browser(before)
    browser.get(route)
    clock.advance(10 * 60)  # within the defaults: an hour idle, 31 days in all
    after = make_app(store, clock, PERMANENT_SESSION_LIFETIME=timedelta(days=30), **{setting: 300})
    browser.client = after.test_client(use_cookies=False)
    assert browser.get("/whoami").get_data(as_text=True) == "None"
    browser.client = before.test_client(use_cookies=False)
    assert browser.get("/whoami").get_data(as_text=True) == "None", "and it stays ended"


def test_an_unchanged_lifetime_leaves_sessions_alone(store: Store, clock: Clock) -> None:
    app = make_app(store, clock, PERMANENT_SESSION_LIFETIME=timedelta(minutes=5))
    browser = Browser(app)
    browser.get("/login/alice")
    clock.advance(4 * 60)
    assert browser.get("/whoami").get_data(as_text=True) == "alice"


# -- activity on pages that never read the session (item 6) --------------------------


def test_activity_on_pages_that_never_read_the_session_slides_it(store: Store, clock: Clock) -> None:
    spy = CountingStore(store)
    app = make_app(spy, clock, PERMANENT_SESSION_LIFETIME=600)
    browser = Browser(app)
    browser.get("/login/alice")
    for _ in range(4):  # 4 x 4 minutes on a page that never reads the session
        clock.advance(240)
        before = spy.calls.copy()
        response = browser.get("/plain")
        assert spy.calls["get"] == before["get"] + 1 and spy.calls["touch"] == before["touch"] + 1
        expiry = cookie_expiry(response)
        assert expiry is not None and expiry.timestamp() == pytest.approx(clock() + 600 + 60, abs=2)
        before = spy.calls.copy()
        assert "Set-Cookie" not in browser.get("/plain").headers
        assert spy.calls == before, "at most one look per session per touch interval"
    assert browser.get("/whoami").get_data(as_text=True) == "alice"


def test_activity_slides_a_non_permanent_session_too(store: Store, clock: Clock) -> None:
    app = make_app(store, clock, STRONGBOX_IDLE_TIMEOUT=600)
    browser = Browser(app)
    browser.get("/guest/alice")
    for _ in range(4):
        clock.advance(240)
        assert "Set-Cookie" not in browser.get("/plain").headers  # a browser-session cookie
    assert browser.get("/whoami").get_data(as_text=True) == "alice"


def test_requests_without_a_valid_cookie_still_do_no_store_io(clock: Clock) -> None:
    spy = CountingStore(MemoryStore())
    app = make_app(spy, clock)
    for cookie in (None, "forged.cookie"):
        Browser(app, cookie).get("/plain")
    assert sum(spy.calls.values()) == 0


def test_an_outage_does_not_fail_a_page_that_never_reads_the_session(clock: Clock) -> None:
    with services.RedisServer() as server:
        app = make_app(None, clock, STRONGBOX_STORE=server.url)
        browser = Browser(app)
        browser.get("/login/alice")
        server.kill()
        clock.advance(600)
        response = browser.get("/plain")
        assert response.status_code == 200 and response.get_data(as_text=True) == "plain"
        assert browser.get("/whoami").status_code == 503


# -- Retry-After exactly once (item 5) -------------------------------------------------


def test_an_outage_503_sends_exactly_one_retry_after(clock: Clock) -> None:
    with services.RedisServer() as server:
        app = make_app(None, clock, STRONGBOX_STORE=server.url, STRONGBOX_RETRY_AFTER=4)

        @app.errorhandler(503)
        def page(error: Any) -> Any:  # an app's own error page, as the reference app has
            return "try later", 503, error.get_headers()

        browser = Browser(app)
        browser.get("/login/alice")
        server.kill()
        for path in ("/whoami", "/login/bob"):  # a failed load, a failed save
            response = browser.get(path, follow_cookie=False)
            assert response.status_code == 503
            assert response.headers.getlist("Retry-After") == ["4"]


# -- Flask's attributes (item 7) -----------------------------------------------------------


def test_keys_and_modes_set_as_flask_class_attributes_are_read() -> None:
    class ConfiguredApp(Flask):
        secret_key = SECRET  # as Flask-WTF's own tests configure their app
        testing = True

    app = ConfiguredApp(__name__)
    Strongbox(app, store=MemoryStore())

    @app.route("/set")
    def set_value() -> str:
        session["x"] = "1"
        return "ok"

    @app.route("/get")
    def get_value() -> str:
        return str(session.get("x"))

    client = app.test_client()
    assert client.get("/set").status_code == 200
    assert client.get("/get").get_data(as_text=True) == "1"


# -- a refused key (item 8) --------------------------------------------------------------


def production_app(secret: Any, tmp_path: Path) -> Flask:
    (tmp_path / "static").mkdir(exist_ok=True)
    (tmp_path / "static" / "style.css").write_text("body {}")
    app = Flask(__name__, static_folder=str(tmp_path / "static"))
    app.config.update(SECRET_KEY=secret)
    Strongbox(app, store=MemoryStore())

    @app.route("/plain")
    def plain() -> str:
        return "plain"

    @app.route("/read")
    def read() -> str:
        return str(session.get("user"))

    @app.route("/write")
    def write() -> str:
        session["user"] = "alice"
        return "written"

    @app.after_request
    def looks(response: Response) -> Response:
        "_remember" in session  # as Flask-Login does on every request
        return response

    return app


def test_a_refused_key_serves_pages_that_only_read_the_session(tmp_path: Path) -> None:
    """As Flask's null session for a missing key: reading sees an empty
    session (so an extension that looks at it on every request, as
    Flask-Login does, takes nothing down), a change fails."""
    app = production_app("changeme-changeme-changeme-changeme", tmp_path)
    client = app.test_client()
    assert client.get("/plain").status_code == 200
    with client.get("/static/style.css") as static:
        assert static.status_code == 200
    assert client.get("/no-such-page").status_code == 404
    read = client.get("/read")
    assert (read.status_code, read.get_data(as_text=True)) == (200, "None")
    assert not read.headers.getlist("Set-Cookie")
    assert client.get("/write").status_code == 500
    assert _cv_request.get(None) is None, "no request context is left pushed"


def test_changing_the_session_under_a_refused_key_names_the_setting(tmp_path: Path) -> None:
    app = production_app("changeme-changeme-changeme-changeme", tmp_path)
    app.config["PROPAGATE_EXCEPTIONS"] = True
    with pytest.raises(ConfigurationError, match=r"^SECRET_KEY looks like words, repeats or a sequence"):
        app.test_client().get("/write")
    assert _cv_request.get(None) is None
    with pytest.raises(ConfigurationError):
        Strongbox().check_config(app)  # and start-up still fails


def test_a_refused_key_is_logged_once_per_app_not_per_request(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    app = production_app("changeme-changeme-changeme-changeme", tmp_path)
    client = app.test_client()
    for _ in range(3):
        client.get("/read")
    refusals = [r for r in caplog.records if "sessions are refused" in r.getMessage()]
    assert len(refusals) == 1 and "SECRET_KEY" in refusals[0].getMessage()


# -- session.modified re-sends the cookie (item 9) ------------------------------------------


def test_session_modified_resends_the_cookie_without_a_store_write(store: Store, clock: Clock) -> None:
    spy = CountingStore(store)
    app = make_app(spy, clock)
    browser = Browser(app)
    browser.get("/guest/alice")  # a browser-session cookie: normally never re-sent
    app.config["SESSION_COOKIE_SAMESITE"] = "Strict"
    writes = spy.writes
    response = browser.get("/resend")
    headers = set_cookies(response)
    assert len(headers) == 1 and headers[0].attributes.get("samesite") == "Strict"
    assert set_cookie(response) == browser.cookie  # the same id
    assert spy.writes == writes


# -- unreadable records (item 12) ------------------------------------------------------------


def plant_bad_metadata(store: Store, key: str) -> None:
    """Put text where a number belongs, as a foreign tool or a bad restore would."""
    if isinstance(store, SQLiteStore):
        conn = sqlite3.connect(store.path)
        with conn:
            conn.execute("UPDATE strongbox_sessions SET expires = 'soon' WHERE key = ?", (key,))
        conn.close()
    else:
        client = redis.Redis.from_url(services.redis_url())
        client.hset(f"{store.prefix}s:{key}", "version", "two")  # type: ignore[attr-defined]
        client.close()


@pytest.fixture(params=["sqlite", "redis"])
def decoding_store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    yield from services.make_store(request.param, tmp_path)


def test_an_unreadable_record_is_a_fresh_session_replaced_on_the_next_write(
    decoding_store: Store, clock: Clock, caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app(decoding_store, clock)
    browser = Browser(app)
    browser.get("/login/alice")
    assert browser.cookie
    old_key = store_key(app, browser.cookie)
    plant_bad_metadata(decoding_store, old_key)
    with caplog.at_level("WARNING", logger="flask_strongbox"):
        response = browser.get("/whoami", follow_cookie=False)
    assert response.status_code == 200 and response.get_data(as_text=True) == "None"
    fingerprint = app.session_interface.keyring(app).fingerprint(old_key)  # type: ignore[attr-defined]
    assert any(fingerprint in r.getMessage() for r in caplog.records)
    assert browser.get("/logout", follow_cookie=False).status_code == 200  # never a 500
    assert browser.get("/login/bob").status_code == 200
    assert decoding_store.get(old_key, clock()) is None  # the bad record is gone
    assert browser.get("/whoami").get_data(as_text=True) == "bob"


# -- purges keep up (item 11) -------------------------------------------------------------------


@pytest.mark.slow
def test_a_purge_takes_the_whole_backlog_off_the_request_thread(tmp_path: Path, clock: Clock) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    threads: list[str] = []
    inner_purge = store.purge

    def purge(now: float, limit: int = 500) -> int:
        threads.append(threading.current_thread().name)
        return inner_purge(now, limit)

    store.purge = purge  # type: ignore[method-assign]
    app = make_app(store, clock, STRONGBOX_PURGE_BATCH=200, STRONGBOX_IDLE_TIMEOUT=60)
    for i in range(1_000):  # far more logins than one batch a minute could purge
        Browser(app).get(f"/guest/user{i}")
    app.session_interface.purger.wait(30)  # type: ignore[attr-defined]
    clock.advance(3600)
    Browser(app).get("/guest/late")  # a write finds the purge due
    app.session_interface.purger.wait(30)  # type: ignore[attr-defined]
    stats = store.stats(clock())
    assert (stats.live, stats.expired) == (1, 0)
    assert threads and threading.main_thread().name not in threads
    assert threading.current_thread().name not in threads


# -- weak keys judged by their random part (item 14) ------------------------------------------


WEAK_LONG = [
    "changeme-changeme-changeme-changeme",
    "secretsecretsecretsecretsecretsecret",
    "please-change-this-secret-key-in-production",
    "your-secret-key-goes-here-replace-me-now",
    "this is my super secret key for production use",
    "MyFlaskAppSecretKeyForProductionUse",
    "ThisIsMyVeryLongAndSecurePassphrase2024!",
    "django-insecure-change-me-please-now-ok",
    "abcdefghijklmnopqrstuvwxyz0123456789",
    "0123456789abcdef0123456789abcdef",
    "qwertyuiopasdfghjklzxcvbnm1234567890",
    "x7Kq!x7Kq!x7Kq!x7Kq!x7Kq!x7Kq!x7Kq!x7Kq!",
]


@pytest.mark.parametrize("secret", WEAK_LONG)
def test_a_long_but_guessable_key_is_refused_in_production(secret: str, tmp_path: Path) -> None:
    assert len(secret) >= 32
    app = production_app(secret, tmp_path)
    app.config["PROPAGATE_EXCEPTIONS"] = True
    with pytest.raises(ConfigurationError, match=r"^SECRET_KEY (looks like words|repeats too few)"):
        app.test_client().get("/write")


def _random_keys() -> list[str | bytes]:
    rng = random.Random(1234)  # fixed, so the test is the same every run
    keys: list[str | bytes] = []
    for _ in range(40):
        keys += [
            rng.getrandbits(128).to_bytes(16, "big").hex(),  # secrets.token_hex(16)
            uuid.UUID(int=rng.getrandbits(128), version=4).hex,
            rng.getrandbits(256).to_bytes(32, "big"),  # os.urandom(32)
        ]
    return keys


@pytest.mark.slow
def test_random_keys_of_32_characters_and_more_are_accepted(tmp_path: Path) -> None:
    for secret in _random_keys():
        app = production_app(secret, tmp_path)
        assert app.test_client().get("/read").status_code == 200, secret


# -- SECRET_KEY_FALLBACKS given as a string (item 15) -------------------------------------------


def test_a_fallback_given_as_a_string_is_one_key(clock: Clock) -> None:
    store = MemoryStore()
    app = make_app(store, clock, SECRET_KEY=OLD_SECRET)
    browser = Browser(app)
    browser.get("/login/alice")
    app.config.update(SECRET_KEY=SECRET, SECRET_KEY_FALLBACKS=OLD_SECRET, TESTING=False)
    assert browser.get("/whoami").get_data(as_text=True) == "alice"


@pytest.mark.parametrize("fallbacks", [42, {"old": OLD_SECRET}])
def test_fallbacks_of_another_type_are_refused_naming_the_setting(fallbacks: Any, clock: Clock) -> None:
    app = make_app(MemoryStore(), clock, SECRET_KEY_FALLBACKS=fallbacks, PROPAGATE_EXCEPTIONS=True)
    with pytest.raises(ConfigurationError, match=r"^SECRET_KEY_FALLBACKS must be a list"):
        app.test_client().get("/login/alice")


# -- nothing secret in a repr (item 16) -----------------------------------------------------------


def test_no_repr_shows_an_id_a_cookie_a_key_or_session_data(clock: Clock) -> None:
    app = make_app(MemoryStore(), clock)
    box = Strongbox()
    settings = Settings.from_config({"STRONGBOX_STORE": "redis://:hunter2-password@127.0.0.1:1/0"})
    browser = Browser(app)
    browser.get("/login/alice-the-secret-name")
    cookie = browser.cookie
    assert cookie
    key = store_key(app, cookie)
    shown: list[str] = []

    with app.test_request_context(headers={"Cookie": f"session={cookie}"}):
        app.preprocess_request()
        session.get("user")
        state = session.state  # type: ignore[attr-defined]
        interface = app.session_interface
        shown.extend(repr(x) for x in (
            session._get_current_object(), state, state.record, state.keyset,  # type: ignore[attr-defined]
            interface, interface.settings, interface.keyring(app), settings,  # type: ignore[attr-defined]
        ))
        shown.extend(repr(info) for info in box.sessions_of("alice-the-secret-name"))
    assert len(shown) == 9
    sid = cookie.split(".")[0]
    forbidden = [cookie, sid, key, "alice-the-secret-name", SECRET, "hunter2-password"]
    for text in shown:
        assert not [f for f in forbidden if f in text], text
