"""The embedded default store: a real SQLite file."""

from __future__ import annotations

import multiprocessing
import os
import secrets
import shutil
import sqlite3
import stat
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, session

from flask_strongbox import SQLiteStore, StoreUnavailable, Strongbox
from flask_strongbox.testing import Clock

from .conftest import DEFAULTS, SECRET
from .test_store_contract import NOW, make_record
from .tutorial import make_app


def test_default_store_is_a_0600_sqlite_file_in_the_instance_folder(tmp_path: Path) -> None:
    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    app.config.update(SECRET_KEY=SECRET, TESTING=True)
    Strongbox(app)

    @app.route("/")
    def index() -> str:
        session["user"] = "alice"
        return "ok"

    app.test_client().get("/")
    path = tmp_path / "instance" / "strongbox-sessions.sqlite3"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_dump_after_login_holds_no_name_no_id_no_cookie(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "sessions.sqlite3"
    app = make_app(SQLiteStore(path), clock)
    client = app.test_client()
    response = client.post("/login", data={"nm": "alice-in-the-dump"})
    cookie = client.get_cookie("session")
    assert cookie is not None and response.status_code == 302
    sid_b64, mac_b64 = cookie.value.split(".")
    import base64

    raw_id = base64.urlsafe_b64decode(sid_b64 + "=")
    dump = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("sessions"))
    assert b"alice" not in dump
    for needle in (cookie.value.encode(), sid_b64.encode(), mac_b64.encode(), raw_id, raw_id.hex().encode()):
        assert needle not in dump


def test_missing_folder_is_a_clear_error_naming_the_file(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "nope" / "sessions.sqlite3")
    with pytest.raises(StoreUnavailable, match="nope"):
        store.get("0" * 64, 0.0)


