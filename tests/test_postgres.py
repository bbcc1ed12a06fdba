"""PostgreSQL-only behaviour, against a real server: schema creation, purge
under load, and what happens when the database goes away and comes back.

The shared behaviour is pinned by ``test_store_contract.py``.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from flask_strongbox.errors import StoreUnavailable
from flask_strongbox.stores.base import StoreStats
from flask_strongbox.stores.postgres import PostgresStore
from flask_strongbox.stores.postgres_schema import SCHEMA_VERSION

from . import services
from .test_store_contract import NOW, make_record

MakeStore = Callable[..., PostgresStore]
SESSION_TABLES = {"strongbox_sessions", "strongbox_sessions_leases", "strongbox_sessions_meta"}


@pytest.fixture
def schema() -> Iterator[str]:
    yield from services.postgres_schema()


@pytest.fixture
def admin(schema: str) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """A separate connection to inspect and disturb the database."""
    with psycopg.connect(services.postgres_url(), autocommit=True) as conn:
        yield conn


@pytest.fixture
def make_store(schema: str) -> Iterator[MakeStore]:
    stores: list[PostgresStore] = []

    def make(conninfo: str | None = None, **options: Any) -> PostgresStore:
        options.setdefault("schema", schema)
        store = PostgresStore(conninfo or services.postgres_url(), **options)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


def tables(admin: psycopg.Connection[Any], schema: str) -> set[str]:
    rows = admin.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", [schema])
    return {row[0] for row in rows}


def indexes(admin: psycopg.Connection[Any], schema: str) -> dict[str, str]:
    rows = admin.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s", [schema])
    return dict(rows.fetchall())


def meta(admin: psycopg.Connection[Any], schema: str, table: str) -> list[tuple[str, str]]:
    query = sql.SQL("SELECT name, value FROM {}").format(sql.Identifier(schema, f"{table}_meta"))
    return admin.execute(query).fetchall()


# -- schema --------------------------------------------------------------------


def test_first_use_creates_table_indexes_and_schema_version(
    schema: str, admin: psycopg.Connection[Any], make_store: MakeStore,
) -> None:
    store = make_store()
    assert tables(admin, schema) == set(), "construction must not touch the database"
    assert store.get("k" * 64, NOW) is None
    assert tables(admin, schema) == SESSION_TABLES
    found = indexes(admin, schema)
    assert {"strongbox_sessions_pkey", "strongbox_sessions_expires",
            "strongbox_sessions_user", "strongbox_sessions_leases_pkey"} <= set(found)
    assert 'WHERE ("user" IS NOT NULL)' in found["strongbox_sessions_user"]
    assert meta(admin, schema, "strongbox_sessions") == [("schema_version", str(SCHEMA_VERSION))]
    columns = admin.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = 'strongbox_sessions' ORDER BY ordinal_position",
        [schema],
    ).fetchall()
    seconds = ("double precision", "NO")
    assert [(name, *rest) for name, *rest in columns] == [
        ("key", "text", "NO"), ("blob", "bytea", "NO"), ("version", "bigint", "NO"),
        ("created", *seconds), ("last_seen", *seconds), ("expires", *seconds),
        ("absolute_expires", *seconds), ("user", "text", "YES"), ("info", "bytea", "YES"),
    ]
    lease_columns = admin.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = 'strongbox_sessions_leases' "
        "ORDER BY ordinal_position", [schema],
    ).fetchall()
    assert lease_columns == [("key", "text", "NO"), ("token", "text", "NO"), ("until", *seconds)]


def test_init_db_is_idempotent_and_leaves_rows_and_other_tables_alone(
    schema: str, admin: psycopg.Connection[Any], make_store: MakeStore,
) -> None:
    unrelated = sql.Identifier(schema, "unrelated")
    admin.execute(sql.SQL("CREATE TABLE {} (x int)").format(unrelated))
    admin.execute(sql.SQL("INSERT INTO {} VALUES (42)").format(unrelated))
    store = make_store()
    store.init_db()
    record = make_record(user_hash="u" * 64)
    assert store.create(record)
    store.init_db()
    make_store().init_db()
    assert store.get(record.key, NOW) == record
    assert admin.execute(sql.SQL("SELECT x FROM {}").format(unrelated)).fetchall() == [(42,)]
    assert tables(admin, schema) == {*SESSION_TABLES, "unrelated"}
    assert meta(admin, schema, "strongbox_sessions") == [("schema_version", "2")]


def test_init_db_creates_a_missing_schema(
    schema: str, admin: psycopg.Connection[Any], make_store: MakeStore,
) -> None:
    admin.execute(sql.SQL("DROP SCHEMA {}").format(sql.Identifier(schema)))
    make_store().init_db()
    assert tables(admin, schema) == SESSION_TABLES


def test_custom_table_name(
    schema: str, admin: psycopg.Connection[Any], make_store: MakeStore,
) -> None:
    store = make_store(table="app_sessions")
    record = make_record()
    assert store.create(record)
    assert store.get(record.key, NOW) == record
    assert tables(admin, schema) == {"app_sessions", "app_sessions_leases", "app_sessions_meta"}
    assert {"app_sessions_expires", "app_sessions_user"} <= set(indexes(admin, schema))
    assert "app_sessions" in repr(store)


def test_a_table_from_a_newer_release_is_refused_not_downgraded(
    schema: str, admin: psycopg.Connection[Any], make_store: MakeStore,
) -> None:
    make_store().init_db()
    admin.execute(sql.SQL("UPDATE {} SET value = '99'").format(
        sql.Identifier(schema, "strongbox_sessions_meta")))
    newer = make_store()
    with pytest.raises(StoreUnavailable, match="schema version 99"):
        newer.get("k" * 64, NOW)
    with pytest.raises(StoreUnavailable, match="schema version 99"):
        newer.init_db()
    assert meta(admin, schema, "strongbox_sessions") == [("schema_version", "99")]


BAD_NAMES = ["", "1st", "a-b", "a b", 'x"; DROP TABLE y; --', "é"]


@contextmanager
def app_role(admin: psycopg.Connection[Any], schema: str, *dml_tables: str) -> Iterator[str]:
    """A login role with ``USAGE`` on the schema, DML rights on ``dml_tables``
    and ``SELECT`` on the meta table, as the README's grants give an app;
    yields its connection string, and drops it after."""
    role, password = sql.Identifier(schema), f"pw-{secrets.token_hex(8)}"
    admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(role, sql.Literal(password)))
    try:
        admin.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), role))
        for table in dml_tables:
            admin.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {}").format(
                sql.Identifier(schema, table), role))
        admin.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(
            sql.Identifier(schema, "strongbox_sessions_meta"), role))
        yield make_conninfo(services.postgres_url(), user=schema, password=password)
    finally:
        admin.execute(sql.SQL("DROP OWNED BY {}").format(role))
        admin.execute(sql.SQL("DROP ROLE {}").format(role))


def test_once_created_the_app_user_needs_no_create_privilege(
    schema: str, admin: psycopg.Connection[Any], make_store: MakeStore,
) -> None:
    """``init-db`` as the owner; the app runs as a user with only DML rights."""
    make_store().init_db()
    with app_role(admin, schema, "strongbox_sessions", "strongbox_sessions_leases") as app_user:
        store = make_store(app_user)
        record = make_record(user_hash="u" * 64)
        assert store.create(record) and store.get(record.key, NOW) == record
        assert store.touch(record.key, NOW + 301, NOW + 1)
        assert store.lock(record.key, "t" * 22, NOW + 10, NOW) and store.unlock(record.key, "t" * 22)
        assert store.purge(NOW + 1000) == 1 and store.stats(NOW).live == 0
        store.close()


# -- a database made by 0.1 (schema version 1, no lease table) ------------------------

V1_TABLES = (
    """CREATE TABLE {t} (key text COLLATE "C" PRIMARY KEY, blob bytea NOT NULL,
        version bigint NOT NULL, created double precision NOT NULL,
        last_seen double precision NOT NULL, expires double precision NOT NULL,
        absolute_expires double precision NOT NULL, "user" text, info bytea)""",
    "CREATE INDEX strongbox_sessions_expires ON {t} (expires)",
    'CREATE INDEX strongbox_sessions_user ON {t} ("user") WHERE "user" IS NOT NULL',
    "CREATE TABLE {meta} (name text PRIMARY KEY, value text NOT NULL)",
    "INSERT INTO {meta} VALUES ('schema_version', '1')",
)


def make_v1_database(admin: psycopg.Connection[Any], schema: str) -> str:
    """The tables as 0.1's ``init-db`` made them, holding one live session;
    its store key."""
    names = {"t": sql.Identifier(schema, "strongbox_sessions"),
             "meta": sql.Identifier(schema, "strongbox_sessions_meta")}
    for statement in V1_TABLES:
        admin.execute(sql.SQL(statement).format(**names))
    key = secrets.token_hex(32)
    admin.execute(sql.SQL("INSERT INTO {t} VALUES (%s, 'sealed', 1, %s, %s, %s, %s, NULL, NULL)")
                  .format(**names), [key, NOW, NOW, NOW + 300, NOW + 3600])
    return key


def test_a_0_1_database_is_upgraded_on_first_use_and_keeps_its_sessions(
    schema: str, admin: psycopg.Connection[Any], make_store: MakeStore,
) -> None:
    key = make_v1_database(admin, schema)
    store = make_store()
    found = store.get(key, NOW)
    assert found is not None and found.blob == b"sealed"
    assert tables(admin, schema) == SESSION_TABLES
    assert meta(admin, schema, "strongbox_sessions") == [("schema_version", str(SCHEMA_VERSION))]
    assert store.lock(key, "a" * 22, NOW + 10, NOW)
    assert not store.lock(key, "b" * 22, NOW + 10, NOW)
    assert store.unlock(key, "a" * 22)
    assert store.get(key, NOW) == found


def test_a_0_1_database_whose_app_user_cannot_upgrade_it_keeps_serving_sessions(
    schema: str, admin: psycopg.Connection[Any], make_store: MakeStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With 0.1's grants only, sessions go on working; taking a lease says
    what to run, and works once the owner has run it, without a restart."""
    key = make_v1_database(admin, schema)
    with app_role(admin, schema, "strongbox_sessions") as app_user:
        store = make_store(app_user)
        assert store.get(key, NOW) is not None
        assert "strongbox_sessions_leases" in caplog.text and "init-db" in caplog.text
        record = make_record()
        assert store.create(record) and store.get(record.key, NOW) == record
        assert store.purge(NOW + 1000) == 2
        with pytest.raises(StoreUnavailable, match=r"no \S+strongbox_sessions_leases table.*init-db"):
            store.lock(key, "a" * 22, NOW + 10, NOW)
        with pytest.raises(StoreUnavailable, match="init-db"):
            store.unlock(key, "a" * 22)
        assert meta(admin, schema, "strongbox_sessions") == [("schema_version", "1")]

        make_store().init_db()  # the owner
        admin.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {}").format(
            sql.Identifier(schema, "strongbox_sessions_leases"), sql.Identifier(schema)))
        assert store.lock(key, "a" * 22, NOW + 10, NOW) and store.unlock(key, "a" * 22)
        assert meta(admin, schema, "strongbox_sessions") == [("schema_version", str(SCHEMA_VERSION))]
        store.close()


