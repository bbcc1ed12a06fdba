"""Overlapping requests of one session, as browsers send them every day:
merged where the outcome is unambiguous, serialised where a route asks for it,
and never answered 2xx for a change that was not saved.

Racing requests carry the same cookie, each from its own client and thread; a
barrier inside the views holds every racer after it loaded the session until
all have, so each round really saves changes made from one version of the
record, on every store.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from flask import Flask, flash, get_flashed_messages, jsonify

from flask_strongbox import SaveConflict, SessionBusy, Strongbox, session, signals
from flask_strongbox.stores.base import Store

from .apps import SECRET, Browser, Clock, race, set_cookie, store_key

ROUNDS = 20


def make_app(store: Store, clock: Clock, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, TESTING=True, **config)
    box = Strongbox(app, store=store, clock=clock)
    app.extensions["box"] = box

    def sync() -> None:
        point = app.config.get("SYNC")
        if isinstance(point, threading.Barrier):
            point.wait(10)

    @app.route("/login/<name>")
    def login(name: str) -> str:
        session.permanent  # loads the session, as a login form's view does
        sync()
        session.clear()
        session["user"] = name
        session.regenerate()
        flash(f"Welcome, {name}")
        return "ok"

    @app.route("/page")
    def page() -> Any:
        session.permanent
        sync()
        return jsonify(get_flashed_messages())

    @app.route("/submit/<item>")
    def submit(item: str) -> str:
        session.permanent
        sync()
        flash(f"saved {item}")
        return "ok"

    @app.route("/cart/<item>/<int:count>")
    def cart(item: str, count: int) -> str:
        session.permanent
        sync()
        session.setdefault("cart", {})[item] = count
        session.modified = True
        return "ok"

    @app.route("/incr")
    def incr() -> str:
        session.permanent
        sync()
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    @app.route("/incr-exclusive")
    @box.exclusive
    def incr_exclusive() -> str:
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    @app.route("/incr-exclusive-held")
    @box.exclusive
    def incr_exclusive_held() -> str:
        session["n"] = session.get("n", 0) + 1
        app.config["HOLD"].wait(10)  # until the test lets it save
        return str(session["n"])

    @app.route("/page-held")
    def page_held() -> str:
        session.permanent
        app.config["HOLD"].wait(10)  # until the test lets it save
        return "ok"

    @app.route("/whoami")
    def whoami() -> Any:
        return jsonify(user=session.get("user"), n=session.get("n"))

    @app.route("/dump")
    def dump() -> Any:
        return jsonify(dict(session))

    return app


@pytest.fixture
def app(store: Store, clock: Clock) -> Flask:
    return make_app(store, clock)


def racing(app: Flask, cookie: str | None, *paths: str) -> list[Any]:
    app.config["SYNC"] = threading.Barrier(len(paths))
    try:
        return race(*(lambda p=p: Browser(app, cookie).get(p) for p in paths))
    finally:
        app.config["SYNC"] = None


def logged_in(app: Flask, name: str = "alice") -> str:
    browser = Browser(app)
    browser.get(f"/login/{name}")
    assert browser.cookie
    return browser.cookie


def dump(app: Flask, cookie: str) -> dict[str, Any]:
    data: dict[str, Any] = Browser(app, cookie).get("/dump").json  # type: ignore[assignment]
    return data


# -- merged, not refused -----------------------------------------------------------------


def test_two_pages_after_login_both_consuming_the_flash_merge(app: Flask) -> None:
    for i in range(ROUNDS):
        cookie = logged_in(app)
        first, second = racing(app, cookie, "/page", "/page")
        assert (first.status_code, second.status_code) == (200, 200), f"round {i}"
        # Both loaded it before either saved, so both show it; it is not left to show again.
        assert first.json == second.json == ["Welcome, alice"]
        assert "_flashes" not in dump(app, cookie)


def test_a_double_clicked_form_that_flashes_keeps_both_messages(app: Flask) -> None:
    for i in range(ROUNDS):
        cookie = logged_in(app)
        Browser(app, cookie).get("/page")  # the login message is shown
        first, second = racing(app, cookie, "/submit/a", "/submit/a")
        assert (first.status_code, second.status_code) == (200, 200), f"round {i}"
        assert Browser(app, cookie).get("/page").json == ["saved a", "saved a"]


def test_a_page_consuming_while_another_flashes_loses_and_repeats_nothing(app: Flask) -> None:
    for i in range(ROUNDS):
        cookie = logged_in(app)
        shown, flashed = racing(app, cookie, "/page", f"/submit/{i}")
        assert (shown.status_code, flashed.status_code) == (200, 200), f"round {i}"
        assert shown.json == ["Welcome, alice"]
        assert Browser(app, cookie).get("/page").json == [f"saved {i}"]  # the new one, once


def test_two_tabs_changing_different_cart_items_keep_both(app: Flask) -> None:
    for i in range(ROUNDS):
        cookie = logged_in(app)
        a, b = racing(app, cookie, f"/cart/a/{i}", f"/cart/b/{i}")
        assert (a.status_code, b.status_code) == (200, 200), f"round {i}"
        assert dump(app, cookie)["cart"] == {"a": i, "b": i}


def test_two_increments_of_one_counter_still_conflict_and_nothing_answered_200_is_lost(
    app: Flask,
) -> None:
    conflicts: list[dict[str, Any]] = []
    receiver = lambda _app, **kw: conflicts.append(kw)  # noqa: E731
    signals.session_conflict.connect(receiver, app)
    cookie = logged_in(app)
    answered = 0
    for i in range(ROUNDS):
        first, second = racing(app, cookie, "/incr", "/incr")
        statuses = sorted((first.status_code, second.status_code))
        assert statuses in ([200, 200], [200, 503]), f"round {i}: {statuses}"
        answered += statuses.count(200)
        for refused in (r for r in (first, second) if r.status_code == 503):
            assert refused.headers.getlist("Retry-After") and set_cookie(refused) is None
    assert Browser(app, cookie).get_json("/whoami")["n"] == answered
    assert conflicts, "a read-modify-write race conflicts"
    assert {c["endpoint"] for c in conflicts} == {"incr"} and {c["reason"] for c in conflicts} == {
        "session['n']"}


# -- rotated cookies ---------------------------------------------------------------------


def test_two_tabs_logging_in_at_once_each_get_a_session_of_their_own(app: Flask) -> None:
    for i in range(ROUNDS):
        shared = logged_in(app, "guest")  # the browser's one cookie, sent by both tabs
        first, second = racing(app, shared, f"/login/alice{i}", f"/login/bob{i}")
        assert (first.status_code, second.status_code) == (200, 200), f"round {i}"
        mine, theirs = set_cookie(first), set_cookie(second)
        assert mine and theirs and mine != theirs
        assert Browser(app, mine).get_json("/whoami")["user"] == f"alice{i}"
        assert Browser(app, theirs).get_json("/whoami")["user"] == f"bob{i}"


def test_a_login_from_an_id_rotated_away_moments_ago_is_its_own(app: Flask) -> None:
    old = logged_in(app, "guest")
    first = Browser(app, old).get("/login/alice")
    late = Browser(app, old).get("/login/bob")  # sent with the old cookie, arrives after
    assert late.status_code == 200
    assert Browser(app, set_cookie(first)).get_json("/whoami")["user"] == "alice"
    assert Browser(app, set_cookie(late)).get_json("/whoami")["user"] == "bob"


def test_a_write_from_an_id_rotated_away_is_refused_never_dropped(app: Flask) -> None:
    old = logged_in(app, "guest")
    new = set_cookie(Browser(app, old).get("/login/alice"))
    assert new
    late = Browser(app, old).get("/cart/x/1")
    assert late.status_code == 503 and late.headers.getlist("Retry-After")
    assert set_cookie(late) is None  # the browser keeps its new cookie
    assert "cart" not in dump(app, new)
    retried = Browser(app, new).get("/cart/x/1")  # the browser's retry carries the new cookie
    assert retried.status_code == 200 and dump(app, new)["cart"] == {"x": 1}


def test_a_page_that_loaded_before_a_login_does_not_keep_the_old_id_alive(app: Flask, clock: Clock) -> None:
    """A page loads; a login in another tab rotates the id away; the page
    then slides the expiry it loaded, which lands on the old id's tombstone.
    A minute on, the old cookie is a new session like any ended one, never
    a 503 asking for a retry with a new cookie the browser may not have."""
    old = logged_in(app, "guest")
    clock.advance(120)  # a touch is due
    app.config["HOLD"] = held = threading.Event()
    page = threading.Thread(target=lambda: Browser(app, old).get("/page-held"), daemon=True)
    page.start()
    assert set_cookie(Browser(app, old).get("/login/alice"))
    held.set()
    page.join(10)
    clock.advance(61)
    late = Browser(app, old).get("/cart/x/1")
    assert late.status_code == 200
    assert dump(app, set_cookie(late) or "") == {"cart": {"x": 1}}


# -- exclusive sessions ------------------------------------------------------------------


def test_exclusive_increments_all_succeed_with_no_conflict(store: Store, clock: Clock) -> None:
    app = make_app(store, clock)
    cookie = logged_in(app)
    results = race(*(lambda: Browser(app, cookie).get("/incr-exclusive") for _ in range(8)))
    assert [r.status_code for r in results] == [200] * 8
    assert sorted(int(r.get_data(as_text=True)) for r in results) == list(range(1, 9))
    assert Browser(app, cookie).get_json("/whoami")["n"] == 8


def test_exclusive_waits_for_the_holder_and_other_sessions_never_wait(store: Store, clock: Clock) -> None:
    app = make_app(store, clock)
    alice, bob = logged_in(app, "alice"), logged_in(app, "bob")
    hold = app.config["HOLD"] = threading.Event()
    holder = threading.Thread(target=lambda: Browser(app, alice).get("/incr-exclusive-held"))
    holder.start()
    deadline = time.monotonic() + 10
    while store.lock(store_key(app, alice), "probe", clock() + 1, clock()):
        store.unlock(store_key(app, alice), "probe")
        assert time.monotonic() < deadline, "the holder never took the lease"
    started = time.monotonic()
    assert Browser(app, bob).get("/incr-exclusive").status_code == 200
    assert time.monotonic() - started < 1.0
    waiter: list[Any] = []
    second = threading.Thread(target=lambda: waiter.append(Browser(app, alice).get("/incr-exclusive")))
    second.start()
    second.join(0.3)
    assert second.is_alive(), "the second request of alice waits for the first"
    hold.set()
    holder.join(10)
    second.join(10)
    assert waiter[0].status_code == 200 and waiter[0].get_data(as_text=True) == "2"


def test_exclusive_gives_up_with_a_503_after_the_wait(store: Store, clock: Clock) -> None:
    app = make_app(store, clock, STRONGBOX_EXCLUSIVE_WAIT=0.2, STRONGBOX_RETRY_AFTER=3)
    cookie = logged_in(app)
    key = store_key(app, cookie)
    assert store.lock(key, "a-crashed-holder-token", clock() + 10, clock())  # held, never released
    response = Browser(app, cookie).get("/incr-exclusive")
    assert response.status_code == 503 and response.headers.getlist("Retry-After") == ["3"]
    assert Browser(app, cookie).get_json("/whoami")["n"] is None  # nothing was saved


def test_a_crashed_holders_lease_ends_by_itself(store: Store, clock: Clock) -> None:
    app = make_app(store, clock, STRONGBOX_EXCLUSIVE_LEASE=10)
    cookie = logged_in(app)
    assert store.lock(store_key(app, cookie), "a-killed-worker", clock() + 10, clock())
    clock.advance(11)  # the lease's end: the next request takes it
    assert Browser(app, cookie).get("/incr-exclusive").status_code == 200


def test_an_exclusive_request_that_fails_gives_its_lease_back(store: Store, clock: Clock) -> None:
    app = make_app(store, clock, PROPAGATE_EXCEPTIONS=True)

    box: Strongbox = app.extensions["box"]

    @app.route("/boom")
    @box.exclusive
    def boom() -> str:
        session.get("user")
        raise RuntimeError("the view failed")

    cookie = logged_in(app)
    with pytest.raises(RuntimeError):
        Browser(app, cookie).get("/boom")
    key = store_key(app, cookie)
    assert store.lock(key, "next", clock() + 1, clock()), "the failed request released its lease"


def test_exclusive_as_before_request_and_for_every_request(store: Store, clock: Clock) -> None:
    for config in ({"STRONGBOX_EXCLUSIVE": True}, {}):
        app = make_app(store, clock, **config)
        if not config:
            app.before_request(app.extensions["box"].exclusive)
        cookie = logged_in(app)
        results = race(*(lambda: Browser(app, cookie).get("/incr") for _ in range(6)))
        assert [r.status_code for r in results] == [200] * 6, config
        assert Browser(app, cookie).get_json("/whoami")["n"] == 6


def test_session_busy_and_save_conflict_are_both_store_unavailable_503s() -> None:
    assert SessionBusy(1.0).code == SaveConflict(1).code == 503
