"""Switching a live app from Flask's signed-cookie session to Strongbox with
``STRONGBOX_MIGRATE_FROM = "flask-cookie"``: every user stays logged in.

Each legacy cookie comes from a real Flask app on its own cookie session; the
same app, restarted with ``Strongbox(app)`` and the same ``SECRET_KEY``, must
take it in as a Strongbox session with the same data, answer with an opaque
Strongbox cookie, refuse a replay of the legacy cookie, and ignore legacy
cookies after ``STRONGBOX_MIGRATE_UNTIL``.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask, session
from flask.testing import FlaskClient

from flask_strongbox import ConfigurationError, Strongbox
from flask_strongbox.stores.base import Store
from flask_strongbox.testing import Clock as FakeClock

from .legacy_apps import SECRET, TAGGED, add_views, cookie_app, typed

STRONGBOX_COOKIE = re.compile(r"[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}")


def legacy_cookie(name: str = "ada", app: Flask | None = None) -> str:
    """Log ``name`` in on Flask's own cookie session; the cookie it holds."""
    client = (app or cookie_app()).test_client()
    client.get(f"/login/{name}")
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def switched_app(store: Store, clock: FakeClock, **config: Any) -> Flask:
    """The same app, restarted on Strongbox with migration from Flask's cookie."""
    app = Flask(__name__)
    app.config.update({
        "TESTING": True, "SECRET_KEY": SECRET,
        "STRONGBOX_MIGRATE_FROM": "flask-cookie",
        "STRONGBOX_MIGRATE_UNTIL": datetime.fromtimestamp(clock.now, timezone.utc) + timedelta(days=7),
        **config,
    })
    add_views(app, TAGGED)

    @app.route("/count")
    def count() -> str:
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    @app.route("/static-like")
    def static_like() -> str:
        return "no session used"

    @app.route("/logout")
    def logout() -> str:
        session.clear()
        return "bye"

    app.config["BOX"] = Strongbox(app, store=store, clock=clock)
    return app


def client_with(app: Flask, cookie: str) -> FlaskClient:
    client = app.test_client()
    client.set_cookie("session", cookie)
    return client


def shown(app: Flask, client: FlaskClient) -> dict[str, Any]:
    client.get("/show")
    loaded: dict[str, Any] = app.config["LOADED"].pop()
    return loaded


def session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


@pytest.fixture
def clock() -> FakeClock:
    """The switched app's clock, a little ahead of the real one: the legacy
    cookies are signed by the real clock as the test runs, and Flask refuses
    a cookie signed in the future (30 s covers a slow fixture on a busy machine)."""
    clock = FakeClock()
    clock.advance(30)
    return clock


@pytest.fixture
def app(store: Store, clock: FakeClock) -> Flask:
    return switched_app(store, clock)


def test_logged_in_user_stays_logged_in_with_every_tagged_type_and_an_opaque_cookie(app: Flask) -> None:
    legacy = legacy_cookie("ada")
    client = client_with(app, legacy)

    data = shown(app, client)

    assert data["user"] == "ada"
    assert typed({k: data[k] for k in TAGGED}) == typed(TAGGED)
    assert STRONGBOX_COOKIE.fullmatch(session_cookie(client))
    # From the next request on, the session is Strongbox's alone.
    assert typed(shown(app, client)) == typed(data)


def test_moved_session_is_in_the_per_user_index_and_keeps_flask_permanence(app: Flask) -> None:
    client = client_with(app, legacy_cookie("ada"))
    response = client.get("/static-like")  # moved even by a view that never reads the session

    assert STRONGBOX_COOKIE.fullmatch(session_cookie(client))
    assert "Expires=" in response.headers["Set-Cookie"]  # permanent in Flask, and still
    box: Strongbox = app.config["BOX"]
    with app.test_request_context():
        assert len(box.sessions_of("ada")) == 1
        assert box.revoke_user("ada") == 1
    assert shown(app, client) == {}


