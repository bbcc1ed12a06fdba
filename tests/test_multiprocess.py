"""A real WSGI server with several worker processes on one SQLite file.

gunicorn runs ``tests.wsgi_counter`` with four sync workers; a thread pool
sends concurrent increments on one session over HTTP. Every increment the
server acknowledges is persisted (100%); a 503 (a conflict the server refused
to merge) is retried, as its ``Retry-After`` asks. A logout in the middle of a
burst stays a logout.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from flask_strongbox import ids
from flask_strongbox.keys import Keyring

from .services import Reply, gunicorn, http_get

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 4
CLIENTS = 16
COOKIE = re.compile(r"^session=([^;]*);")

pytestmark = pytest.mark.slow


@dataclass
class Server:
    port: int
    database: Path
    secret: str

    def get(self, path: str, cookie: str | None = None) -> Reply:
        return http_get(self.port, path, cookie)

    def increment(self, cookie: str) -> Reply:
        """One increment, retried while the server refuses it with a 503."""
        for _ in range(1000):
            reply = self.get("/incr", cookie)
            if reply.status != 503:
                return reply
            assert reply.retry_after, "a 503 must say when to retry"
        raise AssertionError("an increment was refused 1000 times in a row")

    def login(self, name: str) -> str:
        reply = self.get(f"/login/{name}")
        assert reply.status == 200 and reply.cookie, reply
        return reply.cookie

    def is_live(self, cookie: str) -> bool:
        """Whether the SQLite file holds a live record for the session ``cookie`` names."""
        verified = ids.unsign(Keyring(self.secret), cookie)
        assert verified is not None
        key = ids.store_key(verified[1], verified[0])
        conn = sqlite3.connect(self.database)
        try:
            row = conn.execute(
                "SELECT length(blob) > 0 AND substr(blob, 1, 1) <> x'00' FROM strongbox_sessions "
                "WHERE key = ? AND expires > ?",  # a tombstone is no live session
                (key, time.time()),
            ).fetchone()
        finally:
            conn.close()
        return bool(row and row[0])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("multiprocess")
    database = folder / "sessions.sqlite3"
    secret = secrets.token_urlsafe(32)
    env = {"STRONGBOX_STORE": f"sqlite:///{database}", "SECRET_KEY": secret}
    with gunicorn("tests.wsgi_counter:create_app()", folder, env, workers=WORKERS, ready="/dump") as port:
        yield Server(port, database, secret)


def test_every_concurrent_increment_is_persisted(server: Server) -> None:
    total = 200
    cookie = server.login("alice")
    with ThreadPoolExecutor(CLIENTS) as pool:
        replies = list(pool.map(lambda _: server.increment(cookie), range(total)))
    assert {r.status for r in replies} == {200}
    # Each acknowledged increment saw a distinct count, 1..200, and all stuck.
    assert sorted(int(r.body) for r in replies) == list(range(1, total + 1))
    assert server.get("/dump", cookie).body.count('"n":200') == 1


def test_a_logout_in_the_middle_stays_a_logout(server: Server) -> None:
    cookie = server.login("bob")
    before = 50
    with ThreadPoolExecutor(CLIENTS) as pool:
        assert all(r.status == 200 for r in pool.map(lambda _: server.increment(cookie), range(before)))
    assert '"n":50' in server.get("/dump", cookie).body
    assert server.is_live(cookie)

    done = threading.Semaphore(0)

    def increment(_: int) -> Reply:
        try:
            return server.increment(cookie)
        finally:
            done.release()

    with ThreadPoolExecutor(CLIENTS) as pool:
        pending = [pool.submit(increment, i) for i in range(100)]
        for _ in range(30):  # log out once a third of the burst has finished
            assert done.acquire(timeout=30)
        logout = server.get("/logout", cookie)
        replies = [p.result(30) for p in pending]
    assert logout.status == 200 and logout.cookie == ""

    kept = sorted(int(r.body) for r in replies if r.status == 200 and r.cookie != "")
    # Increments saved before the logout continued the count without a gap...
    assert kept == list(range(before + 1, before + 1 + len(kept)))
    assert len(kept) >= 30 - CLIENTS
    for reply in replies:
        if reply.status == 401:  # ...and every later one found no session
            assert reply.cookie == "", "the response must clear the cookie"
        else:
            assert reply.status == 200
    assert any(r.status == 401 for r in replies)

    # Nothing came back: no live record, no counter, and the cookie is cleared.
    assert not server.is_live(cookie)
    after = server.get("/incr", cookie)
    assert (after.status, after.cookie) == (401, "")
    dumped = server.get("/dump", cookie)
    assert dumped.body.strip() == "{}"
    assert not server.is_live(cookie)


@pytest.mark.parametrize("kind", ["sqlite", "redis", "postgres"])
def test_exclusive_increments_through_gunicorn_all_answer_200_and_all_stick(
    kind: str, tmp_path: Path,
) -> None:
    """``STRONGBOX_EXCLUSIVE`` on 2 workers x 4 threads: 200 concurrent
    increments of one session, sent once each (no retry), all answered 200,
    all counted."""
    from . import services

    secret = secrets.token_urlsafe(32)
    env = {"SECRET_KEY": secret, "STRONGBOX_EXCLUSIVE": "1"}
    if kind == "sqlite":
        env["STRONGBOX_STORE"] = f"sqlite:///{tmp_path / 'sessions.sqlite3'}"
    elif kind == "redis":
        env.update(STRONGBOX_STORE=services.redis_url(), STRONGBOX_KEY_PREFIX=f"mp-{secrets.token_hex(4)}:")
    else:
        env.update(STRONGBOX_STORE=services.postgres_url(), STRONGBOX_TABLE=f"mp_{secrets.token_hex(4)}")
    with gunicorn("tests.wsgi_counter:create_app()", tmp_path, env, workers=2, threads=4,
                  ready="/dump") as port:
        server = Server(port, tmp_path / "sessions.sqlite3", secret)
        cookie = server.login("alice")
        with ThreadPoolExecutor(CLIENTS) as pool:
            replies = list(pool.map(lambda _: server.get("/incr", cookie), range(200)))
        assert [r.status for r in replies if r.status != 200] == []
        assert sorted(int(r.body) for r in replies) == list(range(1, 201))
        assert server.get("/dump", cookie).body.count('"n":200') == 1
        if kind == "postgres":
            _drop_table(env["STRONGBOX_TABLE"])


def _drop_table(table: str) -> None:
    import psycopg
    from psycopg import sql

    from . import services

    with psycopg.connect(services.postgres_url(), autocommit=True) as conn:
        for name in (table, f"{table}_meta", f"{table}_leases"):
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
