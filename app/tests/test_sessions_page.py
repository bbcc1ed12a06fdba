"""The "Your sessions" page and session expiry, with a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from strongbox_app import DEFAULTS
from werkzeug.test import TestResponse

from flask_strongbox.testing import Clock

Login = Callable[[FlaskClient, str], TestResponse]
Handles = Callable[[FlaskClient], list[str]]

#: The app's session lifetime (five minutes), by its name in the app's defaults.
LIFETIME: timedelta = DEFAULTS["PERMANENT_SESSION_LIFETIME"]
SECOND = timedelta(seconds=1)

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def browser_client(app: Flask, user_agent: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    return client


def test_sessions_page_requires_login(client: FlaskClient) -> None:
    response = client.get("/sessions")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"


def test_sessions_page_lists_every_login_of_the_user(app: Flask, login: Login, handles_on: Handles) -> None:
    laptop, phone, other = (
        browser_client(app, FIREFOX),
        browser_client(app, IPHONE),
        app.test_client(),
    )
    login(laptop, "Alice")
    login(phone, "Alice")
    login(other, "Bob")
    page = laptop.get("/sessions").get_data(as_text=True)
    assert page.count('<li class="card') == 2
    assert page.count("This session") == 1
    assert page.count("Sign out this session") == 1
    assert "Sign out all other sessions" in page
    assert "Firefox on Linux" in page
    assert "Safari on iPhone" in page
    assert len(handles_on(phone)) == 1
    assert len(handles_on(other)) == 0


def test_sessions_page_shows_device_hints_escaped(app: Flask, login: Login) -> None:
    evil = browser_client(app, "<script>alert(1)</script> " + FIREFOX)
    login(evil, "Alice")
    page = evil.get("/sessions").get_data(as_text=True)
    assert "<script>alert" not in page
    assert 'class="device"' in page


def test_revoking_a_session_logs_that_client_out(app: Flask, login: Login, handles_on: Handles) -> None:
    laptop, phone = browser_client(app, FIREFOX), browser_client(app, IPHONE)
    login(laptop, "Alice")
    login(phone, "Alice")
    [phone_handle] = handles_on(laptop)
    response = laptop.post("/sessions/revoke", data={"handle": phone_handle})
    assert response.status_code == 302
    assert response.headers["Location"] == "/sessions"
    assert "Signed out that session." in laptop.get("/sessions").get_data(as_text=True)
    assert laptop.get("/user").status_code == 200
    response = phone.get("/user")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?notice=expired"
    assert handles_on(laptop) == []


def test_revoking_the_current_session_logs_out_here(app: Flask, login: Login, handles_on: Handles) -> None:
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, "Alice")
    login(phone, "Alice")
    [laptop_handle] = handles_on(phone)
    response = laptop.post("/sessions/revoke", data={"handle": laptop_handle})
    assert response.headers["Location"] == "/login?notice=logged_out"
    assert laptop.get("/user").headers["Location"].startswith("/login")
    assert phone.get("/user").status_code == 200
    assert handles_on(phone) == []


def test_cannot_revoke_another_users_session(app: Flask, login: Login, handles_on: Handles) -> None:
    alice, bob, bob_phone = app.test_client(), app.test_client(), app.test_client()
    login(alice, "Alice")
    login(bob, "Bob")
    login(bob_phone, "Bob")
    [bob_phone_handle] = handles_on(bob)
    alice.post("/sessions/revoke", data={"handle": bob_phone_handle})
    assert "That session had already ended." in alice.get("/sessions").get_data(as_text=True)
    assert bob_phone.get("/user").status_code == 200


def test_revoking_unknown_or_missing_handle_changes_nothing(client: FlaskClient, login: Login) -> None:
    login(client, "Alice")
    for data in ({"handle": "not-a-handle"}, {}):
        assert client.post("/sessions/revoke", data=data).status_code == 302
        assert client.get("/user").status_code == 200


def test_current_session_row_offers_log_out_instead_of_revoke(
    client: FlaskClient, login: Login, handles_on: Handles
) -> None:
    login(client, "Alice")
    page = client.get("/sessions").get_data(as_text=True)
    assert "Log out here" in page
    assert "Sign out all other sessions" not in page
    assert handles_on(client) == []


def test_sign_out_all_others_keeps_the_current_session(app: Flask, login: Login, handles_on: Handles) -> None:
    clients = [app.test_client() for _ in range(3)]
    for each in clients:
        login(each, "Alice")
    bob = app.test_client()
    login(bob, "Bob")
    current, *others = clients
    response = current.post("/sessions/revoke-others")
    assert response.headers["Location"] == "/sessions"
    page = current.get("/sessions").get_data(as_text=True)
    assert "Signed out 2 other sessions." in page
    assert page.count('<li class="card') == 1
    assert current.get("/user").status_code == 200
    for other in others:
        assert other.get("/user").headers["Location"] == "/login?notice=expired"
    assert bob.get("/user").status_code == 200


def test_session_expires_after_five_idle_minutes(client: FlaskClient, login: Login, clock: Clock) -> None:
    login(client, "Alice")
    clock.advance(LIFETIME + SECOND)
    response = client.get("/user")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?notice=expired"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your session expired, please log in again" in page


def test_login_page_itself_reports_an_expired_session(
    client: FlaskClient, login: Login, clock: Clock
) -> None:
    login(client, "Alice")
    clock.advance(LIFETIME + SECOND)
    page = client.get("/login").get_data(as_text=True)
    assert "Your session expired, please log in again" in page


def test_session_stays_alive_while_used(client: FlaskClient, login: Login, clock: Clock) -> None:
    login(client, "Alice")
    for _ in range(3):
        clock.advance(LIFETIME - timedelta(minutes=1))
        assert client.get("/user").status_code == 200


def test_lifetime_is_configurable(make_app: Callable[..., Flask], login: Login, clock: Clock) -> None:
    app = make_app(PERMANENT_SESSION_LIFETIME=60)
    client = app.test_client()
    login(client, "Alice")
    clock.advance(61)
    assert client.get("/user").headers["Location"] == "/login?notice=expired"