def test_replayed_legacy_cookie_gets_no_second_session(app: Flask, store: Store, clock: FakeClock) -> None:
    legacy = legacy_cookie("ada")
    first = client_with(app, legacy)
    assert shown(app, first)["user"] == "ada"
    before = store.stats(clock.now).live

    replay = client_with(app, legacy)
    replayed = shown(app, replay)

    assert replayed == {}
    assert store.stats(clock.now).live == before
    assert shown(app, first)["user"] == "ada"  # the moved session is untouched


def test_replay_is_refused_by_every_app_server_on_the_store(store: Store, clock: FakeClock) -> None:
    legacy = legacy_cookie("ada")
    one, two = switched_app(store, clock), switched_app(store, clock)

    assert shown(one, client_with(one, legacy))["user"] == "ada"
    assert shown(two, client_with(two, legacy)) == {}


def test_replay_with_another_spelling_of_the_signature_is_refused(app: Flask) -> None:
    legacy = legacy_cookie("ada")
    shown(app, client_with(app, legacy))
    # The signature is 20 bytes in 27 base64 characters: the last one's low
    # two bits are padding, so a neighbour character verifies too.
    last = legacy[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    respelled = legacy[:-1] + alphabet[alphabet.index(last) ^ 1]

    assert shown(app, client_with(app, respelled)) == {}


def test_legacy_cookies_are_ignored_after_migrate_until(app: Flask, clock: FakeClock) -> None:
    legacy = legacy_cookie("ada")
    clock.advance(timedelta(days=7).total_seconds() + 1)

    client = client_with(app, legacy)

    assert shown(app, client) == {}
    assert client.get_cookie("session") is not None  # the legacy cookie is left as any unknown one


def test_expired_legacy_cookie_is_not_moved(store: Store, clock: FakeClock) -> None:
    app = switched_app(store, clock, PERMANENT_SESSION_LIFETIME=timedelta(hours=1))
    legacy = legacy_cookie("ada", cookie_app(PERMANENT_SESSION_LIFETIME=timedelta(hours=1)))
    clock.advance(3601)

    assert shown(app, client_with(app, legacy)) == {}


def test_cookie_signed_with_a_fallback_key_is_moved(store: Store, clock: FakeClock) -> None:
    legacy = legacy_cookie("ada")
    app = switched_app(store, clock, SECRET_KEY="n3w-Only-5ecret-Hq2Wm8Rt5Yp1Ln7Vb3Xc9Z",
                       SECRET_KEY_FALLBACKS=[SECRET])

    assert shown(app, client_with(app, legacy))["user"] == "ada"


def test_forged_legacy_cookie_is_a_fresh_session(app: Flask, store: Store, clock: FakeClock) -> None:
    forged = legacy_cookie("ada", cookie_app(SECRET_KEY="an0ther-Apps-5ecret-Kq2Wm8Rt5Yp1Ln7Vb3X"))
    before = store.stats(clock.now).live

    client = client_with(app, forged)

    assert shown(app, client) == {}
    assert store.stats(clock.now).live == before
    assert client.get_cookie("session") is None  # cleared: nothing to keep


def test_empty_legacy_session_writes_nothing(store: Store, clock: FakeClock) -> None:
    legacy_app = cookie_app()

    @legacy_app.route("/permanent-only")
    def permanent_only() -> str:
        session.permanent = True
        return "ok"

    client = legacy_app.test_client()
    client.get("/permanent-only")
    cookie = client.get_cookie("session")
    assert cookie is not None  # Flask keeps {"_permanent": True} in a cookie
    app = switched_app(store, clock)
    before = store.stats(clock.now).live

    switched = client_with(app, cookie.value)
    switched.get("/static-like")

    assert store.stats(clock.now).live == before
    assert switched.get_cookie("session") is None


def test_moved_session_rotates_at_next_login_and_can_be_revoked(app: Flask) -> None:
    client = client_with(app, legacy_cookie("ada"))
    shown(app, client)
    moved = session_cookie(client)

    client.get("/login/bob")

    assert session_cookie(client) != moved
    assert shown(app, client)["user"] == "bob"


def test_view_changes_in_the_moving_request_are_kept(app: Flask) -> None:
    client = client_with(app, legacy_cookie("ada"))

    assert client.get("/count").text == "1"
    assert client.get("/count").text == "2"
    assert shown(app, client)["user"] == "ada"


def test_logout_in_the_moving_request_writes_nothing(app: Flask, store: Store, clock: FakeClock) -> None:
    before = store.stats(clock.now).live
    client = client_with(app, legacy_cookie("ada"))

    client.get("/logout")

    assert store.stats(clock.now).live == before
    assert client.get_cookie("session") is None


def test_concurrent_requests_with_one_legacy_cookie_make_one_session(
    app: Flask, store: Store, clock: FakeClock,
) -> None:
    legacy = legacy_cookie("ada")
    before = store.stats(clock.now).live
    start = threading.Barrier(8)
    answers: list[int] = []

    def request() -> None:
        client = client_with(app, legacy)
        start.wait(10)
        answers.append(client.get("/static-like").status_code)

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    assert answers == [200] * 8
    live = store.stats(clock.now).live - before
    assert live == 2  # one session and its migration marker


def test_pages_without_a_cookie_are_unchanged(app: Flask) -> None:
    client = app.test_client()

    assert client.get("/static-like").headers.get("Set-Cookie") is None
    assert client.get("/count").text == "1"


def test_operator_log_counts_without_ids(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    legacy = legacy_cookie("ada")
    with caplog.at_level(logging.INFO, "flask_strongbox"):
        shown(app, client_with(app, legacy))
        shown(app, client_with(app, legacy))

    text = caplog.text
    assert "flask-cookie session" in text and "migrated" in text and "fresh session" in text
    assert legacy not in text and legacy.rpartition(".")[0] not in text


@pytest.mark.parametrize(("config", "named"), [
    ({"STRONGBOX_MIGRATE_FROM": "flask-cookie"}, "STRONGBOX_MIGRATE_UNTIL is required"),
    ({"STRONGBOX_MIGRATE_FROM": "flask-cookie", "STRONGBOX_MIGRATE_UNTIL": datetime(2030, 1, 1)},
     "timezone-aware"),
    ({"STRONGBOX_MIGRATE_FROM": "django", "STRONGBOX_MIGRATE_UNTIL": "2030-01-01T00:00:00+00:00"},
     "'flask-cookie' or 'flask-session'"),
    ({"STRONGBOX_MIGRATE_FROM": "flask-session", "STRONGBOX_MIGRATE_UNTIL": "2030-01-01T00:00:00Z",
      "STRONGBOX_MIGRATE_STORE": "mongodb://old"}, "not a Flask-Session store"),
    ({"STRONGBOX_MIGRATE_FROM": "flask-cookie", "STRONGBOX_MIGRATE_UNTIL": "next week"}, "ISO 8601"),
])
def test_migration_settings_are_checked_at_start_up(config: dict[str, Any], named: str) -> None:
    app = Flask(__name__)
    app.config.update({"SECRET_KEY": SECRET, "STRONGBOX_STORE": "memory://", **config})

    with pytest.raises(ConfigurationError, match=named):
        Strongbox(app)


def test_migrate_until_may_be_iso_text(clock: FakeClock) -> None:
    from flask_strongbox.stores.memory import MemoryStore

    until = (datetime.fromtimestamp(clock.now, timezone.utc) + timedelta(days=1)).isoformat()
    app = switched_app(MemoryStore(), clock, STRONGBOX_MIGRATE_UNTIL=until)

    assert shown(app, client_with(app, legacy_cookie("ada")))["user"] == "ada"