@pytest.mark.parametrize("name", [*BAD_NAMES, "t" * 51])
def test_bad_table_names_are_refused_at_construction(name: str) -> None:
    with pytest.raises(ValueError, match="letters, digits and underscores"):
        PostgresStore("", table=name)


@pytest.mark.parametrize("name", [*BAD_NAMES, "s" * 64])
def test_bad_schema_names_are_refused_at_construction(name: str) -> None:
    with pytest.raises(ValueError, match="letters, digits and underscores"):
        PostgresStore("", schema=name)


# -- purge ---------------------------------------------------------------------


def insert_expired(admin: psycopg.Connection[Any], schema: str, count: int) -> None:
    admin.execute(
        sql.SQL("INSERT INTO {} SELECT 'dead' || i, '\\x00', 1, 0, 0, %s, %s "
                "FROM generate_series(1, %s) AS i").format(
            sql.Identifier(schema, "strongbox_sessions")),
        [NOW - 10, NOW - 10, count],
    )


def test_purge_works_in_batches_of_limit(
    schema: str, admin: psycopg.Connection[Any], make_store: MakeStore,
) -> None:
    store = make_store()
    store.init_db()
    insert_expired(admin, schema, 1200)
    live = make_record()
    store.create(live)
    assert [store.purge(NOW, limit=500) for _ in range(4)] == [500, 500, 200, 0]
    assert store.stats(NOW) == StoreStats(live=1, expired=0)
    assert store.get(live.key, NOW) == live


