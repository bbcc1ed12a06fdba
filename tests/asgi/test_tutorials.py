"""The tutorial's app on Quart and on FastAPI, end to end, on every store:
the same steps as ``tests/test_tutorial.py`` for the Flask app."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from flask_strongbox.stores.base import Store
from flask_strongbox.testing import Clock as FakeClock

from ..doubles import CountingStore
from . import tutorial_fastapi, tutorial_quart

COOKIE = re.compile(r"session=([A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43});")


class Quart:
    """The Quart app's test client, driven from blocking test code."""

    def __init__(self, store: Any, clock: FakeClock) -> None:
        self.app = tutorial_quart.make_app(store, clock)
        self.loop = asyncio.new_event_loop()
        self.serving = self.app.test_app()  # runs the app's startup and shutdown
        self.loop.run_until_complete(self.serving.startup())
        self.client = self.serving.test_client()

    def get(self, path: str) -> tuple[int, dict[str, str], str]:
        return self.loop.run_until_complete(self._answer(self.client.get(path)))

    def post(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, str], str]:
        return self.loop.run_until_complete(self._answer(self.client.post(path, form=form)))

    async def _answer(self, pending: Any) -> tuple[int, dict[str, str], str]:
        response = await pending
        headers = {k.lower(): v for k, v in response.headers.items()}
        return response.status_code, headers, (await response.get_data()).decode()

    def close(self) -> None:
        self.loop.run_until_complete(self.serving.shutdown())
        self.loop.close()


class FastAPI:
    """The FastAPI app's test client (one event loop for its life)."""

    def __init__(self, store: Any, clock: FakeClock) -> None:
        self.client = TestClient(tutorial_fastapi.make_app(store, clock), follow_redirects=False)
        self.client.__enter__()

    def get(self, path: str) -> tuple[int, dict[str, str], str]:
        return self._answer(self.client.get(path))

    def post(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, str], str]:
        return self._answer(self.client.post(path, data=form))

    def _answer(self, response: Any) -> tuple[int, dict[str, str], str]:
        return response.status_code, dict(response.headers), response.text

    def close(self) -> None:
        self.client.__exit__(None, None, None)


@pytest.fixture(params=[Quart, FastAPI], ids=["quart", "fastapi"])
def make(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[Any]:
    made: list[Any] = []

    def build(store: Any) -> Any:
        made.append(request.param(store, clock))
        return made[-1]

    yield build
    for client in made:
        client.close()


def path_of(location: str) -> str:
    return "/" + location.split("://", 1)[-1].partition("/")[2]


def test_login_shows_the_name_and_logout_ends_the_session(make: Any, store: Store, clock: FakeClock) -> None:
    client = make(store)
    status, headers, _ = client.get("/user")
    assert (status, path_of(headers["location"])) == (302, "/login")
    status, headers, _ = client.post("/login", {"nm": "alice"})
    assert (status, path_of(headers["location"])) == (302, "/user")
    match = COOKIE.search(headers["set-cookie"])
    assert match and "alice" not in headers["set-cookie"], "the cookie is a signed opaque id"
    assert client.get("/user")[2] == "<h1>alice</h1>"
    assert path_of(client.get("/login")[1]["location"]) == "/user"
    assert store.stats(clock()).live == 1
    status, headers, _ = client.get("/logout")
    assert path_of(headers["location"]) == "/login"
    assert store.stats(clock()).live == 0, "logout removed the record"
    assert path_of(client.get("/user")[1]["location"]) == "/login"


def test_the_session_lives_five_minutes_after_its_last_use(make: Any, store: Store, clock: FakeClock) -> None:
    client = make(store)
    client.post("/login", {"nm": "alice"})
    clock.advance(4 * 60)
    assert client.get("/user")[2] == "<h1>alice</h1>"
    clock.advance(4 * 60)
    assert client.get("/user")[2] == "<h1>alice</h1>", "each use slides the expiry"
    clock.advance(5 * 60 + 1)
    assert client.get("/user")[0] == 302, "the server ended it"


def test_reading_the_session_writes_nothing(make: Any, clock: FakeClock) -> None:
    from flask_strongbox.stores import MemoryStore

    counting = CountingStore(MemoryStore())
    client = make(counting)
    client.post("/login", {"nm": "alice"})
    before = dict(counting.calls)
    for _ in range(5):
        # Quart re-sends a permanent session's cookie (SESSION_REFRESH_EACH_REQUEST),
        # as Flask does; the record is not written either way.
        assert client.get("/user")[2] == "<h1>alice</h1>"
    names = ("create", "replace", "touch", "delete")
    writes = {m: counting.calls.get(m, 0) - before.get(m, 0) for m in names}
    assert writes == {"create": 0, "replace": 0, "touch": 0, "delete": 0}


def test_a_login_on_an_existing_session_rotates_its_id(make: Any, store: Store) -> None:
    client = make(store)
    first = COOKIE.search(client.post("/login", {"nm": "alice"})[1]["set-cookie"])
    second = COOKIE.search(client.post("/login", {"nm": "bob"})[1]["set-cookie"])
    assert first and second and first[1] != second[1]
    assert client.get("/user")[2] == "<h1>bob</h1>"
