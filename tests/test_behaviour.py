"""Session behaviour a Flask developer relies on, on every store."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask, flash, get_flashed_messages, session
from markupsafe import Markup

from flask_strongbox import Strongbox
from flask_strongbox.stores.base import Store
from flask_strongbox.testing import Clock

from .conftest import DEFAULTS, OLD_SECRET, SECRET
from .cookies import set_cookies
from .doubles import CountingStore


def make_app(store: Any, clock: Clock, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update({"SECRET_KEY": SECRET, "TESTING": True, **config})
    Strongbox(app, store=store, clock=clock)

    @app.route("/put", methods=["POST"])
    def put() -> str:
        from flask import request

        for name, value in request.get_json().items():
            session[name] = value
        return "ok"

    @app.route("/get/<name>")
    def get(name: str) -> Any:
        return {"value": repr(session.get(name))}

    @app.route("/append/<item>")
    def append(item: str) -> str:
        session["cart"].append(item)  # nested mutation, no session.modified
        return "ok"

    @app.route("/regenerate")
    def regenerate() -> str:
        session.regenerate()  # type: ignore[attr-defined]
        return "ok"

    @app.route("/clear")
    def clear() -> str:
        session.clear()
        return "ok"

    return app


@pytest.fixture
def app(store: Store, clock: Clock) -> Flask:
    return make_app(CountingStore(store), clock)


def spy(app: Flask) -> Any:
    return app.session_interface.store  # type: ignore[attr-defined]


VALUES: list[Any] = [
    "text", "ünïcode ✓", 42, 2**70, 3.5, True, False, None, [1, "two", [3]], {"a": {"b": [1]}},
    (1, "tuple"), b"\x00\xffbytes", Markup("<b>safe</b>"), uuid.UUID(int=7),
    datetime(2026, 11, 27, 12, 30, 5, tzinfo=timezone.utc), {" t": "looks like a tag"},
]


def test_values_flask_accepts_round_trip_unchanged(app: Flask) -> None:
    @app.route("/store-all")
    def store_all() -> str:
        for i, value in enumerate(VALUES):
            session[f"v{i}"] = value
        return "ok"

    @app.route("/check-all")
    def check_all() -> Any:
        return {"same": [session[f"v{i}"] == v and type(session[f"v{i}"]) is type(v)
                         for i, v in enumerate(VALUES)]}

    client = app.test_client()
    client.get("/store-all")
    assert client.get("/check-all").json == {"same": [True] * len(VALUES)}


def test_flash_messages_survive_the_redirect(app: Flask) -> None:
    @app.route("/flash")
    def do_flash() -> str:
        flash("You are logged in", "info")
        return "ok"

    @app.route("/show")
    def show() -> Any:
        return {"messages": get_flashed_messages(with_categories=True)}

    client = app.test_client()
    client.get("/flash")
    assert client.get("/show").json == {"messages": [["info", "You are logged in"]]}
    assert client.get("/show").json == {"messages": []}


def test_unstorable_value_raises_type_error_naming_the_key_and_keeps_stored_data(app: Flask) -> None:
    @app.route("/bad")
    def bad() -> str:
        session["when"] = object()
        return "unreachable"

    client = app.test_client()
    client.post("/put", json={"keep": "me"})
    with pytest.raises(TypeError, match=r"session\['when'\]"):
        client.get("/bad")
    assert client.get("/get/keep").json == {"value": "'me'"}


def test_nested_mutation_is_saved_without_modified_flag(app: Flask) -> None:
    client = app.test_client()
    client.post("/put", json={"cart": []})
    client.get("/append/apple")
    client.get("/append/pear")
    assert client.get("/get/cart").json == {"value": "['apple', 'pear']"}


def test_regenerate_gives_a_new_id_with_the_same_data_and_drops_the_old(app: Flask) -> None:
    client = app.test_client()
    client.post("/put", json={"n": 1})
    old = client.get_cookie("session")
    assert old is not None
    client.get("/regenerate")
    new = client.get_cookie("session")
    assert new is not None and new.value != old.value
    assert client.get("/get/n").json == {"value": "1"}
    stale = app.test_client()
    stale.set_cookie("session", old.value)
    assert stale.get("/get/n").json == {"value": "None"}


@pytest.mark.parametrize("identity_key", ["user", "_user_id"])
def test_a_change_of_identity_rotates_the_id(app: Flask, identity_key: str) -> None:
    """Works for the tutorial's session["user"] and Flask-Login's _user_id."""
    client = app.test_client()
    client.post("/put", json={"cart": ["x"]})
    anonymous = client.get_cookie("session")
    client.post("/put", json={identity_key: "7"})
    logged_in = client.get_cookie("session")
    assert anonymous is not None and logged_in is not None
    assert anonymous.value != logged_in.value
    assert client.get("/get/cart").json == {"value": "['x']"}
    client.post("/put", json={identity_key: "8"})  # switching users rotates again
    switched = client.get_cookie("session")
    assert switched is not None and switched.value != logged_in.value


def test_emptied_session_clears_the_cookie_with_the_attributes_it_was_set_with(
    store: Store, clock: Clock
) -> None:
    app = make_app(store, clock, SESSION_COOKIE_NAME="sid", SESSION_COOKIE_DOMAIN="example.test",
                   SESSION_COOKIE_PATH="/app", SESSION_COOKIE_SECURE=True,
                   SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_PARTITIONED=True)
    client = app.test_client()
    base = "https://example.test/app"
    attributes = {"domain": "example.test", "path": "/app", "secure": None, "samesite": "Strict",
                  "partitioned": None}
    [written] = set_cookies(client.post("/put", base_url=base, json={"a": 1}), "sid")
    assert written.value and not written.cleared
    assert written.attributes.items() >= {**attributes, "httponly": None}.items()
    [cleared] = set_cookies(client.get("/clear", base_url=base), "sid")
    assert cleared.cleared and cleared.value == ""
    assert cleared.attributes.items() >= attributes.items()
    assert store.stats(clock()).live == 0


def test_non_permanent_session_has_a_server_side_idle_timeout(app: Flask, clock: Clock) -> None:
    client = app.test_client()
    client.post("/put", json={"n": 1})
    set_cookie = client.get_cookie("session")
    assert set_cookie is not None and set_cookie.expires is None  # a browser-session cookie
    idle, minutes = DEFAULTS.idle_timeout, timedelta(minutes=10)
    clock.advance(idle - minutes)
    assert client.get("/get/n").json == {"value": "1"}  # use slides the idle timeout
    clock.advance(idle - minutes)
    assert client.get("/get/n").json == {"value": "1"}
    clock.advance(idle + minutes)
    assert client.get("/get/n").json == {"value": "None"}


def test_absolute_lifetime_is_never_extended_by_sliding(store: Store, clock: Clock) -> None:
    app = make_app(store, clock, STRONGBOX_ABSOLUTE_LIFETIME=timedelta(hours=2))
    client = app.test_client()
    client.post("/put", json={"n": 1})
    for _ in range(3):
        clock.advance(35 * 60)
        assert client.get("/get/n").json == {"value": "1"}
    clock.advance(15 * 60)  # 2 h since creation, used every 35 min, idle only 15 min
    assert client.get("/get/n").json == {"value": "None"}


def test_sliding_expiry_is_a_throttled_touch_not_a_rewrite(app: Flask, clock: Clock) -> None:
    client = app.test_client()
    client.post("/put", json={"n": 1})
    for _ in range(30):
        clock.advance(1)
        client.get("/get/n")
    calls = spy(app).calls
    assert calls["replace"] == 0
    assert calls["touch"] == 0  # 30 s of reads stay inside the touch interval
    clock.advance(DEFAULTS.touch_interval + timedelta(seconds=1))
    client.get("/get/n")
    assert calls["touch"] == 1 and calls["replace"] == 0


def test_permanent_session_without_refresh_keeps_its_expiry(store: Store, clock: Clock) -> None:
    app = make_app(store, clock, SESSION_REFRESH_EACH_REQUEST=False,
                   PERMANENT_SESSION_LIFETIME=timedelta(minutes=5))
    client = app.test_client()
    client.post("/put", json={"_permanent": True, "n": 1})
    clock.advance(4 * 60)
    response = client.get("/get/n")
    assert response.json == {"value": "1"} and "Set-Cookie" not in response.headers
    clock.advance(61)
    assert client.get("/get/n").json == {"value": "None"}


def test_secret_key_rotation_old_sessions_load_and_are_resigned(store: Store, clock: Clock) -> None:
    client = make_app(store, clock, SECRET_KEY=OLD_SECRET).test_client()
    client.post("/put", json={"n": 1})
    old_cookie = client.get_cookie("session")
    assert old_cookie is not None

    rotated = make_app(store, clock, SECRET_KEY_FALLBACKS=[OLD_SECRET])
    client2 = rotated.test_client()
    client2.set_cookie("session", old_cookie.value)
    assert client2.get("/get/n").json == {"value": "1"}
    client2.post("/put", json={"m": 2})  # the next write re-signs and re-seals
    resigned = client2.get_cookie("session")
    assert resigned is not None and resigned.value != old_cookie.value

    only_new = make_app(store, clock)
    client3 = only_new.test_client()
    client3.set_cookie("session", resigned.value)
    assert client3.get("/get/m").json == {"value": "2"}
    client3.set_cookie("session", old_cookie.value)
    assert client3.get("/get/n").json == {"value": "None"}
