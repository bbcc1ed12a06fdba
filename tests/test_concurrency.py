"""Overlapping requests on one session: no lost updates, no resurrected sessions.

Each racing request runs in its own thread with its own test client, all
carrying the same cookie. A barrier inside the views (``app.config["SYNC"]``)
holds every racer after it loaded the session until all have, so each round
really saves two changes made from one version of the record: the
compare-and-swap conflict path runs every round, on every store.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask

from flask_strongbox import signals
from flask_strongbox.engine import tombstones
from flask_strongbox.stores.base import Store

from .apps import Browser, Clock, Slow, make_app, no_ids_in_logs, race, set_cookie, store_key

pytestmark = pytest.mark.usefixtures(no_ids_in_logs.__name__)

ROUNDS = 30


@pytest.fixture
def app(store: Store, clock: Clock) -> Flask:
    return make_app(store, clock)


def new_session(app: Flask, **data: str) -> str:
    """A fresh logged-in session holding ``data``; its cookie."""
    browser = Browser(app)
    browser.get("/login/alice")
    for key, value in data.items():
        browser.get(f"/set/{key}/{value}")
    assert browser.cookie
    return browser.cookie


def racing(app: Flask, cookie: str, *paths: str) -> list[Any]:
    """Request ``paths`` at once, each from its own client with ``cookie``,
    every view waiting for the others after loading the session."""
    app.config["SYNC"] = threading.Barrier(len(paths))
    try:
        return race(*(lambda p=p: Browser(app, cookie).get(p) for p in paths))
    finally:
        app.config["SYNC"] = None


def dump(app: Flask, cookie: str) -> dict[str, Any]:
    response = Browser(app, cookie).get("/dump")
    assert response.status_code == 200
    data: dict[str, Any] = response.json  # type: ignore[assignment]
    return data


def test_two_requests_setting_different_keys_keep_both(app: Flask) -> None:
    for i in range(ROUNDS):
        cookie = new_session(app)
        first, second = racing(app, cookie, f"/set/a/{i}", f"/set/b/{i}")
        assert (first.status_code, second.status_code) == (200, 200)
        assert dump(app, cookie) == {"user": "alice", "a": str(i), "b": str(i)}, f"round {i}"


def test_deleting_x_while_setting_y_leaves_x_absent_and_y_present(app: Flask) -> None:
    for i in range(ROUNDS):
        cookie = new_session(app, x="1")
        deleted, written = racing(app, cookie, "/del/x", f"/set/y/{i}")
        assert (deleted.status_code, written.status_code) == (200, 200)
        assert dump(app, cookie) == {"user": "alice", "y": str(i)}, f"round {i}"


def test_two_requests_setting_one_key_leave_exactly_one_value(app: Flask) -> None:
    seen = set()
    for i in range(ROUNDS):
        cookie = new_session(app)
        first, second = racing(app, cookie, f"/set/k/first{i}", f"/set/k/second{i}")
        assert (first.status_code, second.status_code) == (200, 200)  # blind writes merge
        data = dump(app, cookie)  # the record still unseals and parses
        assert data.keys() == {"user", "k"}
        assert data["k"] in (f"first{i}", f"second{i}"), f"round {i}: {data}"
        seen.add(data["k"][:-len(str(i))])
    assert seen  # at least one winner each round; either may win


def test_read_modify_write_conflict_is_refused_not_lost(app: Flask) -> None:
    """Both increments read n=0: the second to save would write 1 over 1. It
    answers 503 (Retry-After) and saves nothing, so no acknowledged increment
    is lost."""
    for i in range(ROUNDS):
        cookie = new_session(app)
        responses = racing(app, cookie, "/incr", "/incr")
        codes = sorted(r.status_code for r in responses)
        assert codes == [200, 503], f"round {i}: {codes}"
        refused = next(r for r in responses if r.status_code == 503)
        assert refused.headers["Retry-After"]
        assert set_cookie(refused) is None
        assert dump(app, cookie)["n"] == 1


def test_concurrent_increments_are_all_persisted(app: Flask) -> None:
    threads, each = 8, 25
    cookie = new_session(app)
    values: list[int] = []
    refusals = 0
    lock = threading.Lock()

    def increments() -> None:
        nonlocal refusals
        browser = Browser(app, cookie)
        for _ in range(each):
            for _attempt in range(500):
                response = browser.get("/incr", follow_cookie=False)
                if response.status_code != 503:
                    break
                assert response.headers["Retry-After"]
                with lock:
                    refusals += 1
            assert response.status_code == 200, response.data
            with lock:
                values.append(int(response.data))

    race(*([increments] * threads), timeout=60)
    total = threads * each
    assert dump(app, cookie)["n"] == total  # 100%
    # Every acknowledged increment saw a distinct count: none was applied twice
    # or computed from a stale value and still answered 200.
    assert sorted(values) == list(range(1, total + 1))


def test_logout_beats_a_slow_write_that_loaded_before_it(app: Flask, store: Store, clock: Clock) -> None:
    destroyed: list[str] = []

    def on_destroyed(sender: Flask, handle: str, reason: str) -> None:
        destroyed.append(handle)

    with signals.session_destroyed.connected_to(on_destroyed, sender=app):
        for i in range(ROUNDS):
            cookie = new_session(app)
            assert Browser(app, cookie).get("/incr").status_code == 200
            key = store_key(app, cookie)
            slow = app.config["SYNC"] = Slow()
            try:
                with ThreadPoolExecutor(1) as pool:
                    pending = pool.submit(Browser(app, cookie).get, "/incr?slow=1")
                    assert slow.loaded.wait(10), "the slow request never loaded its session"
                    logout = Browser(app, cookie).get("/logout")
                    assert set_cookie(logout) == ""
                    slow.go.set()
                    late = pending.result(10)
            finally:
                app.config["SYNC"] = None
            assert late.status_code == 200
            assert set_cookie(late) == "", f"round {i}: the slow response must clear the cookie"
            assert store.get(key, clock()) is None, f"round {i}: the session came back"
            after = Browser(app, cookie).get("/incr")
            assert after.status_code == 401
            assert set_cookie(after) == ""
            assert store.get(key, clock()) is None
    assert len(destroyed) == ROUNDS


def test_regenerate_racing_the_old_id_does_not_resurrect_it(app: Flask, store: Store, clock: Clock) -> None:
    for i in range(ROUNDS):
        old = new_session(app, keep="1")
        old_key = store_key(app, old)
        rotated, late = racing(app, old, "/regenerate", f"/set/late/{i}")
        assert rotated.status_code == 200
        new = set_cookie(rotated)
        assert new and new != old
        # The late request either saved first (its change moved to the new id)
        # or found a tombstone and was refused with 503, to be retried with the
        # new cookie: it is never answered 200 for a change it did not save,
        # and it never sets a cookie of its own.
        assert late.status_code in (200, 503)
        assert set_cookie(late) in (None, old)
        data = dump(app, new)
        assert data.get("user") == "alice" and data.get("keep") == "1", f"round {i}: {data}"
        assert data.get("late") == (str(i) if late.status_code == 200 else None), f"round {i}: {data}"
        record = store.get(old_key, clock())
        assert record is None or tombstones.is_tombstone(record), f"round {i}: the old id is live again"
        assert dump(app, old) == {}
        # A write with the old cookie neither brings the old record back nor
        # starts a session whose cookie would replace the new one: it is
        # refused, to be retried with the cookie the browser now holds.
        again = Browser(app, old).get("/set/again/1")
        assert again.status_code == 503 and again.headers.getlist("Retry-After")
        assert set_cookie(again) is None
        record = store.get(old_key, clock())
        assert record is None or tombstones.is_tombstone(record)
        assert "again" not in dump(app, new)
        assert dump(app, new)["user"] == "alice"


class NeverSwaps:
    """A store whose compare-and-swap always loses, as under endless contention."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.name = inner.name
        self.swap = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def replace(self, record: Any, expected_version: int, now: float) -> bool:
        if self.swap:
            return bool(self.inner.replace(record, expected_version, now))
        return False


def test_a_save_that_keeps_losing_gives_up_with_a_clear_503(store: Store, clock: Clock,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    spy = NeverSwaps(store)
    app = make_app(spy, clock, STRONGBOX_SAVE_ATTEMPTS=3, STRONGBOX_RETRY_AFTER=9)  # type: ignore[arg-type]
    cookie = new_session(app, a="1")
    spy.swap = False
    response = Browser(app, cookie).get("/set/a/2")
    assert response.status_code == 503
    assert response.headers.getlist("Retry-After") == ["9"]  # the app's setting, as for an outage
    assert set_cookie(response) is None  # the user stays logged in
    assert "3 compare-and-swap races" in caplog.text
    spy.swap = True
    assert dump(app, cookie)["a"] == "1"
