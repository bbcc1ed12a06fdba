"""``flask sessions`` for scripts: every command's ``--json`` shape on every
store, progress on stderr while ``purge`` works, and failures as one line on
stderr with a non-zero status (a store outage, a missing or weak
``SECRET_KEY``, a malformed handle), never a traceback."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask

from flask_strongbox.stores.base import Store
from flask_strongbox.stores.redis import RedisStore

from .apps import Browser, Clock, make_app, no_ids_in_logs, store_key
from .conftest import DEFAULTS
from .services import RedisServer

pytestmark = pytest.mark.usefixtures(no_ids_in_logs.__name__)

IDLE = DEFAULTS.idle_timeout.total_seconds()
#: Every command, with arguments that make it do its work.
COMMANDS = [
    ["stats"], ["list", "--user", "alice"], ["revoke", "0" * 64], ["revoke-user", "alice"],
    ["purge"], ["init-db"], ["health"],
]


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["sessions", *args])


def json_of(result: Result) -> Any:
    """The one JSON object a successful ``--json`` run prints on stdout."""
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    return json.loads(lines[0])


def login(app: Flask, name: str) -> Browser:
    browser = Browser(app)
    browser.get(f"/login/{name}")
    assert browser.cookie
    return browser


def one_line_failure(result: Result, status: int = 1) -> str:
    """The failure's one stderr line; stdout stays empty for scripts."""
    assert result.exit_code == status, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def app(store: Store, clock: Clock) -> Flask:
    return make_app(store, clock)


def test_every_command_takes_json(app: Flask) -> None:
    listed = run(app, "--help").output
    for command in COMMANDS:
        assert command[0] in listed
        assert "--json" in run(app, command[0], "--help").output


def test_stats_json(app: Flask, store: Store, clock: Clock) -> None:
    assert json_of(run(app, "stats", "--json")) == {"store": store.name, "live": 0, "expired": 0}
    login(app, "alice")
    clock.advance(IDLE / 2)
    login(app, "bob")
    clock.advance(IDLE / 2 + 1)
    assert json_of(run(app, "stats", "--json")) == {"store": store.name, "live": 1, "expired": 1}


def test_list_json_gives_handles_and_utc_times_oldest_first(app: Flask, clock: Clock) -> None:
    first = login(app, "alice")
    clock.advance(5)
    second = login(app, "alice")
    login(app, "bob")
    found = json_of(run(app, "list", "--user", "alice", "--json"))
    assert found["user"] == "alice"
    assert first.cookie and second.cookie
    handles = [store_key(app, first.cookie), store_key(app, second.cookie)]
    assert [s["handle"] for s in found["sessions"]] == handles
    created = [datetime.fromisoformat(s["created"]) for s in found["sessions"]]
    assert created[1].timestamp() - created[0].timestamp() in (4, 5, 6)  # whole seconds
    assert all(s.keys() == {"handle", "created", "last_seen", "expires"} for s in found["sessions"])
    assert all(s["expires"].endswith("+00:00") for s in found["sessions"])
    assert json_of(run(app, "list", "--user", "nobody", "--json")) == {"user": "nobody", "sessions": []}


def test_revoke_and_revoke_user_json(app: Flask) -> None:
    alice, alice2, bob = login(app, "alice"), login(app, "alice"), login(app, "bob")
    assert alice.cookie
    assert json_of(run(app, "revoke", store_key(app, alice.cookie), "--json")) == {"revoked": 1}
    assert json_of(run(app, "revoke-user", "alice", "--json")) == {"user": "alice", "revoked": 1}
    assert json_of(run(app, "revoke-user", "alice", "--json")) == {"user": "alice", "revoked": 0}
    assert alice2.get("/incr").status_code == 401
    assert bob.get("/incr").status_code == 200


def test_init_db_and_health_json(app: Flask, store: Store) -> None:
    assert json_of(run(app, "init-db", "--json")) == {"store": store.name, "ready": True}
    found = json_of(run(app, "health", "--json"))
    assert found.keys() == {"ok", "store", "latency", "error"}
    assert (found["ok"], found["store"], found["error"]) == (True, store.name, None)
    assert 0 <= found["latency"] < 2
    assert run(app, "health").output.startswith(f"{store.name} store ok (")


def test_purge_shows_progress_on_stderr_and_json_on_stdout(store: Store, clock: Clock) -> None:
    app = make_app(store, clock, STRONGBOX_PURGE_BATCH=2)
    for i in range(5):
        login(app, f"user{i}")
    clock.advance(IDLE / 2)
    live = login(app, "late")
    clock.advance(IDLE / 2 + 1)
    result = run(app, "purge", "--json")
    assert json_of(result) == {"purged": 5}
    assert result.stderr.splitlines() == [
        "purging 5 expired session(s)", "purged 2 of 5", "purged 4 of 5", "purged 5 of 5",
    ]
    assert json_of(run(app, "stats", "--json"))["expired"] == 0
    assert live.get("/incr").status_code == 200
    text = run(app, "purge")
    assert text.stdout == "purged 0 expired session(s)\n"


