"""What StrongboxMiddleware adds to Starlette's SessionMiddleware: weak keys
refused, a browser-session cookie with the server's idle timeout, no store
call without a valid cookie, rotation at login, the per-user API, and 503
(never "no session") when the store cannot answer."""

from __future__ import annotations

import re
from typing import Any, cast

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from flask_strongbox import ConfigurationError
from flask_strongbox.starlette import StrongboxMiddleware, strongbox
from flask_strongbox.stores import MemoryStore, Store
from flask_strongbox.testing import Clock as FakeClock

from ..doubles import CountingStore
from ..services import free_port

KEY = "x7Jq2mV9sL4pR8tY1wE6uI3oP5aS0dFgHjKlZ"
COOKIE = re.compile(r"session=([^;]+);")


async def view(request: Request) -> JSONResponse:
    return JSONResponse({"session": request.session})


async def login(request: Request) -> JSONResponse:
    request.session["user"] = (await request.json())["user"]
    return JSONResponse({"ok": True})


async def bump(request: Request) -> JSONResponse:
    request.session["n"] = request.session.get("n", 0) + 1
    return JSONResponse({"n": request.session["n"]})


async def rotate(request: Request) -> JSONResponse:
    strongbox(request).regenerate()
    return JSONResponse({"ok": True})


async def mine(request: Request) -> JSONResponse:
    found = await strongbox(request).sessions_of(request.session["user"])
    return JSONResponse({"handles": [s.handle for s in found], "current": [s.current for s in found]})


async def everywhere_else(request: Request) -> JSONResponse:
    removed = await strongbox(request).revoke_user(request.session["user"], keep_current=True)
    return JSONResponse({"removed": removed})


ROUTES = [
    Route("/", view), Route("/login", login, methods=["POST"]), Route("/bump", bump, methods=["POST"]),
    Route("/rotate", rotate, methods=["POST"]), Route("/mine", mine),
    Route("/everywhere-else", everywhere_else, methods=["POST"]),
]


def make_app(store: Any, *, debug: bool = False, secret_key: str = KEY, **options: Any) -> Starlette:
    return Starlette(debug=debug, routes=ROUTES, middleware=[
        Middleware(StrongboxMiddleware, secret_key=secret_key, store=store, **options)])


def cookie_of(response: Any) -> str:
    found = COOKIE.search(response.headers["set-cookie"])
    assert found
    return found[1]


def test_a_weak_key_is_refused_unless_the_app_runs_in_debug() -> None:
    with TestClient(make_app("memory://", secret_key="hello")) as client, pytest.raises(
        ConfigurationError, match="SECRET_KEY"
    ):
        client.get("/")
    with TestClient(make_app("memory://", secret_key="hello", debug=True)) as client:
        assert client.get("/").json() == {"session": {}}


def test_max_age_none_is_a_browser_session_cookie_ended_by_the_idle_timeout(clock: FakeClock) -> None:
    app = make_app("memory://", max_age=None, clock=clock, idle_timeout=600)
    with TestClient(app) as client:
        response = client.post("/bump")
        assert "max-age" not in response.headers["set-cookie"].lower()
        assert "expires" not in response.headers["set-cookie"].lower()
        clock.advance(500)
        assert client.post("/bump").json() == {"n": 2}
        clock.advance(601)
        assert client.post("/bump").json() == {"n": 1}, "idle for longer than idle_timeout: a new session"


def test_requests_without_a_valid_cookie_never_reach_the_store() -> None:
    counting = CountingStore(MemoryStore())
    app = make_app(counting)
    for cookie in (None, "forged.value", "A" * 43 + "." + "B" * 43):
        with TestClient(app, cookies=None if cookie is None else {"session": cookie}) as client:
            assert client.get("/").json() == {"session": {}}
    assert {m: n for m, n in counting.calls.items() if m != "close"} == {}  # closed at shutdown


def test_a_login_rotates_the_id_and_regenerate_does_on_demand() -> None:
    with TestClient(make_app("memory://")) as client:
        first = cookie_of(client.post("/bump"))
        second = cookie_of(client.post("/login", json={"user": "alice"}))
        assert first != second, "a change of identity gives a new id"
        third = cookie_of(client.post("/rotate"))
        assert third != second
        assert client.get("/").json() == {"session": {"n": 1, "user": "alice"}}
        old = TestClient(client.app, cookies={"session": second})
        assert old.get("/").json() == {"session": {}}, "the rotated-away id is gone"


def test_a_user_lists_their_sessions_and_signs_out_everywhere_else() -> None:
    app = make_app("memory://")
    with TestClient(app) as laptop, TestClient(app) as phone:
        laptop.post("/login", json={"user": "alice"})
        phone.post("/login", json={"user": "alice"})
        listed = laptop.get("/mine").json()
        assert len(listed["handles"]) == 2 and sorted(listed["current"]) == [False, True]
        assert laptop.post("/everywhere-else").json() == {"removed": 1}
        assert phone.get("/").json() == {"session": {}}, "the phone's session was revoked"
        assert laptop.get("/").json() == {"session": {"user": "alice"}}


def test_a_store_that_cannot_answer_is_a_503_never_an_empty_session() -> None:
    with TestClient(make_app("memory://")) as up:
        cookie = cookie_of(up.post("/login", json={"user": "alice"}))
    down = make_app(f"redis://127.0.0.1:{free_port()}/0", store_timeout=0.5)
    with TestClient(down, cookies={"session": cookie}) as client:
        response = client.get("/")
        assert response.status_code == 503 and response.headers["retry-after"] == "2"
        assert "set-cookie" not in response.headers
    with TestClient(down) as client:
        response = client.post("/bump")
        assert response.status_code == 503, "a write that cannot be saved is not a success"
        assert "set-cookie" not in response.headers


def test_exclusive_sessions_serialise_concurrent_requests_of_one_session() -> None:
    import asyncio

    import httpx

    app = make_app("memory://", exclusive=True)

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            first = await client.post("/bump")
            cookie = {"Cookie": f"session={cookie_of(first)}"}
            answers = await asyncio.gather(*(client.post("/bump", headers=cookie) for _ in range(20)))
            assert {a.status_code for a in answers} == {200}
            return sorted(a.json()["n"] for a in answers)

    assert asyncio.run(run()) == list(range(2, 22)), "each request saw the one before it"


def test_any_blocking_store_serves_through_a_thread_pool() -> None:
    from flask_strongbox.aio import ThreadedStore

    store = ThreadedStore(cast(Store, CountingStore(MemoryStore())), max_threads=2)
    with TestClient(make_app(store)) as client:
        client.post("/bump")
        assert client.post("/bump").json() == {"n": 2}
    assert store.sync.calls["create"] == 1  # type: ignore[attr-defined]


def test_the_middleware_takes_every_setting_as_a_typed_keyword() -> None:
    import dataclasses

    from flask_strongbox import Settings
    from flask_strongbox.aio.options import SettingsOptions

    flask_only = {"store", "migrate_from", "migrate_until", "migrate_store", "redis_cache"}
    # The middleware's own secret_key and fallbacks are its keys, as in Starlette's middleware.
    keys = {"secret_key", "secret_key_fallbacks", "secret_key_file"}
    names = {f.name for f in dataclasses.fields(Settings)} - flask_only - keys
    assert set(SettingsOptions.__annotations__) == names
    with pytest.raises(ConfigurationError, match="STRONGBOX_IDLE_TIMEOUT"):
        make_app("memory://", idle_timeout=-1).build_middleware_stack()
