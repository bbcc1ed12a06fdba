"""The header transport (``STRONGBOX_HEADER``), on Flask, Quart and FastAPI
alike: the token is exactly the cookie's value; a forged or unknown token is
an anonymous session; a new token comes back in ``Strongbox-Token``; cookies
keep working beside it; off by default."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from flask_strongbox.stores import MemoryStore
from flask_strongbox.testing import Clock as FakeClock
from flask_strongbox.transport import TOKEN_HEADER

from .. import tutorial as tutorial_flask
from . import tutorial_fastapi, tutorial_quart

COOKIE = re.compile(r"session=([A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43});")
Answer = tuple[int, dict[str, str], str]


class Flask:
    def __init__(self, header: str | None, clock: FakeClock) -> None:
        config = {} if header is None else {"STRONGBOX_HEADER": header}
        self.client = tutorial_flask.make_app(MemoryStore(), clock, **config).test_client(use_cookies=False)

    def request(self, method: str, path: str, headers: dict[str, str], form: Any = None) -> Answer:
        response = self.client.open(path, method=method, headers=headers, data=form)
        return response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.text

    def close(self) -> None:
        pass


class Quart:
    def __init__(self, header: str | None, clock: FakeClock) -> None:
        config = {} if header is None else {"STRONGBOX_HEADER": header}
        self.app = tutorial_quart.make_app(MemoryStore(), clock, **config)
        self.loop = asyncio.new_event_loop()
        self.client = self.app.test_client()
        self.client.cookie_jar = None

    def request(self, method: str, path: str, headers: dict[str, str], form: Any = None) -> Answer:
        async def send() -> Answer:
            client: Any = self.client
            response = await client.open(path, method=method, headers=headers, form=form)
            found = {k.lower(): v for k, v in response.headers.items()}
            return response.status_code, found, await response.get_data(as_text=True)

        return self.loop.run_until_complete(send())

    def close(self) -> None:
        self.loop.close()


class FastAPI:
    def __init__(self, header: str | None, clock: FakeClock) -> None:
        settings = {} if header is None else {"header": header}
        app = tutorial_fastapi.make_app(MemoryStore(), clock, **settings)
        self.client = TestClient(app, follow_redirects=False)
        self.client.__enter__()

    def request(self, method: str, path: str, headers: dict[str, str], form: Any = None) -> Answer:
        response = self.client.request(method, path, headers=headers, data=form)
        self.client.cookies.clear()  # an API client keeps no cookies
        return response.status_code, dict(response.headers), response.text

    def close(self) -> None:
        self.client.__exit__(None, None, None)


@pytest.fixture(params=[Flask, Quart, FastAPI], ids=["flask", "quart", "fastapi"])
def app_with(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[Any]:
    made: list[Any] = []

    def build(header: str | None) -> Any:
        made.append(request.param(header, clock))
        return made[-1]

    yield build
    for client in made:
        client.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_bearer_client_logs_in_reads_and_logs_out_by_token(app_with: Any) -> None:
    app = app_with("Authorization")
    _, headers, _ = app.request("POST", "/login", bearer(""), {"nm": "alice"})
    token = headers[TOKEN_HEADER.lower()]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}", token)
    assert "set-cookie" not in headers, "an API client gets its token, not a cookie"
    assert app.request("GET", "/user", bearer(token))[2] == "<h1>alice</h1>"
    assert TOKEN_HEADER.lower() not in app.request("GET", "/user", bearer(token))[1], "no new token on a read"
    _, headers, _ = app.request("GET", "/logout", bearer(token))
    assert headers[TOKEN_HEADER.lower()] == "", "the session ended: the token is void"
    assert app.request("GET", "/user", bearer(token))[0] == 302


def test_a_forged_or_unknown_token_is_an_anonymous_session(app_with: Any) -> None:
    app = app_with("Authorization")
    for token in ("forged", "A" * 43 + "." + "B" * 43, ""):
        assert app.request("GET", "/user", bearer(token))[0] == 302


def test_another_header_carries_the_raw_token_and_a_login_rotates_it(app_with: Any) -> None:
    app = app_with("X-Session-Token")
    first = app.request("POST", "/login", {"X-Session-Token": "-"}, {"nm": "alice"})[1]["strongbox-token"]
    assert app.request("GET", "/user", {"X-Session-Token": first})[2] == "<h1>alice</h1>"
    second = app.request("POST", "/login", {"X-Session-Token": first}, {"nm": "bob"})[1]["strongbox-token"]
    assert second != first, "a new identity rotates the id, and the client learns the new token"
    assert app.request("GET", "/user", {"X-Session-Token": second})[2] == "<h1>bob</h1>"
    assert app.request("GET", "/user", {"X-Session-Token": first})[0] == 302


def test_the_token_is_the_cookie_and_cookies_keep_working_beside_it(app_with: Any) -> None:
    app = app_with("Authorization")
    _, headers, _ = app.request("POST", "/login", {}, {"nm": "alice"})
    cookie = COOKIE.search(headers["set-cookie"])
    assert cookie and TOKEN_HEADER.lower() not in headers, "a browser gets its cookie as before"
    assert app.request("GET", "/user", {"Cookie": f"session={cookie[1]}"})[2] == "<h1>alice</h1>"
    assert app.request("GET", "/user", bearer(cookie[1]))[2] == "<h1>alice</h1>"


def test_the_header_is_ignored_unless_the_transport_is_on(app_with: Any) -> None:
    app = app_with(None)
    _, headers, _ = app.request("POST", "/login", {}, {"nm": "alice"})
    cookie = COOKIE.search(headers["set-cookie"])
    assert cookie
    assert app.request("GET", "/user", bearer(cookie[1]))[0] == 302
