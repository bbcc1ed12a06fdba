"""Every store holds a bounded number of connections, whatever the server's
threading model: here Werkzeug's threaded server (``./dev serve``), which
starts a new thread for every request.
"""

from __future__ import annotations

import os
import secrets
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask, session
from werkzeug.serving import BaseWSGIServer, make_server

from flask_strongbox import Strongbox
from flask_strongbox.stores.base import Store
from flask_strongbox.stores.sqlite import SQLiteStore

from .conftest import SECRET
from .services import http_get, make_store

CLIENTS, REQUESTS = 4, 150  # 600 session requests, each on its own connection and thread


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


Serve = Callable[[Store], int]


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def pooled(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from make_store(request.param, tmp_path)


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Serve a small counting app on ``store`` with Werkzeug's threaded server
    (a new thread per request, as ``./dev serve``); returns the port."""
    servers: list[BaseWSGIServer] = []

    def start(store: Store) -> int:
        app = Flask(__name__)
        app.config.update(SECRET_KEY=SECRET, TESTING=True)
        Strongbox(app, store=store)

        @app.get("/count")
        def count() -> str:
            session["n"] = session.get("n", 0) + 1
            return str(session["n"])

        server = make_server("127.0.0.1", 0, app, threaded=True)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server.server_port

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def count_to(port: int, times: int, results: list[str]) -> None:
    """One browser: a fresh TCP connection (so a fresh server thread) per request."""
    cookie = None
    for _ in range(times):
        reply = http_get(port, "/count", cookie)
        cookie = reply.cookie or cookie
        results.append(f"{reply.status} {reply.body}")


@pytest.mark.slow
def test_a_thread_per_request_server_keeps_a_bounded_number_of_connections(
    pooled: Store, serve: Serve,
) -> None:
    """600 session requests from four browsers at once, each request on a new
    server thread: every one succeeds, each browser's count reaches 150, and the
    process ends with at most a few dozen more file descriptors than it began
    with (a connection kept per thread would leave 1,200 or more)."""
    port = serve(pooled)
    warm: list[str] = []
    count_to(port, 1, warm)
    assert warm == ["200 1"]
    before = open_fds()
    results: list[list[str]] = [[] for _ in range(CLIENTS)]
    browsers = [threading.Thread(target=count_to, args=(port, REQUESTS, r)) for r in results]
    for browser in browsers:
        browser.start()
    for browser in browsers:
        browser.join(timeout=120)
    for counted in results:
        assert counted == [f"200 {n}" for n in range(1, REQUESTS + 1)]
    grown = open_fds() - before
    assert grown <= 30, f"{grown} more file descriptors after {CLIENTS * REQUESTS} requests"


def test_sqlite_keeps_at_most_pool_size_idle_connections(tmp_path: Path) -> None:
    """Operations running at once each borrow a connection; once they are done
    only ``pool_size`` stay pooled, 800 reads in bursts of eight open no more
    than eight connections' worth, and ``close()`` closes everything."""
    from .test_store_contract import NOW, make_record

    store = SQLiteStore(tmp_path / "s.sqlite3", pool_size=2)
    record = make_record()
    store.create(record)
    before = open_fds()

    def burst() -> int:
        barrier = threading.Barrier(8)

        def read() -> None:
            barrier.wait()
            for _ in range(20):
                assert store.get(record.key, NOW) == record

        workers = [threading.Thread(target=read) for _ in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=30)
        assert store._pool.idle() <= 2
        return open_fds()

    # SQLite itself may keep a closed connection's descriptors for reuse while
    # other connections hold locks on the file: at most those of the eight
    # that ran at once (two each), however many operations ran.
    assert max(burst() for _ in range(5)) <= before + 8 * 2
    store.close()
    assert store._pool.idle() == 0
    assert open_fds() < before
    assert store.get(record.key, NOW) == record  # usable after close


def test_sqlite_pool_size_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one"):
        SQLiteStore(tmp_path / "s.sqlite3", pool_size=0)


def test_a_forked_child_opens_its_own_connections(tmp_path: Path) -> None:
    """The parent's pooled connections are never used in a forked worker: the
    child reads and writes through its own, and the parent's still work."""
    from .test_store_contract import NOW, make_record

    store = SQLiteStore(tmp_path / "s.sqlite3")
    parent_record, child_record = make_record(), make_record(secrets.token_hex(32))
    store.create(parent_record)
    assert store._pool.idle() == 1
    read, write = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns that forking a threaded process may deadlock; the
        # child here only uses the store, whose fork hook is what is tested.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: report, then leave without running atexit or pytest
        ok = store._pool.idle() == 0 and store.get(parent_record.key, NOW) == parent_record
        ok = ok and store.create(child_record)
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1" and status == 0
    os.close(read)
    assert store.get(child_record.key, NOW) == child_record


def test_a_full_redis_pool_is_unavailable_saying_so(tmp_path: Path) -> None:
    """redis-py's pool is bounded (``max_connections``, 100 by default in
    redis-py 8) and fails fast beyond it: a 503 that names the cause, not
    "cannot connect"."""
    import redis

    from flask_strongbox import StoreUnavailable
    from flask_strongbox.stores.redis import RedisStore

    from .services import redis_url

    pool = redis.ConnectionPool.from_url(redis_url(), max_connections=1)
    if not hasattr(redis.exceptions, "MaxConnectionsError"):
        pytest.skip("this redis-py raises a plain ConnectionError for a full pool")
    store = RedisStore(redis.Redis(connection_pool=pool), prefix=f"t{secrets.token_hex(4)}:")
    held = pool.get_connection()
    try:
        with pytest.raises(StoreUnavailable, match="max_connections"):
            store.get("0" * 64, 0.0)
    finally:
        pool.release(held)
        pool.disconnect()
    assert store.get("0" * 64, 0.0) is None
