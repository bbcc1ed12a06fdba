"""The tutorial's login system through the test client: every route, the
redirects between them, flash and notice messages, and output escaping."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

Login = Callable[[FlaskClient, str], TestResponse]


def test_home_page_links_to_login_for_anonymous_visitor(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert 'href="/login"' in response.get_data(as_text=True)


def test_login_form_has_labelled_nm_field(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert '<label for="nm">' in page
    assert 'id="nm" name="nm"' in page
    assert 'method="post"' in page


def test_login_stores_name_and_redirects_to_user_page(client: FlaskClient, login: Login) -> None:
    login(client, "Alice")
    response = client.get("/user")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<h1 class="name">Alice</h1>' in page
    assert ">You are logged in</p>" in page


def test_login_flash_is_shown_once(client: FlaskClient, login: Login) -> None:
    login(client, "Alice")
    assert ">You are logged in</p>" in client.get("/user").get_data(as_text=True)
    assert ">You are logged in</p>" not in client.get("/user").get_data(as_text=True)


def test_login_makes_a_permanent_cookie(client: FlaskClient, login: Login, cookie_name: str) -> None:
    response = login(client, "Alice")
    assert "Set-Cookie" in response.headers
    cookie = client.get_cookie(cookie_name)  # as the test client read the Set-Cookie header
    assert cookie is not None and cookie.value
    assert cookie.expires is not None and cookie.http_only and cookie.same_site == "Lax"


def test_login_page_redirects_to_user_page_when_logged_in(client: FlaskClient, login: Login) -> None:
    login(client, "Alice")
    response = client.get("/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/user"


def test_user_page_without_session_redirects_to_login(client: FlaskClient) -> None:
    response = client.get("/user")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"


def test_logout_post_ends_session_and_redirects_to_login(client: FlaskClient, login: Login) -> None:
    login(client, "Alice")
    response = client.post("/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?notice=logged_out"
    assert "You have been logged out" in client.get("/login?notice=logged_out").get_data(as_text=True)
    assert client.get("/user").headers["Location"].startswith("/login")


def test_logout_deletes_the_session_on_the_server(
    app: Flask, client: FlaskClient, login: Login, cookie_name: str
) -> None:
    """A copy of the cookie taken before logout is worthless afterwards."""
    login(client, "Alice")
    cookie = client.get_cookie(cookie_name)
    assert cookie is not None
    client.post("/logout")
    replay = app.test_client()
    replay.set_cookie(cookie_name, cookie.value)
    response = replay.get("/user")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?notice=expired"


def test_logout_get_shows_confirmation_and_keeps_session(client: FlaskClient, login: Login) -> None:
    login(client, "Alice")
    response = client.get("/logout")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<form method="post" action="/logout"' in page
    assert client.get("/user").status_code == 200


def test_logout_get_when_logged_out_redirects_to_login(client: FlaskClient) -> None:
    response = client.get("/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"


def test_nav_logout_is_a_one_click_post_form(client: FlaskClient, login: Login) -> None:
    login(client, "Alice")
    page = client.get("/").get_data(as_text=True)
    assert '<form method="post" action="/logout">' in page
    assert "Log out</button>" in page


def test_logging_in_as_someone_else_replaces_the_session(
    app: Flask, client: FlaskClient, login: Login, cookie_name: str
) -> None:
    """A new identity gets a new session id; the old cookie no longer works."""
    login(client, "Alice")
    alice_cookie = client.get_cookie(cookie_name)
    assert alice_cookie is not None
    client.post("/login", data={"nm": "Bob"})
    bob_cookie = client.get_cookie(cookie_name)
    assert bob_cookie is not None
    assert bob_cookie.value != alice_cookie.value
    assert '<h1 class="name">Bob</h1>' in client.get("/user").get_data(as_text=True)
    replay = app.test_client()
    replay.set_cookie(cookie_name, alice_cookie.value)
    assert replay.get("/user").status_code == 302


def test_logging_in_again_under_the_same_name_gives_a_new_session_id(
    app: Flask, client: FlaskClient, login: Login, cookie_name: str
) -> None:
    """Every successful login rotates the id (OWASP ASVS V7.2.4), even when
    the identity does not change; the cookie from before opens nothing."""
    login(client, "alice")
    before = client.get_cookie(cookie_name)
    assert before is not None
    login(client, "alice")
    after = client.get_cookie(cookie_name)
    assert after is not None
    assert after.value != before.value
    assert '<h1 class="name">alice</h1>' in client.get("/user").get_data(as_text=True)
    assert client.get("/sessions").get_data(as_text=True).count('<li class="card') == 1
    replay = app.test_client()
    replay.set_cookie(cookie_name, before.value)
    response = replay.get("/user")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?notice=expired"


def test_name_is_trimmed(client: FlaskClient, login: Login) -> None:
    login(client, "  Alice  ")
    assert '<h1 class="name">Alice</h1>' in client.get("/user").get_data(as_text=True)


def test_script_in_name_is_shown_as_text(client: FlaskClient, login: Login) -> None:
    login(client, "<script>alert(1)</script>")
    page = client.get("/user").get_data(as_text=True)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_template_syntax_in_name_stays_literal(client: FlaskClient, login: Login) -> None:
    login(client, "{{7*7}}")
    page = client.get("/user").get_data(as_text=True)
    assert "{{7*7}}" in page
    assert "49" not in page


def test_quotes_in_name_do_not_break_out_of_attributes(client: FlaskClient, login: Login) -> None:
    login(client, '"><img src=x onerror=alert(1)>')
    page = client.get("/sessions").get_data(as_text=True)
    assert "<img" not in page
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page


def test_unknown_notice_is_ignored(client: FlaskClient) -> None:
    page = client.get("/login?notice=%3Cb%3Ehi").get_data(as_text=True)
    assert 'class="notice' not in page
    assert "hi<" not in page


def test_unknown_page_is_404_in_site_layout(client: FlaskClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert "404 Not Found" in response.get_data(as_text=True)


def test_wrong_method_keeps_allow_header(client: FlaskClient) -> None:
    response = client.post("/user")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


def test_stylesheet_is_served_by_the_app(client: FlaskClient) -> None:
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    response.close()


def test_pages_state_the_configured_lifetime(make_app: Callable[..., Flask]) -> None:
    assert "unused for 5 minutes." in make_app().test_client().get("/").get_data(as_text=True)
    app = make_app(PERMANENT_SESSION_LIFETIME=3600)
    assert "unused for 1 hour." in app.test_client().get("/").get_data(as_text=True)
