"""Lifecycle signals (created, rotated, destroyed, revoked, expired, rejected),
each sent with the app as sender and a handle and reason; and no log line of
any of these tests holds a session cookie or id."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from blinker import Signal
from flask import Flask

from flask_strongbox import signals
from flask_strongbox.stores.base import Store

from .apps import Browser, Clock, extension, make_app, no_ids_in_logs, set_cookie, store_key
from .conftest import DEFAULTS

pytestmark = pytest.mark.usefixtures(no_ids_in_logs.__name__)

ALL = {
    "created": signals.session_created,
    "rotated": signals.session_rotated,
    "destroyed": signals.session_destroyed,
    "revoked": signals.session_revoked,
    "expired": signals.session_expired,
    "rejected": signals.session_rejected,
}


@pytest.fixture
def app(store: Store, clock: Clock) -> Flask:
    return make_app(store, clock)


class Recorder:
    """Every lifecycle signal sent by one app, as (name, handle, reason)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str | None, str]] = []
        self.senders: list[Any] = []

    def receiver(self, name: str) -> Any:
        def receive(sender: Any, *, handle: str | None, reason: str) -> None:
            self.senders.append(sender)
            self.events.append((name, handle, reason))
        return receive

    def named(self, name: str) -> list[tuple[str | None, str]]:
        return [(handle, reason) for n, handle, reason in self.events if n == name]

    def clear(self) -> None:
        self.events.clear()


@pytest.fixture
def recorder(app: Flask) -> Iterator[Recorder]:
    recorder = Recorder()
    receivers = [(signal, recorder.receiver(name)) for name, signal in ALL.items()]
    for signal, receive in receivers:
        signal.connect(receive, sender=app)
    try:
        yield recorder
    finally:
        for signal, receive in receivers:
            signal.disconnect(receive, sender=app)
    assert all(sender is app for sender in recorder.senders)


def test_created_on_first_save(app: Flask, recorder: Recorder) -> None:
    browser = Browser(app)
    browser.get("/dump")  # an empty session is never stored
    assert recorder.events == []
    browser.get("/set/theme/dark")
    assert recorder.events == [("created", store_key(app, browser.cookie), "new")]


def test_rotated_on_login_and_on_regenerate(app: Flask, recorder: Recorder) -> None:
    browser = Browser(app)
    browser.get("/set/theme/dark")
    recorder.clear()
    browser.get("/login/alice")
    assert recorder.named("rotated") == [(store_key(app, browser.cookie), "login")]
    recorder.clear()
    browser.get("/regenerate")
    assert recorder.named("rotated") == [(store_key(app, browser.cookie), "regenerate")]


def test_destroyed_on_logout(app: Flask, recorder: Recorder) -> None:
    browser = Browser(app)
    browser.get("/login/alice")
    handle = store_key(app, browser.cookie)
    recorder.clear()
    browser.get("/logout")
    assert recorder.events == [("destroyed", handle, "emptied")]


def test_revoked_by_the_api_the_user_and_the_cap(store: Store, clock: Clock) -> None:
    app = make_app(store, clock, STRONGBOX_MAX_SESSIONS_PER_USER=2)
    recorder = Recorder()
    receive = recorder.receiver("revoked")
    with signals.session_revoked.connected_to(receive, sender=app):
        browsers = []
        for _ in range(3):
            browsers.append(Browser(app))
            browsers[-1].get("/login/alice")
            clock.advance(1)
        handles = [store_key(app, b.cookie) for b in browsers]
        assert recorder.named("revoked") == [(handles[0], "session cap")]
        recorder.clear()
        assert browsers[2].get(f"/revoke/{handles[1]}").json is True
        assert recorder.named("revoked") == [(handles[1], "revoked")]
        recorder.clear()
        with app.app_context():
            assert extension(app).revoke_user("alice") == 1
        assert recorder.named("revoked") == [(handles[2], "revoked with all of user")]
    assert recorder.senders == [app, app, app]


def test_expired_when_a_valid_cookie_names_an_expired_record(app: Flask, recorder: Recorder,
                                                            clock: Clock) -> None:
    browser = Browser(app)
    browser.get("/login/alice")
    handle = store_key(app, browser.cookie)
    recorder.clear()
    clock.advance(DEFAULTS.idle_timeout + timedelta(seconds=1))  # past the idle timeout
    response = browser.get("/incr")
    assert response.status_code == 401 and set_cookie(response) == ""
    assert len(recorder.events) == 1
    name, got, reason = recorder.events[0]
    assert (name, got) == ("expired", handle) and reason