def test_purge_progress_on_a_terminal_is_a_bar_redrawn_in_place(tmp_path: Path, clock: Clock) -> None:
    """``flask sessions purge`` in a real pseudo-terminal: one line, redrawn."""
    path = tmp_path / "sessions.sqlite3"
    clock.advance(-2 * IDLE)  # sessions that ended an hour ago by the real clock
    app = make_app(None, clock, STRONGBOX_STORE=f"sqlite:///{path}")
    for i in range(5):
        login(app, f"user{i}")
    (tmp_path / "ttyapp.py").write_text(
        "from flask import Flask\n"
        "from flask_strongbox import Strongbox\n"
        "app = Flask(__name__)\n"
        f"app.config.update(STRONGBOX_STORE={f'sqlite:///{path}'!r}, STRONGBOX_PURGE_BATCH=2)\n"
        "Strongbox(app)\n"
    )
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "ttyapp", "sessions", "purge", "--json"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=secondary, env={**os.environ, "COLUMNS": "100"},
    )
    os.close(secondary)
    stdout, _ = process.communicate(timeout=60)
    terminal = b""
    with contextlib.suppress(OSError):  # EIO once the child has closed the terminal
        while chunk := os.read(primary, 4096):
            terminal += chunk
    os.close(primary)
    assert process.returncode == 0, terminal
    assert json.loads(stdout) == {"purged": 5}
    shown = terminal.decode()
    assert "\r" in shown and "5/5" in shown and "purged 5 of 5" in shown
    assert shown.count("\n") <= 1  # redrawn in place, not a line per batch


# -- failures: one line, a non-zero status, no traceback -----------------------


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_a_killed_store_server_is_one_line_naming_the_store(command: list[str], as_json: bool) -> None:
    with RedisServer() as server:
        app = make_app(RedisStore.from_url(server.url, timeout=0.5))
        login(app, "alice")
        server.kill()
        result = run(app, *command, *(["--json"] if as_json else []))
    if command == ["health"] and as_json:  # the probe's answer is the output, ok or not
        assert result.exit_code == 1
        found = json.loads(result.stdout)
        assert found["ok"] is False and found["error"].startswith("redis store unavailable")
        return
    line = one_line_failure(result)
    assert line.startswith("Error: redis store unavailable"), line


@pytest.mark.parametrize("command", [["list", "--user", "alice"], ["revoke-user", "alice"]],
                         ids=lambda c: c[0])
def test_a_missing_secret_key_is_one_line_naming_it(store: Store, command: list[str]) -> None:
    app = make_app(store, secret="")
    app.secret_key = None
    line = one_line_failure(run(app, *command, "--json"))
    assert "SECRET_KEY is not set" in line


@pytest.mark.parametrize("command", [["list", "--user", "alice"], ["revoke-user", "alice"]],
                         ids=lambda c: c[0])
def test_a_weak_secret_key_in_production_is_one_line_naming_it(tmp_path: Path, command: list[str]) -> None:
    app = make_app(None, secret="hello", TESTING=False,
                   STRONGBOX_STORE=f"sqlite:///{tmp_path / 's.sqlite3'}")
    line = one_line_failure(run(app, *command))
    assert "SECRET_KEY" in line


@pytest.mark.parametrize("bad", ["xyz", "0" * 63, "G" * 64])
def test_a_malformed_handle_is_one_line_with_the_usage_status(app: Flask, bad: str) -> None:
    line = one_line_failure(run(app, "revoke", bad, "--json"), status=2)
    assert line == "Error: HANDLE must be 64 lowercase hex digits, as shown by 'flask sessions list'"


def test_an_unknown_handle_is_one_line(app: Flask) -> None:
    line = one_line_failure(run(app, "revoke", "0" * 64, "--json"))
    assert "no such session" in line


def test_revoking_by_handle_needs_no_key_and_says_it_revoked(tmp_path: Path) -> None:
    """A handle names the record itself: it is revoked even when the app's
    key is refused, and the command says so rather than failing after."""
    url = f"sqlite:///{tmp_path / 's.sqlite3'}"
    alice = login(make_app(None, STRONGBOX_STORE=url), "alice")
    assert alice.cookie
    handle = store_key(make_app(None, STRONGBOX_STORE=url), alice.cookie)
    weak = make_app(None, secret="hello", TESTING=False, STRONGBOX_STORE=url)
    assert json_of(run(weak, "revoke", handle, "--json")) == {"revoked": 1}
    assert alice.get("/incr").status_code == 401
