"""Cross-site request protection, security headers and caching rules."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from strongbox_app.protection import CONTENT_SECURITY_POLICY
from werkzeug.test import TestResponse

Login = Callable[[FlaskClient, str], TestResponse]
NoTrace = Callable[[TestResponse], None]

CROSS_SITE = [
    {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
    {"Sec-Fetch-Site": "same-site", "Origin": "https://evil.localhost"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://localhost.evil.example"},
]
SAME_SITE = [
    {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
    {"Sec-Fetch-Site": "none"},
    {"Origin": "http://localhost"},
    {"Origin": "https://LOCALHOST"},
    {},
]


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_cross_site_login_is_refused_and_stores_nothing(
    client: FlaskClient, anonymous_and_storing_nothing: NoTrace, headers: dict[str, str]
) -> None:
    response = client.post("/login", data={"nm": "Alice"}, headers=headers)
    assert response.status_code == 403
    assert "came from another site" in response.get_data(as_text=True)
    anonymous_and_storing_nothing(response)


@pytest.mark.parametrize("headers", SAME_SITE)
def test_same_origin_or_non_browser_login_is_accepted(client: FlaskClient, headers: dict[str, str]) -> None:
    response = client.post("/login", data={"nm": "Alice"}, headers=headers)
    assert response.status_code == 302


@pytest.mark.parametrize("path", ["/logout", "/sessions/revoke", "/sessions/revoke-others"])
def test_cross_site_post_cannot_change_a_logged_in_session(
    client: FlaskClient, login: Login, path: str
) -> None:
    login(client, "Alice")
    login(client.application.test_client(), "Alice")
    response = client.post(path, data={"handle": "x"}, headers=CROSS_SITE[0])
    assert response.status_code == 403
    assert client.get("/user").status_code == 200
    assert client.get("/sessions").get_data(as_text=True).count("Sign out this session") == 1


def test_cross_site_get_logout_does_not_log_out(client: FlaskClient, login: Login) -> None:
    """What an ``<img src="https://app/logout">`` on another site would send."""
    login(client, "Alice")
    response = client.get(
        "/logout",
        headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image"},
    )
    assert response.status_code == 200
    assert client.get("/user").status_code == 200


def test_anonymous_pages_store_nothing(client: FlaskClient, anonymous_and_storing_nothing: NoTrace) -> None:
    for method, path in [
        ("GET", "/"),
        ("GET", "/login"),
        ("GET", "/login?notice=expired"),
        ("GET", "/user"),
        ("GET", "/sessions"),
        ("GET", "/logout"),
        ("POST", "/logout"),
        ("POST", "/sessions/revoke-others"),
        ("GET", "/nope"),
    ]:
        anonymous_and_storing_nothing(client.open(path, method=method))


@pytest.mark.parametrize(
    "path", ["/", "/login", "/user", "/logout", "/sessions", "/static/style.css", "/nope"]
)
def test_security_headers_on_every_response(client: FlaskClient, login: Login, path: str) -> None:
    login(client, "Alice")
    response = client.get(path)
    response.close()
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_security_headers_on_refused_request(client: FlaskClient) -> None:
    response = client.post("/login", headers=CROSS_SITE[0])
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_content_security_policy_forbids_inline_code_and_framing() -> None:
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("path", ["/", "/login", "/user", "/logout", "/sessions"])
def test_pages_are_not_stored_in_caches(client: FlaskClient, login: Login, path: str) -> None:
    login(client, "Alice")
    assert client.get(path).headers["Cache-Control"] == "no-store"


def test_pages_showing_the_session_vary_on_cookie(client: FlaskClient, login: Login) -> None:
    login(client, "Alice")
    assert "Cookie" in client.get("/user").headers["Vary"]


def test_static_files_may_be_cached(client: FlaskClient) -> None:
    response = client.get("/static/style.css")
    response.close()
    assert response.headers.get("Cache-Control") != "no-store"


def test_static_files_do_not_read_the_session(client: FlaskClient, login: Login) -> None:
    """A stylesheet never shows who is logged in, so a logged-in request for
    it neither varies on the cookie nor refreshes it."""
    login(client, "Alice")
    response = client.get("/static/style.css")
    response.close()
    assert "Cookie" not in response.headers.get("Vary", "")
    assert "Set-Cookie" not in response.headers
