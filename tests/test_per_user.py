"""The per-user API: ``Strongbox.sessions_of``, ``revoke``, ``revoke_user``,
the per-user cap, and the identity index following login, logout and switch."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_strongbox.stores.base import Store
from flask_strongbox.stores.sqlite import SQLiteStore

from .apps import (
    CHROME_LINUX,
    FIREFOX_LINUX,
    Browser,
    Clock,
    extension,
    make_app,
    no_ids_in_logs,
    race,
    set_cookie,
    store_key,
)
from .conftest import DEFAULTS

pytestmark = pytest.mark.usefixtures(no_ids_in_logs.__name__)

IDLE = DEFAULTS.idle_timeout.total_seconds()


@pytest.fixture
def app(store: Store, clock: Clock) -> Flask:
    return make_app(store, clock, STRONGBOX_DEVICE_HINTS=True)


def login(app: Flask, name: str, user_agent: str | None = None) -> Browser:
    browser = Browser(app, user_agent=user_agent)
    assert browser.get(f"/login/{name}").status_code == 200
    assert browser.cookie
    return browser


def listed(browser: Browser) -> list[dict[str, Any]]:
    response = browser.get("/sessions")
    assert response.status_code == 200, response.data
    sessions: list[dict[str, Any]] = response.json  # type: ignore[assignment]
    return sessions


def handles_of(app: Flask, user: str) -> list[str]:
    with app.test_request_context():
        return [info.handle for info in extension(app).sessions_of(user)]


def logged_out(browser: Browser) -> bool:
    """Whether the browser's next request finds no session and clears its cookie."""
    response = browser.get("/incr")
    return response.status_code == 401 and set_cookie(response) == ""


def test_sessions_of_lists_each_session_with_times_device_and_current(app: Flask, clock: Clock) -> None:
    start = clock()
    firefox = login(app, "alice", FIREFOX_LINUX)
    clock.advance(10)
    chrome = login(app, "alice", CHROME_LINUX)
    login(app, "bob", FIREFOX_LINUX)
    clock.advance(5)

    sessions = listed(firefox)
    assert [s["device"] for s in sessions] == ["Firefox on Linux", "Chrome on Linux"]  # oldest first
    assert [s["current"] for s in sessions] == [True, False]
    assert [s["handle"] for s in sessions] == [store_key(app, firefox.cookie), store_key(app, chrome.cookie)]
    first, second = sessions
    assert first["created"] == pytest.approx(start, abs=1e-3)
    assert second["created"] == pytest.approx(start + 10, abs=1e-3)
    assert second["last_seen"] == pytest.approx(start + 10, abs=1e-3)
    assert second["expires"] == pytest.approx(start + 10 + IDLE, abs=1e-3)
    assert [s["current"] for s in listed(chrome)] == [False, True]
    # A handle is not a cookie: presenting one gets no session.
    assert all(s["handle"] not in (firefox.cookie, chrome.cookie) for s in sessions)
    assert Browser(app, first["handle"]).get("/dump").json == {}

    # Outside a request nothing is current.
    with app.app_context():
        infos = extension(app).sessions_of("alice")
    assert [i.current for i in infos] == [False, False]
    assert infos[0].created.tzinfo is not None


def test_no_device_hint_unless_the_app_opts_in(store: Store, clock: Clock) -> None:
    app = make_app(store, clock)
    browser = login(app, "alice", FIREFOX_LINUX)
    assert [s["device"] for s in listed(browser)] == [None]


def test_revoking_one_session_logs_that_client_out_on_its_next_request(app: Flask) -> None:
    phone = login(app, "alice", CHROME_LINUX)
    laptop = login(app, "alice", FIREFOX_LINUX)
    phone_handle = next(s["handle"] for s in listed(laptop) if not s["current"])
    assert laptop.get(f"/revoke/{phone_handle}").json is True
    assert logged_out(phone)
    assert laptop.get("/incr").status_code == 200
    assert [s["current"] for s in listed(laptop)] == [True]
    # Revoking it again finds nothing.
    assert laptop.get(f"/revoke/{phone_handle}").json is False


def test_revoke_with_the_wrong_user_removes_nothing(app: Flask) -> None:
    alice = login(app, "alice")
    bob = login(app, "bob")
    alice_handle = listed(alice)[0]["handle"]
    assert bob.get(f"/revoke/{alice_handle}").json is False
    assert alice.get("/incr").status_code == 200
    assert handles_of(app, "alice") == [alice_handle]
    with app.app_context():
        assert extension(app).revoke(alice_handle, user="mallory") is False
        assert extension(app).revoke("0" * 64) is False
        assert handles_of(app, "alice") == [alice_handle]
        assert extension(app).revoke(alice_handle) is True  # an operator, no user given
    assert logged_out(alice)


def test_revocation_reaches_another_process(tmp_path: Path, clock: Clock) -> None:
    """Two app instances with their own store objects on one SQLite file stand
    for two worker processes."""
    path = tmp_path / "shared.sqlite3"
    first = make_app(SQLiteStore(path), clock)
    second = make_app(SQLiteStore(path), clock)
    here = login(first, "alice")
    clock.advance(1)
    there = login(second, "alice")
    assert there.get("/incr").status_code == 200
    sessions = listed(here)
    assert [s["current"] for s in sessions] == [True, False]
    assert here.get(f"/revoke/{sessions[1]['handle']}").json is True
    assert logged_out(there)
    # And the other way round: the second process signs the first out.
    there = login(second, "alice")
    assert there.get("/revoke-others").json == 1
    assert logged_out(here)
    assert there.get("/incr").status_code == 200


