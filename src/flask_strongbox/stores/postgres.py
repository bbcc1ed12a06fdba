"""A PostgreSQL store: one table, shared by every worker on every host.

Each operation is one autocommitted statement, so each is atomic on its own;
compare-and-swap is an ``UPDATE ... WHERE version = %s`` that PostgreSQL
re-checks after waiting for a concurrent writer. Connections come from a
:class:`psycopg_pool.ConnectionPool` opened on first use, so the app starts
while the database is down and recovers by itself once it is back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import PoolTimeout

from ..audit import logger
from ..errors import StoreUnavailable
from .base import Record, StoreStats, check_lease, readable
from .postgres_pool import GRACE, Connections
from .postgres_schema import LEASES, SCHEMA_VERSION, Layout
from .postgres_schema import Connection as _Connection
from .watchdog import Watch

#: Seconds ``init_db`` may wait for the locks it needs (another creator, say).
_DDL_SECONDS = 10.0


class PostgresStore:
    """Records in a PostgreSQL table; selected with ``postgresql://...``.

    Nothing connects until the first operation. The table, its indexes, a
    ``<table>_leases`` table and a ``<table>_meta`` table holding the schema
    version are created then if they are missing (or up front with
    :meth:`init_db`); nothing is ever dropped. A table made by 0.1 gets its
    lease table then too; if the database user may not create it, sessions
    work on and only ``lock()`` and ``unlock()`` raise
    :class:`~flask_strongbox.StoreUnavailable`, saying to run
    ``flask sessions init-db``, until it exists.

    :param conninfo: a libpq connection string or ``postgresql://`` URL.
    :param table: the table name (letters, digits and underscores).
    :param schema: the schema holding the table; ``None`` follows ``search_path``.
    :param pool: ``(fewest, most)`` connections open: the fewest are kept
        open, and no more than the most are ever open at once.
    :param connect_timeout: seconds to wait for a connection, and again for
        each statement to finish, before raising
        :class:`~flask_strongbox.StoreUnavailable`. The server enforces it
        (``statement_timeout``, ``lock_timeout``), the kernel for a peer that is
        gone (TCP keepalives, ``tcp_user_timeout``), and the client itself for
        a server that answers nothing at all, half a second later.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
        ``connect_timeout`` bounds every statement and lock wait too.

    .. versionchanged:: 0.2
        Schema version 2: the ``<table>_leases`` table.
    """

    name = "postgres"
    #: Expired rows stay until purged: the session layer purges as it writes.
    expires_records_itself = False

    def __init__(
        self, conninfo: str, *, table: str = "strongbox_sessions", schema: str | None = None,
        pool: tuple[int, int] = (1, 10), connect_timeout: float = 5.0,
    ) -> None:
        self._layout = Layout(table, schema)
        pool_min, pool_max = pool
        if not 0 <= pool_min <= pool_max or pool_max < 1:
            raise ValueError("PostgreSQL pool sizes (fewest, most) need 0 <= fewest <= most, most >= 1")
        if connect_timeout <= 0:
            raise ValueError("PostgreSQL connect_timeout must be a positive number of seconds")
        params = _parse(conninfo)
        self.table, self.schema = table, schema
        self.pool_min, self.pool_max, self.connect_timeout = pool_min, pool_max, connect_timeout
        self._conninfo = conninfo
        self._params = params
        self._password = params.get("password") or ""
        shown = ("host", "port", "dbname")
        self._where = " ".join(f"{k}={params[k]}" for k in shown if k in params)
        self._connections = Connections(conninfo, params, pool, connect_timeout, self._unavailable)
        self._connections.name = f"strongbox-{table}"
        self._ready = False
        self._leases_missing = False  # a version 1 table this user could not upgrade

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 5.0, **options: Any) -> PostgresStore:
        """The store for a ``postgresql://`` or ``postgres://`` URL. Query
        parameters are libpq's (``?sslmode=require``).

        :param timeout: the constructor's ``connect_timeout``.
        :param options: the constructor's other keyword arguments.
        """
        scheme = url.partition("://")[0].lower()
        if scheme not in ("postgresql", "postgres"):
            raise ValueError("PostgresStore.from_url needs a postgresql:// or postgres:// URL")
        return cls(url, connect_timeout=timeout, **options)

    def __repr__(self) -> str:
        return f"<PostgresStore {self._where or 'libpq defaults'} table={self._layout.qualified}>"

    # -- connections ---------------------------------------------------------

    def _execute(
        self, template: str, params: Sequence[object], *, leases: bool = False,
    ) -> tuple[int, list[Any]]:
        """Run one statement (on the lease table, if ``leases``); return its
        row count and rows."""
        with self._connections.connection() as conn:
            if not self._ready:
                self._prepare(conn)
            if leases and self._leases_missing:
                self._check_leases(conn)
            cursor = conn.execute(self._layout.sql(template), params)
            return cursor.rowcount, cursor.fetchall() if cursor.description else []

    def _unavailable(self, exc: psycopg.Error, watch: Watch | None = None) -> StoreUnavailable:
        reason = " ".join(str(exc).split())[:300]
        hint = "check that the server is up and reachable"
        if watch is not None and watch.expired:
            reason = f"no answer within {watch.seconds:g} s; the connection was dropped"
            hint += " (a stopped server or a network cut answers nothing)"
        elif isinstance(exc, PoolTimeout):
            reason = f"no connection within {self.connect_timeout:g} s"
            hint += f" and a pool of {self.pool_max} is enough (the psycopg.pool log says more)"
        elif isinstance(exc, errors.LockNotAvailable | errors.QueryCanceled):
            reason = f"a statement took longer than {self.connect_timeout:g} s ({reason})"
            hint = "another session may hold a lock on the table, or the server is overloaded"
        elif not isinstance(exc, psycopg.OperationalError):
            reason = f"{type(exc).__name__}: {reason}"
            hint = "check the table and the user's privileges (`flask sessions init-db`)"
        where = f"{self._where or 'libpq defaults'}, table {self._layout.qualified}"
        detail = f"{reason} ({where}); {hint}"
        if self._password:
            detail = detail.replace(self._password, "***")
        return StoreUnavailable(self.name, detail)

    # -- schema --------------------------------------------------------------

    def init_db(self) -> None:
        """Create the schema (if named), tables, indexes and schema version if
        missing, and bring a table made by an older release up to date (0.1:
        add the lease table). Safe to run again; existing rows and other
        tables are left alone. Backs ``flask sessions init-db``.
        """
        with self._connections.connection(_DDL_SECONDS + GRACE) as conn:
            self._layout.create(conn, _DDL_SECONDS)
            self._prepare(conn)

    def _prepare(self, conn: _Connection) -> None:
        version = self._layout.version(conn)
        if version is None:
            self._layout.create(conn, self.connect_timeout)
        elif version > SCHEMA_VERSION:
            raise StoreUnavailable(self.name, (
                f"table {self._layout.qualified} has schema version {version}, made by a newer "
                f"flask-strongbox; this one knows version {SCHEMA_VERSION}, upgrade it"
            ))
        elif version < SCHEMA_VERSION:
            self._upgrade(conn)
        self._ready = True

    def _upgrade(self, conn: _Connection) -> None:
        """Add what an older release's tables lack. An app user who may not
        create tables keeps its sessions working; only leases wait."""
        try:
            self._layout.create(conn, self.connect_timeout)
        except errors.InsufficientPrivilege:
            self._leases_missing = True
            logger.warning("%s store: %s", self.name, self._layout.missing_leases())

    def _check_leases(self, conn: _Connection) -> None:
        if not self._layout.has_leases(conn):
            raise StoreUnavailable(self.name, self._layout.missing_leases())
        self._leases_missing = False  # init-db has run since

    # -- the store protocol --------------------------------------------------

    def get(self, key: str, now: float) -> Record | None:
        _, rows = self._execute(
            "SELECT {columns} FROM {t} WHERE key = %s AND expires > %s", (key, now))
        return Record.from_row(rows[0]) if rows else None

    def create(self, record: Record) -> bool:
        count, _ = self._execute(
            "INSERT INTO {t} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (key) DO NOTHING",
            (record.key, record.blob, record.version, record.created, record.last_seen,
             record.expires, record.absolute_expires, record.user_hash, record.sealed_device),
        )
        return count == 1

    def replace(self, record: Record, expected_version: int, now: float) -> bool:
        count, _ = self._execute(
            'UPDATE {t} SET blob = %s, version = %s, last_seen = %s, expires = %s, '
            'absolute_expires = %s, "user" = %s, info = %s '
            "WHERE key = %s AND version = %s AND expires > %s",
            (record.blob, record.version, record.last_seen, record.expires,
             record.absolute_expires, record.user_hash, record.sealed_device, record.key,
             expected_version, now),
        )
        return count == 1

    def touch(self, key: str, expires: float, now: float) -> bool:
        count, _ = self._execute(
            "UPDATE {t} SET last_seen = %s, expires = %s WHERE key = %s AND expires > %s",
            (now, expires, key, now),
        )
        return count == 1

    def delete(self, key: str) -> bool:
        count, _ = self._execute("DELETE FROM {t} WHERE key = %s", (key,))
        return count == 1

    def sessions_of(self, user_hash: str, now: float) -> list[Record]:
        _, rows = self._execute(
            'SELECT {columns} FROM {t} WHERE "user" = %s AND expires > %s '
            "ORDER BY created, key",
            (user_hash, now),
        )
        return readable(rows)

    def delete_user(self, user_hash: str, keep: str | None = None) -> list[str]:
        _, rows = self._execute(
            'DELETE FROM {t} WHERE "user" = %s AND key IS DISTINCT FROM %s RETURNING key',
            (user_hash, keep),
        )
        return [row[0] for row in rows]

    def lock(self, key: str, token: str, until: float, now: float) -> bool:
        check_lease(until, now)
        count, _ = self._execute(LEASES.lock, (key, token, until, now), leases=True)
        return count == 1

    def unlock(self, key: str, token: str) -> bool:
        count, _ = self._execute(LEASES.unlock, (key, token), leases=True)
        return count == 1

    def purge(self, now: float, limit: int = 500) -> int:
        """Remove up to ``limit`` expired records and up to ``limit`` ended
        leases, each in one statement; the number of records removed."""
        # Small batches, and rows locked by a request are skipped rather than
        # waited for, so requests never queue behind a purge. A NaN expiry (the
        # one unreadable value the column's type allows) never compares as
        # expired, and PostgreSQL sorts it above every number: purged too.
        count, _ = self._execute(
            "DELETE FROM {t} WHERE key IN (SELECT key FROM {t} "
            "WHERE expires <= %s OR expires = 'NaN' LIMIT %s FOR UPDATE SKIP LOCKED)",
            (now, limit),
        )
        if not self._leases_missing:
            self._execute(LEASES.purge, (now, limit))
        return count

    def scan(self, cursor: str, limit: int) -> tuple[list[Record], str]:
        """Records in key order (the primary key's index), after the key
        ``cursor`` names."""
        limit = max(limit, 1)
        _, rows = self._execute(
            "SELECT {columns} FROM {t} WHERE key > %s ORDER BY key LIMIT %s", (cursor, limit))
        return readable(rows), str(rows[-1][0]) if len(rows) == limit else ""

    def stats(self, now: float) -> StoreStats:
        _, rows = self._execute(
            "SELECT count(*) FILTER (WHERE expires > %s AND expires <> 'NaN'), count(*) FROM {t}",
            (now,),
        )
        live, total = rows[0]
        return StoreStats(live=live, expired=total - live)

    def close(self) -> None:
        self._connections.close()


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
