"""A PostgreSQL that stops answering: every statement, lock wait and dead peer
counts against the store's timeout, so a request fails with a 503 within a
few seconds instead of hanging, and the store recovers by itself.

Lock tests use a schema of their own on the shared server; the stopped-server
tests start a throwaway PostgreSQL and SIGSTOP it (never the shared one).
Elapsed times are measured with ``time.monotonic``: they measure the library's
own timeout, not a sleep of the test's.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from typing import Any, TypeVar

import psycopg
import pytest
from flask import Flask, session
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from flask_strongbox import Strongbox
from flask_strongbox.errors import StoreUnavailable
from flask_strongbox.stores.postgres import PostgresStore
from flask_strongbox.stores.watchdog import watchdog

from . import services
from .conftest import SECRET
from .test_store_contract import NOW, make_record

TIMEOUT = 1.0
BOUND = 3.0  # the timeout, the client's half second of grace, and slack for a busy machine
T = TypeVar("T")


@pytest.fixture
def schema() -> Iterator[str]:
    yield from services.postgres_schema()


@pytest.fixture
def store(schema: str) -> Iterator[PostgresStore]:
    store = PostgresStore(services.postgres_url(), schema=schema, connect_timeout=TIMEOUT)
    store.init_db()
    yield store
    store.close()


@pytest.fixture
def locker(schema: str) -> Iterator[Callable[[], AbstractContextManager[None]]]:
    """``with locker():`` holds ACCESS EXCLUSIVE on the store's table from
    another connection, as a migration or a stuck admin session would. The
    server ends that session after 10 s idle, so a store that waits for ever
    fails the test instead of hanging it."""
    conn = psycopg.connect(services.postgres_url(), autocommit=True)
    conn.execute("SET idle_in_transaction_session_timeout = '10s'")

    @contextmanager
    def hold() -> Iterator[None]:
        with conn.transaction():
            conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                sql.Identifier(schema, "strongbox_sessions")))
            yield

    yield hold
    conn.close()


Locker = Callable[[], AbstractContextManager[None]]


def timed(call: Callable[[], object]) -> tuple[StoreUnavailable, float]:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        call()
    return caught.value, time.monotonic() - started


def eventually(call: Callable[[], T], seconds: float = 15) -> T:
    """``call()``'s result once it stops raising StoreUnavailable."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return call()
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise


# -- a lock held by someone else -------------------------------------------------


def test_a_table_lock_held_elsewhere_fails_reads_and_writes_within_the_timeout(
    store: PostgresStore, locker: Locker,
) -> None:
    """Each call waits for the lock no longer than the timeout, then raises
    StoreUnavailable saying why; nothing is half-written, and once the lock is
    released the same store works at once."""
    record = make_record()
    assert store.create(record)
    with locker():
        for call in (lambda: store.get(record.key, NOW),
                     lambda: store.replace(replace(record, version=2, blob=b"v2"), 1, NOW),
                     lambda: store.touch(record.key, NOW + 600, NOW),
                     lambda: store.create(make_record())):
            error, elapsed = timed(call)
            assert elapsed < BOUND, f"waited {elapsed:.2f} s"
            assert elapsed >= TIMEOUT * 0.9, "gave up before the timeout"
            assert "longer than 1 s" in str(error) and "lock" in str(error)
    assert store.get(record.key, NOW) == record  # the replace and touch did not happen
    assert store.replace(replace(record, version=2, blob=b"v2"), 1, NOW)


def test_a_connection_whose_statement_timed_out_is_not_reused_half_used(
    store: PostgresStore, locker: Locker,
) -> None:
    """After a timeout every pooled connection is idle and usable: the pool
    never hands out one still inside the failed statement."""
    record = make_record()
    store.create(record)
    with locker():
        timed(lambda: store.get(record.key, NOW))
    pool = store._connections._get_pool()
    for _ in range(store.pool_max):
        conn = pool.getconn(timeout=5)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        pool.putconn(conn)
    assert store.get(record.key, NOW) == record


def test_the_server_side_timeouts_are_set_on_every_connection(store: PostgresStore) -> None:
    store.get("k" * 64, NOW)
    with store._connections.connection() as conn:
        found = conn.execute("SELECT current_setting('statement_timeout'), "
                             "current_setting('lock_timeout')").fetchone()
    assert found == ("1s", "1s")


def test_keepalives_and_tcp_user_timeout_are_set_unless_the_url_sets_them(schema: str) -> None:
    url = make_conninfo(services.postgres_url(), keepalives_idle=30)
    store = PostgresStore(url, schema=schema, connect_timeout=2)
    try:
        store.get("k" * 64, NOW)
        with store._connections.connection() as conn:
            used = conninfo_to_dict(conn.info.dsn)
        assert used["keepalives_idle"] == "30"  # the URL's own value wins
        assert used["keepalives_interval"] == "2" and used["keepalives_count"] == "3"
        if psycopg.pq.version() >= 120000:
            assert used["tcp_user_timeout"] == "2000"
    finally:
        store.close()


