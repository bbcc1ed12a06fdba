"""``flask sessions import --from flask-session``: every Flask-Session record
moved up front, so the old store can leave the request path, with users
still logged in afterwards and a summary of what was moved or skipped."""

from __future__ import annotations

import json
import pickle
import time
from pathlib import Path

import pytest
from flask import Flask

from flask_strongbox.migrate import Missing, Refused
from flask_strongbox.stores.base import Store
from flask_strongbox.testing import Clock as FakeClock

from .legacy_apps import typed
from .legacy_stores import LIFETIME, Legacy, sqlite_legacy
from .legacy_stores import fixture_legacy as fixture_legacy  # fixtures, here for pytest to find
from .legacy_switch import STRONGBOX_COOKIE, as_strongbox_keeps, switched, visit
from .legacy_switch import fixture_clock as fixture_clock
from .legacy_switch import fixture_sqlite_store as fixture_sqlite_store

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:flask_session.*")
PICKLED = "OldPickledSession0123456789abcdefghijklmnopq"


def run_import(app: Flask, *more: str) -> dict[str, int]:
    args = ["sessions", "import", "--from", "flask-session", "--json", *more]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    summary: dict[str, int] = json.loads(result.stdout)
    return summary


def test_import_moves_every_record_and_users_stay_logged_in_without_the_old_store(
    legacy: Legacy, sqlite_store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    cookies = {name: legacy.log_in(name) for name in ("ada", "grace", "linus")}
    before = {name: as_strongbox_keeps(legacy.flask_session_loads(c)) for name, c in cookies.items()}
    legacy.plant(PICKLED, pickle.dumps({"user": "mallory"}, 2))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    tool = switched(legacy.app, legacy.url, sqlite_store, clock)

    summary = run_import(tool, "--batch", "2")

    assert summary["moved"] == 3 and summary["pickle"] == 1 and summary["expired"] == 0
    for cookie in cookies.values():
        assert isinstance(legacy.reader.load(legacy.sid(cookie), time.time()), Missing)
    # The app no longer reads the old store (except for files, whose names hash the id).
    serving = switched(legacy.app, legacy.url if "filesystem" in legacy.url else None, sqlite_store, clock)
    for name, cookie in cookies.items():
        client, loaded = visit(serving, cookie)
        assert typed(loaded) == typed(before[name])
        new = client.get_cookie("session")
        assert new is not None and STRONGBOX_COOKIE.fullmatch(new.value)
        assert client.get("/count").text == "1"
        assert visit(serving, cookie)[1] == {}  # a replay of the old cookie: nothing
    assert isinstance(legacy.reader.load(PICKLED, time.time()), Refused)


def test_import_is_safe_to_run_again(legacy: Legacy, sqlite_store: Store, clock: FakeClock) -> None:
    legacy.log_in("ada")
    tool = switched(legacy.app, legacy.url, sqlite_store, clock)
    assert run_import(tool)["moved"] == 1
    live = sqlite_store.stats(clock.now).live

    again = run_import(tool)

    assert again["moved"] == 0
    assert sqlite_store.stats(clock.now).live == live


def test_import_counts_expired_records(tmp_path: Path, sqlite_store: Store, clock: FakeClock) -> None:
    for legacy in sqlite_legacy(tmp_path):
        legacy.log_in("ada")
        clock.advance(LIFETIME.total_seconds() + 10)
        summary = run_import(switched(legacy.app, legacy.url, sqlite_store, clock))

        assert summary["expired"] == 1 and summary["moved"] == 0


def test_import_without_migrate_store_is_one_clear_line(
    tmp_path: Path, sqlite_store: Store, clock: FakeClock,
) -> None:
    for legacy in sqlite_legacy(tmp_path):
        result = switched(legacy.app, None, sqlite_store, clock).test_cli_runner().invoke(
            args=["sessions", "import", "--from", "flask-session"])

        assert result.exit_code == 1
        assert "STRONGBOX_MIGRATE_STORE is not set" in result.output
        assert "Traceback" not in result.output


def test_import_prints_a_summary_and_progress(legacy: Legacy, sqlite_store: Store, clock: FakeClock) -> None:
    legacy.log_in("ada")
    result = switched(legacy.app, legacy.url, sqlite_store, clock).test_cli_runner().invoke(
        args=["sessions", "import", "--from", "flask-session"])

    assert result.exit_code == 0
    assert "moved 1, skipped as pickle 0, expired 0" in result.stdout
    assert "importing flask-session records" in result.stderr
