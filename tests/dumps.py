"""What an attacker with the store's own access sees and changes: every record
read straight from the backend (a backup, a read-only SQL injection, a Redis
``SCAN``), and fields rewritten in place, around Strongbox.

Nothing here goes through the store's methods: a dump is what the server
holds, and an edit may change what ``Store.replace`` keeps (``created``).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import redis

from flask_strongbox.stores.base import Record, Store
from flask_strongbox.stores.postgres import PostgresStore
from flask_strongbox.stores.redis import RedisStore
from flask_strongbox.stores.redis_records import decode, num
from flask_strongbox.stores.sqlite import SQLiteStore

from .services import postgres_url, redis_url

_COLUMNS = 'key, blob, version, created, last_seen, expires, absolute_expires, "user", info'
#: Record fields as the SQL stores and the Redis hash name them.
_STORED = {"created": "created", "expires": "expires", "absolute_expires": "absolute_expires",
           "last_seen": "last_seen", "user_hash": "user", "blob": "blob"}


def dump(store: Store) -> list[Record]:
    """Every record in ``store``'s backend, live or not, tombstones included."""
    if isinstance(store, SQLiteStore):
        with sqlite3.connect(store.path) as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM {store.table}").fetchall()
        return [Record.from_row(row) for row in rows]
    if isinstance(store, RedisStore):
        client = redis.Redis.from_url(redis_url())
        try:
            prefix = f"{store.prefix}s:"
            return [decode(name.decode()[len(prefix):], client.hgetall(name))  # type: ignore[arg-type]
                    for name in client.scan_iter(match=f"{prefix}*", count=500)]
        finally:
            client.close()
    import psycopg

    assert isinstance(store, PostgresStore)
    with psycopg.connect(postgres_url()) as conn:
        table = f'"{store.schema}"."{store.table}"'
        rows = conn.execute(f"SELECT {_COLUMNS} FROM {table}").fetchall()
    return [Record.from_row(row) for row in rows]


def edit(store: Store, key: str, **fields: Any) -> None:
    """Overwrite ``fields`` (``created``, ``user_hash``, ``blob``...) of the
    record under ``key`` in the backend, as a store writer would."""
    stored = {_STORED[name]: value for name, value in fields.items()}
    if isinstance(store, SQLiteStore):
        sets = ", ".join(f'"{column}" = ?' for column in stored)
        with sqlite3.connect(store.path) as conn:
            conn.execute(f"UPDATE {store.table} SET {sets} WHERE key = ?", [*stored.values(), key])
        return
    if isinstance(store, RedisStore):
        client = redis.Redis.from_url(redis_url())
        try:
            mapping: dict[Any, Any] = {
                c: num(v) if isinstance(v, float) else v for c, v in stored.items() if v is not None}
            if mapping:
                client.hset(f"{store.prefix}s:{key}", mapping=mapping)
            for column in (c for c, v in stored.items() if v is None):
                client.hdel(f"{store.prefix}s:{key}", column)
        finally:
            client.close()
        return
    import psycopg

    assert isinstance(store, PostgresStore)
    sets = ", ".join(f'"{column}" = %s' for column in stored)
    table = f'"{store.schema}"."{store.table}"'
    with psycopg.connect(postgres_url()) as conn:
        conn.execute(f"UPDATE {table} SET {sets} WHERE key = %s", [*stored.values(), key])