@pytest.mark.slow
def test_a_locked_table_is_a_503_with_retry_after_and_the_user_stays_logged_in(
    store: PostgresStore, locker: Locker,
) -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, TESTING=True,
                      STRONGBOX_RETRY_AFTER=7)
    Strongbox(app, store=store)

    @app.get("/login")
    def login() -> str:
        session["user"] = "alice"
        return "ok"

    @app.get("/whoami")
    def whoami() -> str:
        return str(session.get("user", ""))

    client = app.test_client()
    assert client.get("/login").status_code == 200
    with locker():
        started = time.monotonic()
        response = client.get("/whoami")
        elapsed = time.monotonic() - started
    assert response.status_code == 503 and elapsed < BOUND
    assert response.headers.getlist("Retry-After") == ["7"]
    assert "Set-Cookie" not in response.headers
    assert client.get("/whoami").get_data(as_text=True) == "alice"


def test_bounded_pool_connections_whatever_the_number_of_threads(schema: str) -> None:
    """psycopg_pool opens at most ``pool_max`` connections however many
    threads use the store at once; the rest wait their turn."""
    name = f"strongbox_{secrets.token_hex(4)}"
    store = PostgresStore(make_conninfo(services.postgres_url(), application_name=name),
                          schema=schema, pool=(1, 3))
    store.init_db()
    record = make_record()
    store.create(record)
    barrier, peak = threading.Barrier(12), []
    admin = psycopg.connect(services.postgres_url(), autocommit=True)

    def hammer() -> None:
        barrier.wait()
        for _ in range(30):
            assert store.get(record.key, NOW) == record

    workers = [threading.Thread(target=hammer) for _ in range(12)]
    for worker in workers:
        worker.start()
    while any(w.is_alive() for w in workers):
        row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                            [name]).fetchone()
        peak.append(row[0] if row else 0)
    for worker in workers:
        worker.join()
    admin.close()
    store.close()
    assert 1 <= max(peak) <= 3


# -- a server that is stopped --------------------------------------------------------


@pytest.fixture(scope="module")
def stoppable() -> Iterator[services.PostgresServer]:
    with services.PostgresServer() as server:
        yield server


@contextmanager
def paused(server: services.PostgresServer) -> Iterator[None]:
    """The server stopped for the block, and for 10 s at most, so a store that
    waits for ever fails the test instead of hanging it."""
    server.pause()
    safety = threading.Timer(10, server.resume)
    safety.start()
    try:
        yield
    finally:
        safety.cancel()
        server.resume()


def settled(server: services.PostgresServer, seconds: float = 15) -> None:
    """Wait until no other backend of the server runs a statement: those whose
    clients gave up while it was stopped finish (or roll back) after SIGCONT."""
    deadline = time.monotonic() + seconds
    with psycopg.connect(server.url, autocommit=True) as conn:
        while conn.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                           "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                           ).fetchone() != (0,):
            assert time.monotonic() < deadline, "a statement is still running"
            time.sleep(0.01)


@pytest.mark.slow
def test_a_stopped_server_fails_each_call_within_the_timeout_then_recovers(
    stoppable: services.PostgresServer,
) -> None:
    """A SIGSTOPped server enforces no timeout and its kernel still
    acknowledges every packet: the client's own deadline ends each call, and
    after SIGCONT the store recovers. A write the server had received before
    it stopped may complete when it resumes, after its caller got the error:
    it is then there whole, never in part."""
    store = PostgresStore(stoppable.url, table=f"t_{secrets.token_hex(4)}", connect_timeout=TIMEOUT,
                          pool=(2, 10))
    record = make_record()
    newer = replace(record, version=2, blob=b"v2" * 1000, expires=NOW + 900)
    try:
        assert store.create(record)
        with paused(stoppable):
            for call in (lambda: store.get(record.key, NOW),
                         lambda: store.replace(newer, 1, NOW),
                         lambda: store.create(make_record())):
                error, elapsed = timed(call)
                assert elapsed < BOUND, f"waited {elapsed:.2f} s: {error}"
        eventually(lambda: store.get(record.key, NOW))
        settled(stoppable)  # the abandoned statements ran to their end, or were rolled back
        found = store.get(record.key, NOW)
        assert found in (record, replace(newer, created=record.created))
        assert found is not None
        assert store.replace(replace(newer, version=found.version + 1), found.version, NOW)
    finally:
        store.close()


@pytest.mark.slow
def test_a_call_the_stopped_server_never_answers_drops_its_connection(
    stoppable: services.PostgresServer,
) -> None:
    """A statement sent to a stopped server fails within the bound with "no
    answer", and its connection is closed rather than pooled again."""
    store = PostgresStore(stoppable.url, table=f"t_{secrets.token_hex(4)}", connect_timeout=TIMEOUT)
    try:
        store.init_db()
        used: list[psycopg.Connection[Any]] = []

        def select() -> None:
            with store._connections.connection() as conn:
                used.append(conn)
                conn.execute("SELECT 1")

        with paused(stoppable):
            error, elapsed = timed(select)
        assert elapsed < BOUND
        assert "no answer within 1.5 s" in str(error)
        assert used[0].closed
        assert eventually(lambda: store.get("k" * 64, NOW)) is None
    finally:
        store.close()


@pytest.mark.slow
def test_the_watchdog_ends_a_blocked_read_and_costs_little() -> None:
    """A read that would block for ever returns end-of-file once its deadline
    passes; a watched call that finishes in time is left alone."""
    import socket

    left, right = socket.socketpair()
    try:
        with watchdog.watch(left.fileno(), 0.2) as watch:
            started = time.monotonic()
            assert left.recv(1) == b""  # shut down: end of file instead of waiting
        assert watch.expired and 0.15 < time.monotonic() - started < BOUND
        with watchdog.watch(right.fileno(), 5) as watch:
            pass
        assert not watch.expired
    finally:
        left.close()
        right.close()
