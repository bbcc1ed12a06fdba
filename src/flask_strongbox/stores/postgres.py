"""A PostgreSQL store: one table, shared by every worker on every host.

Each operation is one autocommitted statement, so each is atomic on its own;
compare-and-swap is an ``UPDATE ... WHERE version = %s`` that PostgreSQL
re-checks after waiting for a concurrent writer. Connections come from a
:class:`psycopg_pool.ConnectionPool` opened on first use, so the app starts
while the database is down and recovers by itself once it is back.
"""

from __future__ import annotations

import math
import os
import re
import select
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import StoreUnavailable
from .base import Record, StoreStats

SCHEMA_VERSION = 1
_Connection = psycopg.Connection[tuple[Any, ...]]
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COLUMNS = 'key, blob, version, created, last_seen, expires, absolute_expires, "user", info'

_DDL = (
    """CREATE TABLE IF NOT EXISTS {t} (
        key text COLLATE "C" PRIMARY KEY,
        blob bytea NOT NULL,
        version bigint NOT NULL,
        created double precision NOT NULL,
        last_seen double precision NOT NULL,
        expires double precision NOT NULL,
        absolute_expires double precision NOT NULL,
        "user" text,
        info bytea
    )""",
    "CREATE INDEX IF NOT EXISTS {expires_index} ON {t} (expires)",
    'CREATE INDEX IF NOT EXISTS {user_index} ON {t} ("user") WHERE "user" IS NOT NULL',
    "CREATE TABLE IF NOT EXISTS {meta} (name text PRIMARY KEY, value text NOT NULL)",
)