def test_expired_says_rotated_away_for_an_id_replaced_by_regenerate(app: Flask, recorder: Recorder) -> None:
    browser = Browser(app)
    browser.get("/login/alice")
    old = browser.cookie
    browser.get("/regenerate")
    recorder.clear()
    response = Browser(app, old).get("/set/late/1")
    assert set_cookie(response) is None  # the browser's new cookie is left alone
    assert recorder.events == [("expired", store_key(app, old), "rotated away")]
    assert browser.get("/dump").json == {"user": "alice"}


def test_rejected_for_a_forged_cookie_without_a_handle(app: Flask, recorder: Recorder) -> None:
    browser = Browser(app)
    browser.get("/login/alice")
    assert browser.cookie
    sid, _, mac = browser.cookie.partition(".")
    forged = f"{sid}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"
    recorder.clear()
    assert Browser(app, forged).get("/dump").json == {}
    assert Browser(app, "not-a-cookie").get("/dump").json == {}
    assert recorder.events == [("rejected", None, "bad cookie"), ("rejected", None, "bad cookie")]
    # The forged cookie reached no store lookup and the real session is intact.
    assert browser.get("/dump").json == {"user": "alice"}


def test_rejected_for_a_tampered_record_with_its_handle(app: Flask, store: Store, recorder: Recorder,
                                                       clock: Clock) -> None:
    browser = Browser(app)
    browser.get("/login/alice")
    handle = store_key(app, browser.cookie)
    record = store.get(handle, clock())
    assert record is not None
    flipped = bytes([record.blob[0]]) + bytes([record.blob[1] ^ 1]) + record.blob[2:]
    tampered = dataclasses.replace(record, blob=flipped, version=record.version + 1)
    assert store.replace(tampered, record.version, clock())
    recorder.clear()
    assert browser.get("/dump").json == {}
    assert recorder.events == [("rejected", handle, "unreadable record")]


def test_signals_of_one_app_do_not_reach_another(store: Store, clock: Clock) -> None:
    first, second = make_app(store, clock), make_app(store, clock)
    got: list[Any] = []

    def receive(sender: Any, **kwargs: Any) -> None:
        got.append(sender)

    created: Signal = signals.session_created
    with created.connected_to(receive, sender=first):
        Browser(second).get("/login/bob")
        assert got == []
        Browser(first).get("/login/alice")
        assert got == [first]


def test_log_lines_carry_no_cookie_or_id(app: Flask, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    """Drive every logging path reachable from a request; the guard fixture
    then checks every line. The lines must still say what happened."""
    browser = Browser(app)
    browser.get("/login/alice")
    assert browser.cookie
    sid, _, mac = browser.cookie.partition(".")
    Browser(app, f"{sid}.{mac[::-1]}").get("/dump")
    key = store_key(app, browser.cookie)
    store = app.session_interface.store  # type: ignore[attr-defined]
    record = store.get(key, clock())
    store.replace(dataclasses.replace(record, blob=record.blob[:-1] + bytes([record.blob[-1] ^ 1]),
                                      version=record.version + 1), record.version, clock())
    browser.get("/dump")
    assert "rejected 1 session cookie" in caplog.text
    assert "unreadable session record" in caplog.text


def test_lifecycle_log_lines_name_sessions_by_fingerprint_only(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    """Operators see each session's life in the log, a revocation at INFO, the
    session named by its keyed fingerprint: never its handle, id or cookie."""
    browser = Browser(app)
    with caplog.at_level("DEBUG", logger="flask_strongbox"):
        browser.get("/login/alice")
        handle = store_key(app, browser.cookie)
        with app.test_request_context():
            assert extension(app).revoke(handle)
    fingerprint = app.session_interface.keyring(app).fingerprint(handle)  # type: ignore[attr-defined]
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "flask_strongbox"]
    assert ("INFO", f"session {fingerprint} revoked (revoked)") in lines
    assert any(level == "DEBUG" and message.startswith("session ") and " created " in message
               for level, message in lines)
    cookie = browser.cookie
    assert cookie and all(handle not in message and cookie not in message for _, message in lines)
