"""``flask_strongbox.testing``: what an app's own tests rely on.

The clock moves a session past its timeouts without sleeping; the memory store
keeps sessions for one test; ``server_session`` and ``session_of`` show what
the server holds for a test client, without changing it; Flask's
``session_transaction`` puts data in before a request.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask, session

import flask_strongbox
from flask_strongbox import Strongbox, signals
from flask_strongbox.stores.base import Store
from flask_strongbox.testing import Clock, MemoryStore, server_session, session_of

from .conftest import DEFAULTS, SECRET


def make_app(store: Store, clock: Clock, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update({"SECRET_KEY": SECRET, "TESTING": True, **config})
    app.extensions["strongbox_extension"] = Strongbox(app, store=store, clock=clock)

    @app.post("/login/<user>")
    def login(user: str) -> str:
        session["user"] = user
        return "ok"

    @app.get("/whoami")
    def whoami() -> str:
        return str(session.get("user"))

    @app.post("/logout")
    def logout() -> str:
        session.clear()
        return "ok"

    return app


# -- the clock ---------------------------------------------------------------------


def test_the_clock_starts_at_the_real_time_and_moves_only_when_told() -> None:
    before = time.time()
    clock = Clock()
    assert before <= clock() <= time.time()
    start = clock()
    time.sleep(0.01)
    assert clock() == start
    assert clock.advance(90) == start + 90 == clock()
    assert clock.advance(timedelta(minutes=-1)) == start + 30 == clock()


def test_the_clock_is_set_from_seconds_or_an_aware_datetime_never_a_naive_one() -> None:
    new_year = datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert Clock(new_year)() == new_year.timestamp()
    clock = Clock(1_000.5)
    assert clock() == 1_000.5
    clock.set(new_year)
    assert clock() == new_year.timestamp()
    assert "2030-01-01T00:00:00+00:00" in repr(clock)
    with pytest.raises(ValueError, match="naive datetime"):
        clock.set(datetime(2030, 1, 1))


def test_moving_the_clock_past_the_idle_timeout_ends_the_session(store: Store) -> None:
    """What the clock is for: time passes for Strongbox, not for the test."""
    clock = Clock()
    client = make_app(store, clock).test_client()
    client.post("/login/alice")
    clock.advance(DEFAULTS.idle_timeout - timedelta(seconds=1))
    assert client.get("/whoami").text == "alice"
    clock.advance(DEFAULTS.idle_timeout)
    assert client.get("/whoami").text == "None"


def test_the_memory_store_is_the_package_s() -> None:
    assert MemoryStore is flask_strongbox.MemoryStore


# -- reading a client's session on the server --------------------------------------


def test_session_of_shows_the_data_the_opaque_cookie_hides(store: Store) -> None:
    client = make_app(store, Clock()).test_client()
    assert session_of(client) == {}, "no cookie yet"
    client.post("/login/alice")
    cookie = client.get_cookie("session")
    assert cookie is not None and "alice" not in cookie.value
    assert session_of(client) == {"user": "alice"}
    client.post("/logout")
    assert session_of(client) == {}


def test_server_session_gives_the_record_and_a_handle_that_revokes_it() -> None:
    clock = Clock()
    app = make_app(MemoryStore(), clock)
    client = app.test_client()
    assert server_session(client) is None
    client.post("/login/alice")
    found = server_session(client)
    assert found is not None and found.data == {"user": "alice"}
    assert found.record.created == clock() and found.record.version == 1
    idle = DEFAULTS.idle_timeout.total_seconds()
    assert found.expires == datetime.fromtimestamp(clock() + idle, timezone.utc)
    assert "alice" not in repr(found) and found.handle not in repr(found)
    with app.app_context():
        assert app.extensions["strongbox_extension"].revoke(found.handle)
    assert server_session(client) is None
    assert client.get("/whoami").text == "None"


def test_a_forged_or_expired_cookie_reads_as_no_session() -> None:
    clock = Clock()
    client = make_app(MemoryStore(), clock).test_client()
    client.post("/login/alice")
    good = client.get_cookie("session")
    assert good is not None
    client.set_cookie("session", good.value[:-2] + ("AA" if good.value[-2:] != "AA" else "BB"))
    assert server_session(client) is None
    client.set_cookie("session", good.value)
    assert session_of(client) == {"user": "alice"}
    clock.advance(DEFAULTS.idle_timeout)
    assert server_session(client) is None


def test_reading_changes_nothing_and_tells_no_receiver() -> None:
    """No write, no touch, no lease, no signal: a look at the session is not
    a request, so it cannot change what the test goes on to check."""
    clock, store = Clock(), MemoryStore()
    app = make_app(store, clock, STRONGBOX_EXCLUSIVE=True)
    client = app.test_client()
    client.post("/login/alice")
    before = server_session(client)
    assert before is not None
    heard: list[str] = []

    def hear(sender: object, **extra: Any) -> None:
        heard.append(extra["reason"])

    with signals.session_expired.connected_to(hear, app), signals.session_rejected.connected_to(hear, app):
        clock.advance(DEFAULTS.touch_interval * 2)  # a request now would touch the record
        assert session_of(client) == {"user": "alice"}
        assert store.get(before.handle, clock()) == before.record
        assert store.lock(before.handle, "probe", clock() + 1, clock()), "no lease was left held"
        store.unlock(before.handle, "probe")
        clock.advance(DEFAULTS.idle_timeout)
        assert session_of(client) == {}
    assert heard == []
    assert client.get("/whoami").text == "None"


def test_reading_leaves_the_app_s_metrics_as_they_were() -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    registry = prometheus_client.CollectorRegistry()
    clock = Clock()
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, TESTING=True)
    Strongbox(app, store=MemoryStore(), clock=clock, metrics=registry)
    app.add_url_rule("/login/<user>", view_func=lambda user: session.update(user=user) or "ok")
    client = app.test_client()
    client.get("/login/alice")

    def samples() -> list[tuple[str, object]]:
        return sorted((s.name + repr(s.labels), s.value) for m in registry.collect() for s in m.samples
                      if not s.name.endswith("_created"))

    before = samples()
    assert session_of(client) == {"user": "alice"}
    clock.advance(DEFAULTS.idle_timeout)
    assert session_of(client) == {}
    assert samples() == before


def test_the_cookie_read_is_the_one_a_request_to_the_path_would_carry() -> None:
    app = make_app(MemoryStore(), Clock(), SESSION_COOKIE_PATH="/shop")
    app.add_url_rule("/shop/login/<user>", view_func=app.view_functions["login"], methods=["POST"])
    client = app.test_client()
    client.post("/shop/login/alice")
    assert session_of(client) == {}, "no session cookie is sent to /"
    assert session_of(client, "/shop/cart") == {"user": "alice"}


def test_reading_needs_strongbox_and_a_secret_key() -> None:
    plain = Flask(__name__)
    plain.secret_key = SECRET
    with pytest.raises(RuntimeError, match="Strongbox is not installed"):
        session_of(plain.test_client())
    keyless = make_app(MemoryStore(), Clock(), SECRET_KEY=None)
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        session_of(keyless.test_client())


# -- putting data in before a request ----------------------------------------------


def test_flask_s_session_transaction_writes_through_strongbox(store: Store) -> None:
    """Flask's own test helper saves server-side like a request, so a test
    can log a user in without going through the login form."""
    client = make_app(store, Clock()).test_client()
    with client.session_transaction() as prepared:
        prepared["user"] = "bob"
    cookie = client.get_cookie("session")
    assert cookie is not None and "bob" not in cookie.value
    assert client.get("/whoami").text == "bob"
    assert session_of(client) == {"user": "bob"}
    with client.session_transaction() as prepared:
        assert prepared["user"] == "bob"
        prepared.clear()
    assert client.get("/whoami").text == "None" and server_session(client) is None
