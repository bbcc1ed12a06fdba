"""A record a store cannot read (a field of the wrong type or missing, a Redis
key of the wrong type) never gives a raw exception.

The contract, on every store that decodes what it reads: ``get`` raises
:class:`UnreadableRecord` with a short, log-safe reason; listings skip such a
record; ``stats`` counts one that can never expire as expired and ``purge``
removes it; ``create``, ``replace`` and ``touch`` over it return ``False`` or
replace it; ``delete`` removes whatever is under the key, so the session layer
can clear it. Bad rows are written with SQL, bad hashes and keys with a raw
Redis client. PostgreSQL's typed columns make most bad values impossible (text
in a number, an integer blob, a missing NOT NULL field); what remains is a NaN
and a table made by hand without NOT NULL. The memory store decodes nothing:
it keeps the objects it was given.

A lease that cannot be read (a row or key of the wrong types, an end that is
not a finite number) is no lease: ``lock`` takes it over, ``unlock`` by any
token leaves it with ``False``, and the SQL stores' ``purge`` removes it.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from psycopg import sql

from flask_strongbox import SQLiteStore, UnreadableRecord
from flask_strongbox.stores.base import Record, Store, StoreStats
from flask_strongbox.stores.postgres import PostgresStore
from flask_strongbox.stores.redis import RedisStore

from . import services
from .test_store_contract import NOW, make_record

USER = "u" * 64


def assert_cleared_like_any_bad_record(store: Store, bad: Record) -> None:
    """What every store does with an unreadable record under ``bad.key``."""
    with pytest.raises(UnreadableRecord):
        store.get(bad.key, NOW)
    assert not store.create(bad)
    store.replace(replace(bad, version=2), 1, NOW)  # True or False, never a raw error
    store.touch(bad.key, NOW + 300, NOW)
    store.sessions_of(USER, NOW)
    store.stats(NOW)
    assert store.delete(bad.key)
    assert store.get(bad.key, NOW) is None
    assert store.create(bad) and store.get(bad.key, NOW) == bad


def assert_taken_over_like_no_lease(store: Store, key: str) -> None:
    """What every store does with an unreadable lease under ``key``."""
    assert not store.unlock(key, "someone-else")
    mine = secrets.token_urlsafe(16)
    assert store.lock(key, mine, NOW + 10, NOW)
    assert not store.lock(key, secrets.token_urlsafe(16), NOW + 10, NOW), "now a lease like any"
    assert store.unlock(key, mine)


def test_the_reason_names_the_field_and_never_its_content() -> None:
    row = ("k" * 64, b"blob", 1, NOW, NOW, "secret-looking-text", NOW, None, None)
    with pytest.raises(UnreadableRecord) as caught:
        Record.from_row(row)
    assert (caught.value.key, caught.value.reason) == ("k" * 64, "expires is str, not a number")
    assert "secret" not in str(caught.value) and "secret" not in repr(caught.value)


@pytest.mark.parametrize(("row", "reason"), [
    ((1, b"", 1, NOW, NOW, NOW, NOW, None, None), "key is int, not text"),
    (("k", b"", True, NOW, NOW, NOW, NOW, None, None), "version is bool, not an integer"),
    (("k", b"", 1, NOW, float("nan"), NOW, NOW, None, None), "last_seen is NaN, not a number"),
    (("k", bytearray(), 1, NOW, NOW, NOW, NOW, None, None), "blob is bytearray, not bytes"),
    (("k", b"", 1, NOW, NOW, NOW, NOW, None), "8 fields instead of 9"),
])
def test_from_row_wants_exact_types(row: tuple[Any, ...], reason: str) -> None:
    with pytest.raises(UnreadableRecord, match=reason):
        Record.from_row(row)


def test_from_row_accepts_integer_times() -> None:
    record = Record.from_row(("k", b"", 1, 1, 2, 3, 4, None, b"i"))
    assert (record.created, record.expires, record.sealed_device) == (1, 3, b"i")


# -- SQLite ------------------------------------------------------------------------


def raw(path: Path, statement: str, *params: object) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(statement, params)
    conn.close()


SQLITE_BAD_ROWS = [
    ("expires", "'soon'", "expires is str, not a number"),
    ("created", "x'0102'", "created is bytes, not a number"),
    ("version", "'two'", "version is str, not an integer"),
    ("blob", "42", "blob is int, not bytes"),
    ("blob", "'text'", "blob is str, not bytes"),
    ("user", "x'00ff'", "user is bytes, not text"),
    ("info", "7", "info is int, not bytes"),
]


@pytest.mark.parametrize(("column", "value", "reason"), SQLITE_BAD_ROWS)
def test_sqlite_row_of_the_wrong_types(
    tmp_path: Path, column: str, value: str, reason: str,
) -> None:
    path = tmp_path / "s.sqlite3"
    store = SQLiteStore(path)
    bad, good = make_record(user_hash=USER), make_record(user_hash=USER, created=NOW + 1)
    store.create(bad)
    store.create(good)
    raw(path, f"UPDATE strongbox_sessions SET {column} = {value} WHERE key = ?", bad.key)
    with pytest.raises(UnreadableRecord) as caught:
        store.get(bad.key, NOW)
    assert (caught.value.key, caught.value.reason) == (bad.key, reason)
    assert store.sessions_of(USER, NOW) == [good]
    stats = store.stats(NOW)
    assert stats.live + stats.expired == 2
    assert_cleared_like_any_bad_record(store, bad)


def test_sqlite_delete_user_removes_unreadable_rows_of_the_user(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = SQLiteStore(path)
    bad, good = make_record(user_hash=USER), make_record(user_hash=USER)
    store.create(bad)
    store.create(good)
    raw(path, "UPDATE strongbox_sessions SET version = 'x' WHERE key = ?", bad.key)
    assert sorted(store.delete_user(USER)) == sorted([bad.key, good.key])
    assert store.stats(NOW) == StoreStats(live=0, expired=0)


def test_sqlite_purge_removes_rows_whose_expiry_is_not_a_number(tmp_path: Path) -> None:
    """Such a row never expires by comparison, so purge takes it out and stats
    counts it with the expired backlog."""
    path = tmp_path / "s.sqlite3"
    store = SQLiteStore(path)
    bad, live = make_record(), make_record()
    store.create(bad)
    store.create(live)
    raw(path, "UPDATE strongbox_sessions SET expires = 'never' WHERE key = ?", bad.key)
    assert store.stats(NOW) == StoreStats(live=1, expired=1)
    assert store.purge(NOW) == 1
    assert store.stats(NOW) == StoreStats(live=1, expired=0)
    assert store.get(live.key, NOW) == live


def test_sqlite_missing_fields_in_a_table_made_without_constraints(tmp_path: Path) -> None:
    """A table made by hand (or by another tool) without NOT NULL can hold
    rows with fields missing: such a row reads as unreadable."""
    path = tmp_path / "s.sqlite3"
    raw(path, "CREATE TABLE strongbox_sessions (key TEXT UNIQUE, blob BLOB, version INTEGER, "
              "created REAL, last_seen REAL, expires REAL, absolute_expires REAL, user TEXT, info BLOB)")
    raw(path, "INSERT INTO strongbox_sessions (key, blob, version, expires) VALUES (?, x'00', 1, ?)",
        "k" * 64, NOW + 300)
    store = SQLiteStore(path)
    with pytest.raises(UnreadableRecord, match="created is NoneType, not a number"):
        store.get("k" * 64, NOW)
    assert store.delete("k" * 64)


@pytest.mark.parametrize(("token", "until"), [
    ("'tok'", "'soon'"), ("'tok'", "x'00'"), ("x'746f6b'", "1e12"),
    ("'tok'", "9e999"), ("'tok'", "-9e999"),
])
def test_sqlite_lease_row_of_the_wrong_types(tmp_path: Path, token: str, until: str) -> None:
    path = tmp_path / "s.sqlite3"
    store = SQLiteStore(path)
    store.init_db()
    key = secrets.token_hex(32)
    raw(path, f"INSERT INTO strongbox_sessions_leases VALUES (?, {token}, {until})", key)
    assert store.purge(NOW) == 0
    assert lease_rows(path) == 0, "purge removes a lease that cannot be read"
    raw(path, f"INSERT INTO strongbox_sessions_leases VALUES (?, {token}, {until})", key)
    assert_taken_over_like_no_lease(store, key)


def lease_rows(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM strongbox_sessions_leases").fetchone()[0])
    finally:
        conn.close()


# -- PostgreSQL ----------------------------------------------------------------------


@pytest.fixture
def pg() -> Iterator[tuple[PostgresStore, Any]]:
    """A store in a schema of its own, and a function running SQL beside it."""
    for schema in services.postgres_schema():
        store = PostgresStore(services.postgres_url(), schema=schema)
        store.init_db()
        conn = psycopg.connect(services.postgres_url(), autocommit=True)

        def run(template: str, *params: object) -> None:
            conn.execute(sql.SQL(template).format(
                t=sql.Identifier(schema, "strongbox_sessions"),
                leases=sql.Identifier(schema, "strongbox_sessions_leases")), params)

        yield store, run
        conn.close()
        store.close()


@pytest.mark.parametrize(("column", "reason"), [
    ("created", "created is NaN, not a number"),
    ("absolute_expires", "absolute_expires is NaN, not a number"),
])
def test_postgres_nan_times_are_unreadable(
    pg: tuple[PostgresStore, Any], column: str, reason: str,
) -> None:
    store, run = pg
    bad, good = make_record(user_hash=USER), make_record(user_hash=USER, created=NOW + 1)
    store.create(bad)
    store.create(good)
    run(f"UPDATE {{t}} SET {column} = 'NaN' WHERE key = %s", bad.key)
    with pytest.raises(UnreadableRecord, match=reason):
        store.get(bad.key, NOW)
    assert store.sessions_of(USER, NOW) == [good]
    assert_cleared_like_any_bad_record(store, bad)


def test_postgres_a_nan_expiry_is_counted_expired_and_purged(pg: tuple[PostgresStore, Any]) -> None:
    """NaN sorts above every number in PostgreSQL, so ``expires > now`` holds
    for ever: stats counts it with the backlog and purge removes it."""
    store, run = pg
    bad, live = make_record(), make_record()
    store.create(bad)
    store.create(live)
    run("UPDATE {t} SET expires = 'NaN' WHERE key = %s", bad.key)
    with pytest.raises(UnreadableRecord, match="expires is NaN"):
        store.get(bad.key, NOW)
    assert store.stats(NOW) == StoreStats(live=1, expired=1)
    assert store.purge(NOW) == 1
    assert store.stats(NOW) == StoreStats(live=1, expired=0)


@pytest.mark.parametrize("until", ["NaN", "Infinity"])
def test_postgres_a_lease_that_never_ends_is_no_lease(
    pg: tuple[PostgresStore, Any], until: str,
) -> None:
    """NaN sorts above every number, and infinity never comes: neither blocks."""
    store, run = pg
    key = secrets.token_hex(32)
    run("INSERT INTO {leases} VALUES (%s, 'tok', %s)", key, until)
    assert store.purge(NOW) == 0
    run("INSERT INTO {leases} VALUES (%s, 'tok', %s)", key, until)  # purged: no conflict
    assert_taken_over_like_no_lease(store, key)


def test_postgres_missing_fields_in_a_table_made_without_constraints() -> None:
    for schema in services.postgres_schema():
        table = sql.Identifier(schema, "strongbox_sessions")
        with psycopg.connect(services.postgres_url(), autocommit=True) as conn:
            conn.execute(sql.SQL(
                'CREATE TABLE {} (key text PRIMARY KEY, blob bytea, version bigint, '
                'created float8, last_seen float8, expires float8, absolute_expires float8, '
                '"user" text, info bytea)').format(table))
            conn.execute(sql.SQL("INSERT INTO {} (key, blob, version, expires) "
                                 "VALUES (%s, '\\x00', 1, %s)").format(table), ["k" * 64, NOW + 300])
        store = PostgresStore(services.postgres_url(), schema=schema)
        try:
            with pytest.raises(UnreadableRecord, match="created is NoneType, not a number"):
                store.get("k" * 64, NOW)
            assert store.sessions_of(USER, NOW) == []
            assert store.delete("k" * 64)
        finally:
            store.close()


# -- Redis ---------------------------------------------------------------------------


@pytest.fixture
def rd() -> Iterator[tuple[RedisStore, redis.Redis]]:
    """A store with a prefix of its own on the machine's Redis, and a raw
    client to write what the store never would."""
    for store in services.redis_store():
        assert isinstance(store, RedisStore)
        client = redis.Redis.from_url(services.redis_url())
        yield store, client
        client.close()


def hash_key(store: RedisStore, record: Record) -> str:
    return f"{store.prefix}s:{record.key}"


@pytest.mark.parametrize(("change", "reason"), [
    ({"expires": "soon"}, "expires is not a number"),
    ({"expires": "nan"}, "expires is NaN, not a number"),
    ({"created": "0x1p3"}, "created is not a number"),
    ({"version": "two"}, "version is not an integer"),
    ({"user": b"\xff\xfe"}, "user is not UTF-8 text"),
    ({"blob": None}, "blob is missing"),
    ({"absolute_expires": None}, "absolute_expires is missing"),
])
def test_redis_hash_with_bad_fields(
    rd: tuple[RedisStore, redis.Redis], change: dict[str, Any], reason: str,
) -> None:
    store, client = rd
    bad, good = make_record(user_hash=USER), make_record(user_hash=USER, created=NOW + 1)
    store.create(bad)
    store.create(good)
    for field, value in change.items():
        if value is None:
            client.hdel(hash_key(store, bad), field)
        else:
            client.hset(hash_key(store, bad), field, value)
    with pytest.raises(UnreadableRecord) as caught:
        store.get(bad.key, NOW)
    assert (caught.value.key, caught.value.reason) == (bad.key, reason)
    assert store.sessions_of(USER, NOW) == [good]
    assert_cleared_like_any_bad_record(store, bad)


@pytest.mark.parametrize("kind", ["string", "list", "set"])
def test_redis_key_of_another_type(rd: tuple[RedisStore, redis.Redis], kind: str) -> None:
    """A plain string, a list or a set where a record's hash belongs: get is
    unreadable, writes over it are refused, the user listings pass over it,
    purge and delete remove it."""
    store, client = rd
    bad, good = make_record(user_hash=USER), make_record(user_hash=USER, created=NOW + 1)
    store.create(bad)
    store.create(good)
    key = hash_key(store, bad)
    client.delete(key)
    writes: dict[str, Callable[[], object]] = {
        "string": lambda: client.set(key, "x"), "list": lambda: client.rpush(key, "x"),
        "set": lambda: client.sadd(key, "x"),
    }
    writes[kind]()
    with pytest.raises(UnreadableRecord, match="another type than a hash"):
        store.get(bad.key, NOW)
    assert not store.create(bad)
    assert not store.replace(replace(bad, version=2), 1, NOW)
    assert not store.touch(bad.key, NOW + 300, NOW)
    assert store.sessions_of(USER, NOW) == [good]
    assert store.stats(NOW) == StoreStats(live=1, expired=1)
    assert store.purge(NOW) == 1
    assert client.type(key) == b"none"
    assert store.get(good.key, NOW) == good
    client.set(key, "x")
    assert store.delete(bad.key) and client.type(key) == b"none"
    assert store.delete_user(USER) == [good.key]


def test_redis_purge_removes_hashes_whose_expiry_is_not_a_number(
    rd: tuple[RedisStore, redis.Redis],
) -> None:
    store, client = rd
    bad, live = make_record(), make_record()
    store.create(bad)
    store.create(live)
    client.hset(hash_key(store, bad), "expires", "later")
    assert store.stats(NOW) == StoreStats(live=1, expired=1)
    assert store.purge(NOW) == 1
    assert store.stats(NOW) == StoreStats(live=1, expired=0)


def test_redis_a_user_index_of_another_type_is_replaced(rd: tuple[RedisStore, redis.Redis]) -> None:
    store, client = rd
    user = secrets.token_hex(32)
    client.set(f"{store.prefix}u:{user}", "not an index")
    assert store.sessions_of(user, NOW) == []
    assert store.delete_user(user) == []
    record = make_record(user_hash=user)
    assert store.create(record)
    assert store.sessions_of(user, NOW) == [record]
    store.purge(NOW)  # cleans the indexes too
    assert store.sessions_of(user, NOW) == [record]


@pytest.mark.parametrize("write", [
    lambda c, k: c.hset(k, "token", "tok"), lambda c, k: c.rpush(k, "tok"),
    lambda c, k: c.set(k, "tok"), lambda c, k: c.set(k, "soon tok"),
    lambda c, k: c.set(k, "inf tok"), lambda c, k: c.set(k, "nan tok"),
    lambda c, k: c.set(k, b"\xff\xfe tok"),
], ids=["hash", "list", "no-end", "end-not-a-number", "infinite", "nan", "not-utf8"])
def test_redis_lease_key_that_is_no_lease(rd: tuple[RedisStore, redis.Redis], write: Any) -> None:
    store, client = rd
    key = secrets.token_hex(32)
    write(client, f"{store.prefix}l:{key}")
    assert_taken_over_like_no_lease(store, key)
    assert client.type(f"{store.prefix}l:{key}") == b"none"
