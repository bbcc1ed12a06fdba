"""Switching a live app from Flask-Session 0.8 to Strongbox with
``STRONGBOX_MIGRATE_FROM = "flask-session"``, on each of its backends.

Clients log in through the real Flask-Session app; the app, restarted on
Strongbox with the same config plus ``STRONGBOX_MIGRATE_*``, must carry every
one of them on with the data Flask-Session itself loaded, delete the old
record, refuse a replay, and start a user whose record is a pickle on a fresh
session without ever loading it.
"""

from __future__ import annotations

import logging
import pickle
import time
from pathlib import Path
from typing import Any

import pytest

from flask_strongbox.interface import strongbox_of
from flask_strongbox.migrate import Missing, Refused
from flask_strongbox.stores.base import Store
from flask_strongbox.testing import Clock as FakeClock

from .legacy_apps import FLASK_SESSION_DATA, typed
from .legacy_stores import Legacy, flask_session_app, redis_legacy
from .legacy_stores import fixture_legacy as fixture_legacy  # fixtures, here for pytest to find
from .legacy_switch import STRONGBOX_COOKIE, as_strongbox_keeps, switched, visit
from .legacy_switch import fixture_clock as fixture_clock
from .legacy_switch import fixture_sqlite_store as fixture_sqlite_store

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:flask_session.*")


class Payload:
    """Creates a file if a pickle of it is ever loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def test_every_client_stays_logged_in_with_what_flask_session_loaded(
    legacy: Legacy, sqlite_store: Store, clock: FakeClock,
) -> None:
    cookies = {name: legacy.log_in(name) for name in ("ada", "grace", "linus")}
    before = {name: as_strongbox_keeps(legacy.flask_session_loads(c)) for name, c in cookies.items()}
    app = switched(legacy.app, legacy.url, sqlite_store, clock)

    for name, cookie in cookies.items():
        client, loaded = visit(app, cookie)
        assert typed(loaded) == typed(before[name]) and loaded["user"] == name
        new = client.get_cookie("session")
        assert new is not None and STRONGBOX_COOKIE.fullmatch(new.value)
        assert client.get("/count").text == "1"
        assert isinstance(legacy.reader.load(legacy.sid(cookie), time.time()), Missing)  # moved out
    adopter = strongbox_of(app).adopter
    assert adopter is not None and adopter.counts["moved"] == 3


def test_replayed_cookie_gets_no_second_session(
    legacy: Legacy, sqlite_store: Store, clock: FakeClock,
) -> None:
    cookie = legacy.log_in("ada")
    app = switched(legacy.app, legacy.url, sqlite_store, clock)
    _, loaded = visit(app, cookie)
    assert loaded["user"] == "ada"
    live = sqlite_store.stats(clock.now).live

    _, replayed = visit(app, cookie)

    assert replayed == {}
    assert sqlite_store.stats(clock.now).live == live


def test_pickle_records_are_refused_counted_logged_and_never_loaded(
    legacy: Legacy, sqlite_store: Store, clock: FakeClock, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    marker = tmp_path / "unpickled"
    sid = "OldPickledSession0123456789abcdefghijklmnopq"
    legacy.plant(sid, pickle.dumps({"user": "mallory", "x": Payload(marker)}, 2))
    app = switched(legacy.app, legacy.url, sqlite_store, clock)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("something tried to unpickle")

    for name in ("loads", "load", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    with caplog.at_level(logging.WARNING, "flask_strongbox"):
        _, loaded = visit(app, sid)

    assert loaded == {}
    adopter = strongbox_of(app).adopter
    assert adopter is not None and adopter.counts["pickle"] == 1
    assert "pickle" in caplog.text and "1 refused" in caplog.text
    assert sid not in caplog.text and "mallory" not in caplog.text
    assert not marker.exists()
    assert isinstance(legacy.reader.load(sid, time.time()), Refused)  # left in place, never loaded


def test_signed_cookies_of_use_signer_are_moved(
    tmp_path: Path, sqlite_store: Store, clock: FakeClock,
) -> None:
    for legacy in redis_legacy(tmp_path, SESSION_USE_SIGNER=True):
        cookie = legacy.log_in("ada")
        assert "." in cookie  # id.signature
        app = switched(legacy.app, legacy.url, sqlite_store, clock)

        assert visit(app, cookie)[1]["user"] == "ada"
        assert visit(app, legacy.sid(cookie))[1] == {}  # the id alone is no valid signed cookie


def test_every_record_of_the_pickle_filesystem_backend_starts_fresh(
    tmp_path: Path, sqlite_store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    directory = tmp_path / "flask_session"
    old = flask_session_app(FLASK_SESSION_DATA, SESSION_TYPE="filesystem", SESSION_FILE_DIR=str(directory))
    cookies = []
    for name in ("ada", "grace"):
        client = old.test_client()
        client.get(f"/login/{name}")
        cookie = client.get_cookie("session")
        assert cookie is not None
        cookies.append(cookie.value)
    app = switched(old, f"filesystem://{directory}", sqlite_store, clock)
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))

    assert [visit(app, cookie)[1] for cookie in cookies] == [{}, {}]
    adopter = strongbox_of(app).adopter
    assert adopter is not None and adopter.counts["pickle"] == 2