def test_purge_removes_ended_lease_rows_only_in_batches(
    schema: str, admin: psycopg.Connection[Any], make_store: MakeStore,
) -> None:
    store = make_store()
    held = secrets.token_hex(32)
    for i in range(7):
        assert store.lock(secrets.token_hex(32), f"crashed-{i}", NOW + 5, NOW)
    assert store.lock(held, "holder", NOW + 100, NOW)
    leases = sql.SQL("SELECT key, token FROM {}").format(
        sql.Identifier(schema, "strongbox_sessions_leases"))
    assert store.purge(NOW + 5, limit=5) == 0, "leases are not counted"
    assert len(admin.execute(leases).fetchall()) == 3
    store.purge(NOW + 5, limit=5)
    assert admin.execute(leases).fetchall() == [(held, "holder")]


def test_purge_skips_rows_locked_by_a_request_instead_of_waiting(
    schema: str, admin: psycopg.Connection[Any], make_store: MakeStore,
) -> None:
    store = make_store()
    store.init_db()
    insert_expired(admin, schema, 3)
    table = sql.Identifier(schema, "strongbox_sessions")
    purged: list[int] = []
    with admin.transaction():
        admin.execute(sql.SQL("SELECT 1 FROM {} WHERE key = 'dead1' FOR UPDATE").format(table))
        thread = threading.Thread(target=lambda: purged.append(store.purge(NOW)))
        thread.start()
        thread.join(timeout=2)
        assert not thread.is_alive(), "purge waited for a row lock"
    assert purged == [2]
    assert store.purge(NOW) == 1


