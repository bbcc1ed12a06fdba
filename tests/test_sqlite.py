"""The embedded default store: a real SQLite file."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, session

from flask_strongbox import SQLiteStore, StoreUnavailable, Strongbox

from .doubles import FakeClock
from .test_store_contract import NOW, make_record
from .tutorial import make_app


def test_default_store_is_a_0600_sqlite_file_in_the_instance_folder(tmp_path: Path) -> None:
    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    app.config.update(SECRET_KEY="h4Jk8Lm2Np6Qr0St3Uv7Wx1Yz5Ab9Cd", TESTING=True)
    Strongbox(app)

    @app.route("/")
    def index() -> str:
        session["user"] = "alice"
        return "ok"

    app.test_client().get("/")
    path = tmp_path / "instance" / "strongbox-sessions.sqlite3"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_dump_after_login_holds_no_name_no_id_no_cookie(tmp_path: Path, clock: FakeClock) -> None:
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


def test_corrupt_file_is_reported_and_never_replaced(tmp_path: Path, clock: FakeClock) -> None:
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


def test_read_only_file_is_a_clear_error(tmp_path: Path) -> None:
    import shutil
    import subprocess

    path = tmp_path / "sessions.sqlite3"
    first = SQLiteStore(path)
    first.create(make_record())
    first.close()
    # Root ignores permission bits; the immutable attribute binds root too.
    as_root = os.geteuid() == 0
    if as_root:
        if not shutil.which("chattr"):
            pytest.skip("running as root without chattr: cannot make a file read-only")
        subprocess.run(["chattr", "+i", str(path)], check=True)
    else:
        path.chmod(0o400)
    try:
        with pytest.raises(StoreUnavailable, match=r"sessions\.sqlite3"):
            SQLiteStore(path).create(make_record())
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(path)], check=True)


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
    tmp_path: Path, clock: FakeClock,
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
    assert response.headers.getlist("Retry-After") == ["2"]
    assert "Set-Cookie" not in response.headers
    with pytest.raises(StoreUnavailable, match=r"sessions\.sqlite3.*deleted"):
        store.create(make_record())
    assert session_files(tmp_path) == {}


def test_a_file_renamed_over_while_serving_is_a_503_and_left_untouched(
    tmp_path: Path, clock: FakeClock,
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
