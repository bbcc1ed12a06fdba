"""The tutorial's app works unchanged on Strongbox, on every store."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from flask_strongbox.engine import tombstones
from flask_strongbox.stores.base import Store
from flask_strongbox.testing import Clock

from .cookies import set_cookie
from .doubles import CountingStore
from .tutorial import make_app

SIGNED_ID = re.compile(r"[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}")


@pytest.fixture
def app(store: Store, clock: Clock) -> Flask:
    return make_app(CountingStore(store), clock)


def login(client: Any, name: str = "alice") -> Any:
    return client.post("/login", data={"nm": name})


def live(app: Flask, clock: Clock) -> int:
    store: Any = app.session_interface.store  # type: ignore[attr-defined]
    return int(store.stats(clock()).live)


def test_login_shows_the_name_and_logout_ends_the_session(app: Flask, clock: Clock) -> None:
    client = app.test_client()
    assert client.get("/user").headers["Location"] == "/login"
    response = login(client)
    assert (response.status_code, response.headers["Location"]) == (302, "/user")
    assert client.get("/user").data == b"<h1>alice</h1>"
    assert client.get("/login").headers["Location"] == "/user"
    assert live(app, clock) == 1
    response = client.get("/logout")
    assert response.headers["Location"] == "/login"
    assert set_cookie(response) == ""
    assert live(app, clock) == 0
    assert client.get("/user").headers["Location"] == "/login"


def test_cookie_holds_only_a_signed_opaque_id(app: Flask) -> None:
    response = login(app.test_client(), "alice-the-user")
    cookie = set_cookie(response)
    assert cookie is not None and SIGNED_ID.fullmatch(cookie), response.headers["Set-Cookie"]
    assert "alice" not in response.headers["Set-Cookie"]


def test_permanent_session_lives_five_minutes_enforced_by_the_server(
    app: Flask, clock: Clock
) -> None:
    client = app.test_client()
    login(client)
    clock.advance(4 * 60)
    assert client.get("/user").status_code == 200  # slides the expiry
    clock.advance(4 * 60)
    assert client.get("/user").status_code == 200
    clock.advance(5 * 60 + 1)
    # The browser would still send the cookie; the server refuses it.
    assert client.get("/user").headers["Location"] == "/login"


def test_login_rotates_the_id_and_deletes_the_anonymous_record(app: Flask, clock: Clock) -> None:
    client = app.test_client()

    @app.route("/remember")
    def remember() -> str:
        from flask import session

        session["theme"] = "dark"
        return "ok"

    before = set_cookie(client.get("/remember"))
    after = set_cookie(login(client))
    assert before and after and before != after
    clock.advance(tombstones.TOMBSTONE_SECONDS + 1)  # past the rotated id's short tombstone
    assert live(app, clock) == 1
    stale = app.test_client()
    stale.set_cookie("session", before)
    assert stale.get("/user").headers["Location"] == "/login"


def test_read_only_requests_write_nothing(app: Flask) -> None:
    client = app.test_client()
    login(client)
    store: Any = app.session_interface.store  # type: ignore[attr-defined]
    writes = store.writes
    for _ in range(20):
        assert client.get("/user").status_code == 200
    assert store.writes == writes
    assert store.calls["replace"] == 0


def test_requests_that_never_touch_the_session_do_no_store_io(app: Flask) -> None:
    client = app.test_client()
    login(client)
    store: Any = app.session_interface.store  # type: ignore[attr-defined]
    calls = sum(store.calls.values())
    response = client.get("/")
    assert sum(store.calls.values()) == calls
    assert "Set-Cookie" not in response.headers


def test_anonymous_visitors_get_no_record_and_no_cookie(app: Flask, clock: Clock) -> None:
    client = app.test_client()
    for path in ("/", "/login", "/user", "/logout"):
        response = client.get(path)
        assert "Set-Cookie" not in response.headers, path
    assert live(app, clock) == 0


def test_vary_cookie_when_a_view_only_checks_membership(app: Flask) -> None:
    response = app.test_client().get("/user")
    assert "Cookie" in response.headers.get("Vary", "")
    assert "Cookie" not in app.test_client().get("/").headers.get("Vary", "")