def test_purge_does_not_hold_up_concurrent_reads_and_writes(
    schema: str, admin: psycopg.Connection[Any], make_store: MakeStore,
) -> None:
    """A purge of 20,000 rows runs beside another worker (its own pool) doing
    requests; no request waits long for it."""
    purger, worker = make_store(), make_store()
    purger.init_db()
    insert_expired(admin, schema, 20_000)
    purged: list[int] = []

    def purge_all() -> None:
        while count := purger.purge(NOW, limit=500):
            purged.append(count)

    thread = threading.Thread(target=purge_all)
    slowest, requests = 0.0, 0
    thread.start()
    while thread.is_alive() or requests < 20:
        started = time.monotonic()
        record = make_record()
        worker.create(record)
        worker.touch(record.key, NOW + 301, NOW + 1)
        worker.replace(make_record(record.key, version=2, blob=b"v2"), 1, NOW + 1)
        assert not worker.touch(f"dead{requests * 97 % 20_000 + 1}", NOW + 300, NOW)
        assert worker.get(record.key, NOW + 1) is not None
        slowest, requests = max(slowest, time.monotonic() - started), requests + 1
    thread.join()
    assert sum(purged) == 20_000
    assert slowest < 0.5, f"a request waited {slowest:.3f} s"


# -- the database goes away ------------------------------------------------------