def test_corrupt_file_is_reported_and_never_replaced(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "sessions.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    app = make_app(SQLiteStore(path), clock)
    client = app.test_client()
    client.set_cookie("session", "A" * 43 + "." + "B" * 43)  # forged: no store access
    response = client.post("/login", data={"nm": "alice"})
    assert response.status_code == 503
    assert "Retry-After" in response.headers and "Set-Cookie" not in response.headers
    assert path.read_bytes() == b"this is not a database" * 100


def test_deleted_file_is_not_silently_recreated(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite3"
    store = SQLiteStore(path)
    store.create(make_record())
    store.close()
    for leftover in tmp_path.iterdir():
        leftover.unlink()
    with pytest.raises(StoreUnavailable, match=r"sessions\.sqlite3"):
        store.get("0" * 64, 0.0)
    assert not path.exists()


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` read-only for this process while the block runs."""
    # Root ignores permission bits; the immutable attribute binds root too.
    as_root = os.geteuid() == 0
    if as_root:
        if not shutil.which("chattr"):
            pytest.skip("running as root without chattr: cannot make a file read-only")
        subprocess.run(["chattr", "+i", str(path)], check=True)
    else:
        path.chmod(0o400)
    try:
        yield
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(0o600)


def test_read_only_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite3"
    first = SQLiteStore(path)
    first.create(make_record())
    first.close()
    with read_only(path), pytest.raises(StoreUnavailable, match=r"sessions\.sqlite3"):
        SQLiteStore(path).create(make_record())


def test_several_store_objects_share_one_file(tmp_path: Path) -> None:
    """Two store objects stand for two processes on one file."""
    first, second = SQLiteStore(tmp_path / "s.sqlite3"), SQLiteStore(tmp_path / "s.sqlite3")
    record = make_record()
    first.create(record)
    assert second.get(record.key, NOW) == record
    assert second.delete(record.key)
    assert first.get(record.key, NOW) is None


# -- the file is deleted or replaced while the app runs ----------------------------


def session_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name.startswith("sessions")}


def test_a_file_deleted_while_serving_is_a_503_and_is_never_recreated(
    tmp_path: Path, clock: Clock,
) -> None:
    """Writes into a deleted file would be answered 200 and lost at restart:
    the next request after the delete is a 503 naming the file, and nothing
    is created in its place."""
    path = tmp_path / "sessions.sqlite3"
    store = SQLiteStore(path)
    client = make_app(store, clock).test_client()
    assert client.post("/login", data={"nm": "alice"}).status_code == 302
    for leftover in tmp_path.iterdir():
        leftover.unlink()
    response = client.post("/login", data={"nm": "bob"})
    assert response.status_code == 503
    assert response.headers.getlist("Retry-After") == [str(DEFAULTS.retry_after)]
    assert "Set-Cookie" not in response.headers
    with pytest.raises(StoreUnavailable, match=r"sessions\.sqlite3.*deleted"):
        store.create(make_record())
    assert session_files(tmp_path) == {}


def test_a_file_renamed_over_while_serving_is_a_503_and_left_untouched(
    tmp_path: Path, clock: Clock,
) -> None:
    """A file moved onto the path (a restored backup, say) is not the file the
    open connections write to: refuse rather than split writes between them."""
    path = tmp_path / "sessions.sqlite3"
    store = SQLiteStore(path)
    client = make_app(store, clock).test_client()
    assert client.post("/login", data={"nm": "alice"}).status_code == 302
    backup = tmp_path / "backup.sqlite3"
    other = SQLiteStore(backup)
    other.create(make_record())
    other.close()
    os.replace(backup, path)
    before = session_files(tmp_path)
    assert client.post("/login", data={"nm": "bob"}).status_code == 503
    with pytest.raises(StoreUnavailable, match=r"sessions\.sqlite3.*another file"):
        store.create(make_record())
    assert session_files(tmp_path) == before
    store.close()
    with pytest.raises(StoreUnavailable, match="another file"):
        store.create(make_record())  # close() does not make it switch files either


def test_the_file_check_costs_one_stat_per_write_and_none_per_read(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    record = make_record()
    store.create(record)
    calls: list[str] = []
    real_stat = os.stat

    def counting_stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        calls.append(str(path))
        return real_stat(path, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "stat", counting_stat)
        for _ in range(10):
            assert store.get(record.key, NOW) == record
        assert calls == []
        for i in range(10):
            assert store.touch(record.key, NOW + 300, NOW + i)
    assert calls == [str(tmp_path / "s.sqlite3")] * 10


# -- the schema: a 0.1 file, a newer file -------------------------------------------

V1_SCHEMA = """
    CREATE TABLE strongbox_sessions (
        key TEXT NOT NULL UNIQUE, blob BLOB NOT NULL, version INTEGER NOT NULL,
        created REAL NOT NULL, last_seen REAL NOT NULL, expires REAL NOT NULL,
        absolute_expires REAL NOT NULL, user TEXT, info BLOB
    );
    CREATE INDEX strongbox_sessions_expires ON strongbox_sessions (expires);
    CREATE INDEX strongbox_sessions_user ON strongbox_sessions (user) WHERE user IS NOT NULL;
    CREATE TABLE strongbox_sessions_meta (name TEXT PRIMARY KEY, value TEXT);
    INSERT INTO strongbox_sessions_meta VALUES ('schema_version', '1');
"""


def make_v1_file(path: Path) -> str:
    """A file as 0.1 made it (WAL, schema version 1, no lease table), holding
    one live session; its store key."""
    key = secrets.token_hex(32)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(V1_SCHEMA)
    conn.execute("INSERT INTO strongbox_sessions VALUES (?, x'00', 1, ?, ?, ?, ?, NULL, NULL)",
                 (key, NOW, NOW, NOW + 300, NOW + 3600))
    conn.close()
    return key


def sql_rows(path: Path, query: str) -> list[Any]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def test_a_0_1_file_is_upgraded_on_first_use_and_keeps_its_sessions(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite3"
    key = make_v1_file(path)
    store = SQLiteStore(path)
    found = store.get(key, NOW)
    assert found is not None and found.blob == b"\x00"
    assert sql_rows(path, "SELECT value FROM strongbox_sessions_meta") == [("2",)]
    assert store.lock(key, "a" * 22, NOW + 10, NOW)
    assert not SQLiteStore(path).lock(key, "b" * 22, NOW + 10, NOW), "another process sees it"
    assert store.unlock(key, "a" * 22)
    assert store.get(key, NOW) == found
    store.init_db()  # again: nothing changes
    assert sql_rows(path, "SELECT value FROM strongbox_sessions_meta") == [("2",)]


def test_a_read_only_0_1_file_names_the_lease_table_and_init_db(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite3"
    make_v1_file(path)
    for leftover in tmp_path.glob("sessions.sqlite3-*"):
        leftover.unlink()
    with read_only(path), pytest.raises(StoreUnavailable) as caught:
        SQLiteStore(path).get("0" * 64, NOW)
    assert "strongbox_sessions_leases" in str(caught.value)
    assert "flask sessions init-db" in str(caught.value)
    assert "sessions.sqlite3" in str(caught.value)


def test_a_file_from_a_newer_release_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite3"
    SQLiteStore(path).init_db()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE strongbox_sessions_meta SET value = '99'")
    conn.close()
    with pytest.raises(StoreUnavailable, match="schema version 99, made by a newer"):
        SQLiteStore(path).get("0" * 64, NOW)
    assert sql_rows(path, "SELECT value FROM strongbox_sessions_meta") == [("99",)]


# -- leases ------------------------------------------------------------------------


def test_purge_removes_ended_lease_rows_only_in_batches(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite3"
    store = SQLiteStore(path)
    held = secrets.token_hex(32)
    for i in range(7):
        assert store.lock(secrets.token_hex(32), f"crashed-{i}", NOW + 5, NOW)
    assert store.lock(held, "holder", NOW + 100, NOW)
    assert store.purge(NOW + 5, limit=5) == 0
    assert len(sql_rows(path, "SELECT key FROM strongbox_sessions_leases")) == 3
    store.purge(NOW + 5, limit=5)
    assert sql_rows(path, "SELECT key, token FROM strongbox_sessions_leases") == [(held, "holder")]


def contend(path: Path, key: str, rounds: int, barrier: Any, results: Any) -> None:
    """One process taking part in ``rounds`` races for the lease on ``key``;
    it releases each one it wins, and reports the rounds it won."""
    store, mine, won = SQLiteStore(path), secrets.token_urlsafe(16), []
    for round_ in range(rounds):
        barrier.wait()
        if store.lock(key, mine, NOW + 30, NOW):
            won.append(round_)
        barrier.wait()  # every process has tried before the winner releases
        if won and won[-1] == round_ and not store.unlock(key, mine):
            won.append(-1)  # the winner could not release: reported as a failure
    results.put(won)


def test_processes_racing_for_one_lease_have_exactly_one_winner_per_round(tmp_path: Path) -> None:
    path, key, processes, rounds = tmp_path / "sessions.sqlite3", secrets.token_hex(32), 6, 10
    SQLiteStore(path).init_db()
    forked = multiprocessing.get_context("fork")
    barrier, results = forked.Barrier(processes, timeout=30), forked.SimpleQueue()
    workers = [forked.Process(target=contend, args=(path, key, rounds, barrier, results))
               for _ in range(processes)]
    with warnings.catch_warnings():
        # Forking a process with threads may deadlock; each child only opens its own store.
        warnings.simplefilter("ignore", DeprecationWarning)
        for worker in workers:
            worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0] * processes
    won = sorted(r for _ in workers for r in results.get())
    assert won == list(range(rounds)), "exactly one winner per round, each released"