class PostgresStore:
    """Records in a PostgreSQL table; selected with ``postgresql://...``.

    Nothing connects until the first operation. The table, its indexes and a
    ``<table>_meta`` table holding the schema version are created then if they
    are missing (or up front with :meth:`init_db`); nothing is ever dropped.

    :param conninfo: a libpq connection string or ``postgresql://`` URL.
    :param table: the table name (letters, digits and underscores).
    :param schema: the schema holding the table; ``None`` follows ``search_path``.
    :param pool_min: connections kept open.
    :param pool_max: most connections open at once.
    :param connect_timeout: seconds to wait for a connection before raising
        :class:`~flask_strongbox.StoreUnavailable`.

    .. versionadded:: 0.1
    """

    name = "postgres"

    def __init__(
        self, conninfo: str, *, table: str = "strongbox_sessions", schema: str | None = None,
        pool_min: int = 1, pool_max: int = 10, connect_timeout: float = 5.0,
    ) -> None:
        # 50 leaves room for "<table>_expires" and "<table>_meta_pkey" in 63 bytes.
        _check_name("table", table, 50)
        if schema is not None:
            _check_name("schema", schema, 63)
        if not 0 <= pool_min <= pool_max or pool_max < 1:
            raise ValueError("PostgreSQL pool sizes need 0 <= pool_min <= pool_max, pool_max >= 1")
        if connect_timeout <= 0:
            raise ValueError("PostgreSQL connect_timeout must be a positive number of seconds")
        params = _parse(conninfo)
        self.table, self.schema = table, schema
        self._qualified = f"{schema}.{table}" if schema else table
        self.pool_min, self.pool_max, self.connect_timeout = pool_min, pool_max, connect_timeout
        self._conninfo = conninfo
        self._password = params.get("password") or ""
        shown = ("host", "port", "dbname")
        self._where = " ".join(f"{k}={params[k]}" for k in shown if k in params)
        self._pool: ConnectionPool[_Connection] | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._ready = False

    @classmethod
    def from_url(
        cls, url: str, *, table: str = "strongbox_sessions", schema: str | None = None,
        connect_timeout: float = 5.0,
    ) -> PostgresStore:
        """The store for a ``postgresql://`` or ``postgres://`` URL. Query
        parameters are libpq's (``?sslmode=require``); the rest are as for the
        constructor.
        """
        scheme = url.partition("://")[0].lower()
        if scheme not in ("postgresql", "postgres"):
            raise ValueError("PostgresStore.from_url needs a postgresql:// or postgres:// URL")
        return cls(url, table=table, schema=schema, connect_timeout=connect_timeout)

    def __repr__(self) -> str:
        return f"<PostgresStore {self._where or 'libpq defaults'} table={self._qualified}>"

    # -- connections ---------------------------------------------------------

    def _get_pool(self) -> ConnectionPool[_Connection]:
        pool = self._pool
        if pool is None or self._pid != os.getpid():
            with self._lock:
                if self._pool is None or self._pid != os.getpid():
                    # A forked worker opens its own pool. Dropping the inherited
                    # one is safe: psycopg never closes a parent's connection.
                    self._pool, self._pid = self._new_pool(), os.getpid()
                pool = self._pool
        return pool

    def _new_pool(self) -> ConnectionPool[_Connection]:
        pool: ConnectionPool[_Connection] = ConnectionPool(
            self._conninfo,
            kwargs={"autocommit": True, "connect_timeout": max(1, math.ceil(self.connect_timeout))},
            min_size=self.pool_min, max_size=self.pool_max, open=False,
            # Give up reconnecting quickly: the next request starts a fresh
            # attempt at once, instead of waiting out a long backoff.
            reconnect_timeout=self.connect_timeout,
            name=f"strongbox-{self.table}",
        )
        pool.open(wait=False)
        return pool

    @contextmanager
    def _connection(self) -> Iterator[_Connection]:
        try:
            pool = self._get_pool()
            conn = self._checkout(pool)
            try:
                yield conn
            finally:
                pool.putconn(conn)
        except psycopg.Error as exc:
            raise self._unavailable(exc) from exc

    def _checkout(self, pool: ConnectionPool[_Connection]) -> _Connection:
        """A pooled connection, passing over those the server closed while they
        sat idle (a restart, an admin shutdown). The pool's own ``check`` would
        back off for seconds after each dead one, so a pool full of them would
        time out instead of reconnecting.
        """
        deadline = time.monotonic() + self.connect_timeout
        while True:
            conn = pool.getconn(timeout=max(0.0, deadline - time.monotonic()))
            if not _closed_by_server(conn):
                return conn
            conn.close()
            pool.putconn(conn)  # discarded, and a replacement is started

    def _execute(self, template: str, params: Sequence[object]) -> tuple[int, list[Any]]:
        """Run one statement; return its row count and rows."""
        with self._connection() as conn:
            if not self._ready:
                self._prepare(conn)
            cursor = conn.execute(self._sql(template), params)
            return cursor.rowcount, cursor.fetchall() if cursor.description else []

    def _sql(self, template: str) -> sql.Composed:
        return sql.SQL(template).format(
            columns=sql.SQL(_COLUMNS),
            t=sql.Identifier(*filter(None, (self.schema, self.table))),
            meta=sql.Identifier(*filter(None, (self.schema, f"{self.table}_meta"))),
            expires_index=sql.Identifier(f"{self.table}_expires"),
            user_index=sql.Identifier(f"{self.table}_user"),
        )

    def _unavailable(self, exc: psycopg.Error) -> StoreUnavailable:
        reason = " ".join(str(exc).split())[:300]
        hint = "check that the server is up and reachable"
        if isinstance(exc, PoolTimeout):
            reason = f"no connection within {self.connect_timeout:g} s"
            hint += f" and pool_max={self.pool_max} is enough (the psycopg.pool log says more)"
        elif not isinstance(exc, psycopg.OperationalError):
            reason = f"{type(exc).__name__}: {reason}"
            hint = "check the table and the user's privileges (`flask sessions init-db`)"
        where = f"{self._where or 'libpq defaults'}, table {self._qualified}"
        detail = f"{reason} ({where}); {hint}"
        if self._password:
            detail = detail.replace(self._password, "***")
        return StoreUnavailable(self.name, detail)

    # -- schema --------------------------------------------------------------

    def init_db(self) -> None:
        """Create the schema (if named), table, indexes and schema version if
        missing. Safe to run again; existing rows and other tables are left
        alone. Backs ``flask sessions init-db``.
        """
        with self._connection() as conn:
            self._create_tables(conn)
            self._prepare(conn)

    def _prepare(self, conn: _Connection) -> None:
        version = self._schema_version(conn)
        if version is None:
            self._create_tables(conn)
            version = SCHEMA_VERSION
        if version > SCHEMA_VERSION:
            raise StoreUnavailable(self.name, (
                f"table {self._qualified} has schema version {version}, made by a newer "
                f"flask-strongbox; this one knows version {SCHEMA_VERSION}, upgrade it"
            ))
        self._ready = True

    def _schema_version(self, conn: _Connection) -> int | None:
        # Read-only when all is in place, so the app's database user needs
        # no CREATE privilege once `init-db` has run.
        names = [self._sql(n).as_string(conn) for n in ("{t}", "{meta}")]
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL",
                              names).fetchone()
        if not exists or not exists[0]:
            return None
        row = conn.execute(
            self._sql("SELECT value FROM {meta} WHERE name = 'schema_version'")).fetchone()
        return int(row[0]) if row else None

    def _create_tables(self, conn: _Connection) -> None:
        with conn.transaction():
            # One creator at a time across processes: concurrent CREATE ... IF
            # NOT EXISTS can still collide in the catalogs.
            conn.execute("SET LOCAL lock_timeout = '10s'")
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [self._qualified])
            if self.schema:
                found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [self.schema])
                if not found.fetchone():
                    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema)))
            for statement in _DDL:
                conn.execute(self._sql(statement))
            conn.execute(self._sql(
                "INSERT INTO {meta} (name, value) VALUES ('schema_version', %s) "
                "ON CONFLICT (name) DO NOTHING"), [str(SCHEMA_VERSION)])

    # -- the store protocol --------------------------------------------------

    def get(self, key: str, now: float) -> Record | None:
        _, rows = self._execute(
            "SELECT {columns} FROM {t} WHERE key = %s AND expires > %s", (key, now))
        return Record(*rows[0]) if rows else None

    def create(self, record: Record) -> bool:
        count, _ = self._execute(
            "INSERT INTO {t} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (key) DO NOTHING",
            (record.key, record.blob, record.version, record.created, record.last_seen,
             record.expires, record.absolute_expires, record.user, record.info),
        )
        return count == 1

    def replace(self, record: Record, expected_version: int, now: float) -> bool:
        count, _ = self._execute(
            'UPDATE {t} SET blob = %s, version = %s, last_seen = %s, expires = %s, '
            'absolute_expires = %s, "user" = %s, info = %s '
            "WHERE key = %s AND version = %s AND expires > %s",
            (record.blob, record.version, record.last_seen, record.expires,
             record.absolute_expires, record.user, record.info, record.key, expected_version, now),
        )
        return count == 1

    def touch(self, key: str, last_seen: float, expires: float, now: float) -> bool:
        count, _ = self._execute(
            "UPDATE {t} SET last_seen = %s, expires = %s WHERE key = %s AND expires > %s",
            (last_seen, expires, key, now),
        )
        return count == 1

    def delete(self, key: str) -> bool:
        count, _ = self._execute("DELETE FROM {t} WHERE key = %s", (key,))
        return count == 1

    def sessions_of(self, user: str, now: float) -> list[Record]:
        _, rows = self._execute(
            'SELECT {columns} FROM {t} WHERE "user" = %s AND expires > %s '
            "ORDER BY created, key",
            (user, now),
        )
        return [Record(*row) for row in rows]

    def delete_user(self, user: str, now: float, keep: str | None = None) -> list[str]:
        _, rows = self._execute(
            'DELETE FROM {t} WHERE "user" = %s AND key IS DISTINCT FROM %s RETURNING key',
            (user, keep),
        )
        return [row[0] for row in rows]

    def purge(self, now: float, limit: int = 500) -> int:
        # Small batches, and rows locked by a request are skipped rather than
        # waited for, so requests never queue behind a purge.
        count, _ = self._execute(
            "DELETE FROM {t} WHERE key IN (SELECT key FROM {t} WHERE expires <= %s "
            "LIMIT %s FOR UPDATE SKIP LOCKED)",
            (now, limit),
        )
        return count

    def stats(self, now: float) -> StoreStats:
        _, rows = self._execute(
            "SELECT count(*) FILTER (WHERE expires > %s), count(*) FILTER (WHERE expires <= %s) "
            "FROM {t}",
            (now, now),
        )
        live, expired = rows[0]
        return StoreStats(live=live, expired=expired)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        # In a forked worker, the sockets are the parent's: leave them be.
        if pool is not None and self._pid == os.getpid():
            pool.close()


def _closed_by_server(conn: _Connection) -> bool:
    # An idle connection has nothing to read unless the server said goodbye (or,
    # rarely, sent a notice), so only then is a round trip spent to find out.
    if conn.closed:
        return True
    fileno = conn.fileno()
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fileno, select.POLLIN)
        readable = bool(poller.poll(0))
    else:  # Windows
        readable = bool(select.select([fileno], [], [], 0)[0])
    if not readable:
        return False
    try:
        conn.execute("")
    except psycopg.Error:
        return True
    return False


def _check_name(what: str, name: str, max_length: int) -> None:
    if not _IDENTIFIER.fullmatch(name) or len(name) > max_length:
        raise ValueError(
            f"PostgreSQL {what} name {name!r} must be at most {max_length} letters, digits "
            "and underscores, not starting with a digit"
        )


def _parse(conninfo: str) -> dict[str, str]:
    try:
        params: dict[str, Any] = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        # libpq's message may quote the part holding the password: don't chain it.
        raise ValueError(
            "the PostgreSQL connection string cannot be parsed; check its quoting "
            "and option names"
        ) from None
    return {k: str(v) for k, v in params.items()}