class Proxy:
    """A loopback TCP proxy in front of the real server. :meth:`cut` closes
    every connection and refuses new ones; :meth:`restore` listens again on
    the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target, self.port = target, 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self.restore()

    def restore(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        self.port = listener.getsockname()[1]
        self._start(self._accept, listener)

    def cut(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked on it
            sock.close()

    def close(self) -> None:
        self.cut()
        for thread in self._threads:
            thread.join(timeout=5)

    def _start(self, target: Callable[..., None], *args: socket.socket) -> None:
        with self._lock:
            self._sockets.extend(args)
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._start(self._pipe, client, upstream)
            self._start(self._pipe, upstream, client)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    params = conninfo_to_dict(services.postgres_url())
    proxy = Proxy((str(params.get("host", "127.0.0.1")), int(str(params.get("port", 5432)))))
    yield proxy
    proxy.close()


def via(proxy: Proxy, password: str) -> str:
    """The test server's conninfo, through ``proxy``, with a password set."""
    params = conninfo_to_dict(services.postgres_url())
    params.update(host="127.0.0.1", port=proxy.port)
    params.setdefault("password", password)  # ignored under trust auth
    return make_conninfo("", **params)


def assert_no_password(password: str, *texts: object) -> None:
    for text in texts:
        assert password not in str(text)


def test_database_down_raises_unavailable_then_the_same_store_recovers(
    proxy: Proxy, make_store: MakeStore, caplog: pytest.LogCaptureFixture,
) -> None:
    password = f"pw-{secrets.token_hex(8)}"
    store = make_store(via(proxy, password), connect_timeout=1)
    record = make_record()
    assert store.create(record)
    proxy.cut()
    with pytest.raises(StoreUnavailable) as info:
        store.get(record.key, NOW)
    assert f"port={proxy.port}" in str(info.value)
    assert_no_password(password, info.value, info.value.__cause__, repr(store), caplog.text)
    proxy.restore()
    deadline = time.monotonic() + 10
    while True:
        try:
            assert store.get(record.key, NOW) == record
            break
        except StoreUnavailable:
            assert time.monotonic() < deadline, "the store did not recover within 10 s"
    assert store.touch(record.key, NOW + 301, NOW + 1)


def test_connections_killed_by_the_server_are_replaced_without_an_error(
    schema: str, admin: psycopg.Connection[Any], make_store: MakeStore,
) -> None:
    """After a restart or an admin shutdown every pooled connection is dead;
    the next request gets a fresh one at once instead of a 503."""
    app_name = f"strongbox_{schema}"
    conninfo = make_conninfo(services.postgres_url(), application_name=app_name)
    store = make_store(conninfo, pool=(5, 10))
    record = make_record()
    store.create(record)
    backends = "FROM pg_stat_activity WHERE application_name = %s"
    deadline = time.monotonic() + 5
    while (admin.execute(f"SELECT count(*) {backends}", [app_name]).fetchone() or (0,))[0] < 5:
        assert time.monotonic() < deadline, "the pool did not open pool_min connections"
        time.sleep(0.02)
    killed = admin.execute(
        f"SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) {backends}", [app_name])
    assert (killed.fetchone() or (0,))[0] >= 5
    started = time.monotonic()
    assert store.get(record.key, NOW) == record
    assert time.monotonic() - started < 1


def test_unreachable_server_fails_on_first_use_not_at_construction(
    make_store: MakeStore, caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nothing listens there
    password = f"pw-{secrets.token_hex(8)}"
    store = make_store(f"postgresql://app:{password}@127.0.0.1:{port}/sessions",
                       connect_timeout=1)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        store.create(make_record())
    assert time.monotonic() - started < 5
    assert f"host=127.0.0.1 port={port} dbname=sessions" in str(info.value)
    assert_no_password(password, info.value, info.value.__cause__, repr(store), caplog.text)


# -- construction ----------------------------------------------------------------


def test_from_url_takes_postgres_urls_and_never_shows_the_password() -> None:
    for url in ("postgresql://app:hunter2@db.example:6543/web", "postgres://app:hunter2@db/web"):
        store = PostgresStore.from_url(url, table="web_sessions", timeout=2)
        assert "hunter2" not in repr(store) and "web_sessions" in repr(store)
        assert store.connect_timeout == 2
    with pytest.raises(ValueError, match="postgresql://") as info:
        PostgresStore.from_url("mysql://app:hunter2@db/web")
    assert "hunter2" not in str(info.value)
    with pytest.raises(ValueError, match="cannot be parsed") as info:
        PostgresStore("host=db password=hunter2 hunter3")
    assert "hunter" not in str(info.value)