def test_revoke_user_keeping_the_current_session(app: Flask) -> None:
    browsers = [login(app, "alice") for _ in range(3)]
    bob = login(app, "bob")
    keeper = browsers[1]
    assert keeper.get("/revoke-others").json == 2
    assert logged_out(browsers[0]) and logged_out(browsers[2])
    assert keeper.get("/incr").status_code == 200
    assert [s["current"] for s in listed(keeper)] == [True]
    assert bob.get("/incr").status_code == 200  # other users untouched


def test_revoke_user_without_keeping_ends_every_session(app: Flask) -> None:
    browsers = [login(app, "alice") for _ in range(3)]
    bob = login(app, "bob")
    with app.test_request_context():
        assert extension(app).revoke_user("alice") == 3
        assert extension(app).revoke_user("alice") == 0
        assert extension(app).revoke_user("nobody") == 0
    assert all(logged_out(b) for b in browsers)
    assert handles_of(app, "alice") == []
    assert handles_of(app, "bob") == [store_key(app, bob.cookie)]


def test_the_cap_revokes_the_oldest_sessions_first(store: Store, clock: Clock) -> None:
    app = make_app(store, clock, STRONGBOX_MAX_SESSIONS_PER_USER=2)
    browsers = []
    for _ in range(4):
        browsers.append(login(app, "alice"))
        clock.advance(1)
    bob = login(app, "bob")
    assert logged_out(browsers[0]) and logged_out(browsers[1])
    assert handles_of(app, "alice") == [store_key(app, b.cookie) for b in browsers[2:]]
    assert all(b.get("/incr").status_code == 200 for b in browsers[2:])
    assert bob.get("/incr").status_code == 200


def test_the_cap_of_one_keeps_only_the_newest(store: Store, clock: Clock) -> None:
    app = make_app(store, clock, STRONGBOX_MAX_SESSIONS_PER_USER=1)
    old = login(app, "alice")
    clock.advance(1)
    new = login(app, "alice")
    assert logged_out(old)
    assert new.get("/incr").status_code == 200
    assert handles_of(app, "alice") == [store_key(app, new.cookie)]


class MeetInSessionsOf:
    """A store wrapper that, when armed, makes racing ``sessions_of`` calls
    meet before and after reading: both logins have created their record
    before either lists, and both have listed before either revokes."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.name = inner.name
        self.barrier: threading.Barrier | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def sessions_of(self, user: str, now: float) -> Any:
        barrier = self.barrier
        if barrier is not None:
            barrier.wait(10)
        found = self.inner.sessions_of(user, now)
        if barrier is not None:
            barrier.wait(10)
        return found


def test_the_cap_survives_two_logins_at_once(store: Store, clock: Clock) -> None:
    """Cap 1, two logins racing: each sees both new sessions. One must stay:
    revoking each other's would sign both out."""
    for _ in range(10):
        spy = MeetInSessionsOf(store)
        app = make_app(spy, clock, STRONGBOX_MAX_SESSIONS_PER_USER=1)  # type: ignore[arg-type]
        browsers = [Browser(app), Browser(app)]
        spy.barrier = threading.Barrier(2)
        race(*(lambda b=b: b.get("/login/carol") for b in browsers))
        spy.barrier = None
        alive = [b for b in browsers if not logged_out(b)]
        assert len(alive) == 1
        assert handles_of(app, "carol") == [store_key(app, alive[0].cookie)]
        clock.advance(1)


def test_the_index_follows_login_logout_and_user_switch(app: Flask) -> None:
    browser = Browser(app)
    browser.get("/set/theme/dark")  # an anonymous session is nobody's
    anonymous = store_key(app, browser.cookie)
    assert handles_of(app, "alice") == []
    browser.get("/login/alice")
    as_alice = store_key(app, browser.cookie)
    assert as_alice != anonymous  # login rotated the id
    assert handles_of(app, "alice") == [as_alice]
    browser.get("/login/bob")  # the same browser switches user
    as_bob = store_key(app, browser.cookie)
    assert as_bob != as_alice
    assert handles_of(app, "alice") == []
    assert handles_of(app, "bob") == [as_bob]
    assert browser.get("/dump").json == {"theme": "dark", "user": "bob"}
    browser.get("/logout")
    assert handles_of(app, "bob") == []


def test_expired_sessions_are_not_listed(app: Flask, clock: Clock) -> None:
    stale = login(app, "alice")
    clock.advance(IDLE / 2)
    fresh = login(app, "alice")
    assert len(handles_of(app, "alice")) == 2
    clock.advance(IDLE / 2 + 1)  # the first is past its idle timeout
    assert handles_of(app, "alice") == [store_key(app, fresh.cookie)]
    assert [s["current"] for s in listed(fresh)] == [True]
    clock.advance(IDLE + 1)
    assert handles_of(app, "alice") == []
    assert logged_out(stale)
