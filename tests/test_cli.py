"""``flask sessions``: stats, list, revoke, revoke-user, purge and init-db,
through ``app.test_cli_runner()``, on every store."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask

from flask_strongbox import signals
from flask_strongbox.stores.base import Store

from .apps import Browser, Clock, make_app, no_ids_in_logs, set_cookie, store_key
from .conftest import DEFAULTS

pytestmark = pytest.mark.usefixtures(no_ids_in_logs.__name__)

IDLE = DEFAULTS.idle_timeout.total_seconds()


@pytest.fixture
def app(store: Store, clock: Clock) -> Flask:
    return make_app(store, clock)


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["sessions", *args])


def login(app: Flask, name: str) -> Browser:
    browser = Browser(app)
    browser.get(f"/login/{name}")
    assert browser.cookie
    return browser


def logged_out(browser: Browser) -> bool:
    response = browser.get("/incr")
    return response.status_code == 401 and set_cookie(response) == ""


def counts(result: Result) -> tuple[int, int]:
    assert result.exit_code == 0, result.output
    live = re.search(r"^live:\s+(\d+)$", result.output, re.M)
    expired = re.search(r"^expired:\s+(\d+)", result.output, re.M)
    assert live and expired, result.output
    return int(live.group(1)), int(expired.group(1))


def test_the_group_lists_every_command(app: Flask) -> None:
    result = run(app, "--help")
    assert result.exit_code == 0
    for command in ("stats", "list", "revoke", "revoke-user", "purge", "init-db"):
        assert command in result.output


def test_stats_counts_live_and_expired_after_the_clock_moves(app: Flask, store: Store, clock: Clock) -> None:
    result = run(app, "stats")
    assert counts(result) == (0, 0)
    assert f"store:   {store.name}" in result.output
    login(app, "alice")
    login(app, "bob")
    clock.advance(IDLE / 2)
    login(app, "carol")
    assert counts(run(app, "stats")) == (3, 0)
    clock.advance(IDLE / 2 + 1)  # alice's and bob's sessions are past their idle timeout
    assert counts(run(app, "stats")) == (1, 2)


def test_list_shows_the_handles_of_a_user(app: Flask, clock: Clock) -> None:
    first = login(app, "alice")
    clock.advance(1)
    second = login(app, "alice")
    login(app, "bob")
    result = run(app, "list", "--user", "alice")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:2] == ["HANDLE", "CREATED"]
    assert [line.split()[0] for line in lines[1:]] == [
        store_key(app, first.cookie), store_key(app, second.cookie)  # oldest first
    ]
    assert "UTC" in lines[1]
    # A handle is what the operator needs; the cookie never appears.
    assert first.cookie and second.cookie
    assert first.cookie not in result.output and second.cookie not in result.output


def test_list_for_an_unknown_user_says_so(app: Flask) -> None:
    login(app, "alice")
    result = run(app, "list", "--user", "nobody")
    assert result.exit_code == 0
    assert "no live sessions for user 'nobody'" in result.output


def test_list_needs_a_user(app: Flask) -> None:
    result = run(app, "list")
    assert result.exit_code != 0
    assert "--user" in result.output


def test_revoke_ends_one_session(app: Flask) -> None:
    alice, other = login(app, "alice"), login(app, "alice")
    handle = store_key(app, alice.cookie)
    revoked: list[tuple[str, str]] = []

    def receive(sender: Flask, handle: str, reason: str) -> None:
        revoked.append((handle, reason))

    with signals.session_revoked.connected_to(receive, sender=app):
        result = run(app, "revoke", handle)
    assert result.exit_code == 0, result.output
    assert "revoked 1 session" in result.output
    assert revoked == [(handle, "cli")]
    assert logged_out(alice)
    assert other.get("/incr").status_code == 200
    again = run(app, "revoke", handle)
    assert again.exit_code == 1
    assert "no such session" in again.output


@pytest.mark.parametrize("bad", ["xyz", "0" * 63, "G" * 64, "A" * 64, "0" * 65])
def test_revoke_refuses_a_malformed_handle(app: Flask, bad: str) -> None:
    alice = login(app, "alice")
    result = run(app, "revoke", bad)
    assert result.exit_code == 2  # click's usage error
    assert "64 lowercase hex digits" in result.output
    assert alice.get("/incr").status_code == 200


def test_revoke_refuses_a_cookie_given_as_a_handle(app: Flask) -> None:
    alice = login(app, "alice")
    assert alice.cookie
    result = run(app, "revoke", alice.cookie)
    assert result.exit_code != 0
    assert alice.get("/incr").status_code == 200


def test_revoke_an_unknown_handle_fails(app: Flask) -> None:
    result = run(app, "revoke", "0" * 64)
    assert result.exit_code == 1
    assert "no such session" in result.output


def test_revoke_user_ends_all_of_one_user(app: Flask) -> None:
    alices = [login(app, "alice") for _ in range(2)]
    bob = login(app, "bob")
    result = run(app, "revoke-user", "alice")
    assert result.exit_code == 0, result.output
    assert "revoked 2 session(s) of user 'alice'" in result.output
    assert all(logged_out(b) for b in alices)
    assert bob.get("/incr").status_code == 200
    result = run(app, "revoke-user", "alice")
    assert "revoked 0 session(s)" in result.output


def test_purge_removes_expired_and_keeps_live(app: Flask, store: Store, clock: Clock) -> None:
    for name in ("alice", "bob", "carol"):
        login(app, name)
    clock.advance(IDLE / 2)
    dave = login(app, "dave")
    clock.advance(IDLE / 2 + 1)
    assert counts(run(app, "stats")) == (1, 3)
    result = run(app, "purge")
    assert result.exit_code == 0, result.output
    assert "purged 3 expired session(s)" in result.output
    assert counts(run(app, "stats")) == (1, 0)
    assert dave.get("/incr").status_code == 200
    assert "purged 0" in run(app, "purge").output


def test_purge_works_in_batches(store: Store, clock: Clock) -> None:
    app = make_app(store, clock, STRONGBOX_PURGE_BATCH=2)
    for i in range(5):
        login(app, f"user{i}")
    clock.advance(IDLE + 1)
    result = run(app, "purge")
    assert "purged 5 expired session(s)" in result.output
    assert counts(run(app, "stats")) == (0, 0)


def test_init_db_prepares_the_store(app: Flask, store: Store) -> None:
    result = run(app, "init-db")
    assert result.exit_code == 0, result.output
    assert f"{store.name} store ready" in result.output
    assert run(app, "init-db").exit_code == 0  # again: harmless
    assert login(app, "alice").get("/incr").status_code == 200


def test_init_db_creates_the_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "fresh.sqlite3"
    app = make_app(None, STRONGBOX_STORE=f"sqlite:///{path}")
    result = run(app, "init-db")
    assert result.exit_code == 0, result.output
    assert "sqlite store ready" in result.output
    assert path.exists()


@pytest.mark.parametrize("command", [
    ["stats"], ["list", "--user", "alice"], ["revoke", "0" * 64], ["revoke-user", "alice"],
    ["purge"], ["init-db"],
])
def test_an_unavailable_store_fails_every_command_clearly(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "no-such-folder" / "sessions.sqlite3"
    app = make_app(None, STRONGBOX_STORE=f"sqlite:///{missing}")
    result = run(app, *command)
    assert result.exit_code == 1, result.output
    assert "Error: sqlite store unavailable" in result.output
    assert "no-such-folder" in result.output and "does not exist" in result.output
    assert "Traceback" not in result.output
    assert not missing.parent.exists()  # nothing was created silently
