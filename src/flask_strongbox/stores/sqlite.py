"""The embedded default: one SQLite file, shared by threads and processes.

WAL mode lets readers run beside one writer; every write is one statement, so
each is atomic without explicit transactions. The file is created once, with
mode 0600, and never silently re-created: a file that goes missing, is
replaced, or turns read-only or corrupt raises :class:`StoreUnavailable`
naming it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import StoreUnavailable
from .base import Record, StoreStats, check_lease, readable
from .leases_sql import SQLITE as LEASES
from .sqlite_pool import ConnectionPool
from .sqlite_schema import SchemaError, prepare

_COLUMNS = "key, blob, version, created, last_seen, expires, absolute_expires, user, info"


class SQLiteStore:
    """Records in a SQLite file; selected with ``sqlite:///path/to/file``.

    Each operation borrows a connection from a small pool, so a server that
    starts a thread per request holds no more connections than it runs
    requests at once, plus ``pool_size`` idle ones.

    :param path: the database file. Its folder must exist.
    :param table: the table name (letters, digits and underscores).
    :param busy_timeout: seconds a write waits for another process's lock.
    :param pool_size: idle connections kept open for reuse.

    .. versionchanged:: 0.2
        Connections are pooled (``pool_size``) instead of kept per thread,
        and a file deleted or replaced while in use is refused.
    """

    name = "sqlite"
    #: Expired rows stay until purged: the session layer purges as it writes.
    expires_records_itself = False

    def __init__(
        self, path: str | os.PathLike[str], *, table: str = "strongbox_sessions",
        busy_timeout: float = 5.0, pool_size: int = 4,
    ) -> None:
        if not table.isidentifier():
            raise ValueError(f"SQLite table name {table!r} must be a plain identifier")
        self.path = Path(path)
        self.table = table
        self.busy_timeout = busy_timeout
        self._file = os.path.abspath(self.path)
        self._pool = ConnectionPool(self._connect, pool_size)
        self._leases_sql = LEASES.naming(f"{table}_leases")
        self._lock = threading.Lock()
        # (st_dev, st_ino) of the file this store serves, once it has opened it;
        # kept across close() and forks: the store never moves to another file.
        self._identity: tuple[int, int] | None = None

    @classmethod
    def from_url(
        cls, url: str, *, base_dir: str | os.PathLike[str] = ".", table: str = "strongbox_sessions",
        **options: Any,
    ) -> SQLiteStore:
        """The store for ``sqlite:///relative/file`` (relative to ``base_dir``,
        such as the app's instance folder) or ``sqlite:////absolute/file``.

        :param options: the constructor's other keyword arguments.
        :raises ValueError: if the URL is not of that form.
        """
        scheme, sep, rest = url.partition("://")
        if scheme != "sqlite" or not sep or not rest.startswith("/") or rest == "/":
            raise ValueError("a SQLite store URL looks like sqlite:///file or sqlite:////abs/file")
        return cls(os.path.join(base_dir, rest[1:]), table=table, **options)

    def __repr__(self) -> str:
        return f"<SQLiteStore {str(self.path)!r}>"

    def init_db(self) -> None:
        """Create the file (mode 0600), the tables and indexes now rather
        than on first use, or add what a file made by an older release lacks
        (0.1: the lease table). Safe to run again."""
        self._run("SELECT 1", ())

    # -- connections ---------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._identity is not None:
            return self._open()
        with self._lock:
            if self._identity is not None:
                return self._open()
            self._create_file_once()
            conn = self._open()
            try:
                self._init_schema(conn)
                self._identity = self._stat()
            except BaseException:
                conn.close()
                raise
            return conn

    def _create_file_once(self) -> None:
        if os.path.exists(self._file):
            return
        if not self.path.parent.is_dir():
            raise self._unavailable(f"folder {str(self.path.parent)!r} does not exist")
        try:
            os.close(os.open(self._file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            pass  # another process created it first
        except OSError as exc:
            raise self._unavailable(f"cannot create the file: {exc.strerror}") from exc

    def _open(self) -> sqlite3.Connection:
        # mode=rw never creates: a file that vanished is an error, not a fresh empty store.
        uri = f"{Path(self._file).as_uri()}?mode=rw"
        try:
            conn = sqlite3.connect(
                uri, uri=True, timeout=self.busy_timeout, isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise self._unavailable(str(exc)) from exc
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            conn.close()
            raise self._unavailable(str(exc)) from exc
        return conn

    def _stat(self) -> tuple[int, int]:
        try:
            found = os.stat(self._file)
        except FileNotFoundError:
            raise self._unavailable(
                "the file was deleted while in use; restore it, or restart the app to "
                "start an empty store (every session is lost)"
            ) from None
        except OSError as exc:
            raise self._unavailable(f"cannot stat the file: {exc.strerror}") from exc
        return found.st_dev, found.st_ino

    def _check_file(self) -> None:
        """Refuse to write if the path no longer names the file the pool's
        connections opened: the write would go to a deleted file and be lost
        at the next restart. One ``stat`` call per write; reads are not
        checked, as they lose nothing."""
        if self._identity is not None and self._stat() != self._identity:
            raise self._unavailable(
                "the path now names another file than the one in use (replaced or "
                "renamed over); restart the app to use the new file"
            )

    def _init_schema(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            prepare(conn, self.table)
        except (sqlite3.Error, SchemaError) as exc:
            raise self._unavailable(str(exc)) from exc

    def _write(self, sql: str, params: Sequence[object]) -> tuple[int, list[Any]]:
        self._check_file()
        return self._run(sql, params)

    def _run(self, sql: str, params: Sequence[object]) -> tuple[int, list[Any]]:
        """Run one statement; return its row count and rows, read to the end
        so the connection goes back to the pool with nothing pending."""
        try:
            with self._pool.connection() as conn:
                cursor = conn.execute(sql, params)
                rows = cursor.fetchall()
                return cursor.rowcount, rows
        except sqlite3.Error as exc:
            raise self._unavailable(str(exc)) from exc

    def _unavailable(self, detail: str) -> StoreUnavailable:
        return StoreUnavailable(self.name, f"database file {str(self.path)!r}: {detail}")

    # -- the store protocol --------------------------------------------------

    def get(self, key: str, now: float) -> Record | None:
        _, rows = self._run(
            f"SELECT {_COLUMNS} FROM {self.table} WHERE key = ? AND expires > ?",  # noqa: S608
            (key, now),
        )
        return Record.from_row(rows[0]) if rows else None

    def create(self, record: Record) -> bool:
        count, _ = self._write(
            f"INSERT OR IGNORE INTO {self.table} ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",  # noqa: S608
            (record.key, record.blob, record.version, record.created, record.last_seen,
             record.expires, record.absolute_expires, record.user_hash, record.sealed_device),
        )
        return count == 1

    def replace(self, record: Record, expected_version: int, now: float) -> bool:
        count, _ = self._write(
            f"UPDATE {self.table} SET blob = ?, version = ?, last_seen = ?, expires = ?, "  # noqa: S608
            "absolute_expires = ?, user = ?, info = ? WHERE key = ? AND version = ? AND expires > ?",
            (record.blob, record.version, record.last_seen, record.expires,
             record.absolute_expires, record.user_hash, record.sealed_device, record.key,
             expected_version, now),
        )
        return count == 1

    def touch(self, key: str, expires: float, now: float) -> bool:
        count, _ = self._write(
            f"UPDATE {self.table} SET last_seen = ?, expires = ? WHERE key = ? AND expires > ?",  # noqa: S608
            (now, expires, key, now),
        )
        return count == 1

    def delete(self, key: str) -> bool:
        count, _ = self._write(f"DELETE FROM {self.table} WHERE key = ?", (key,))  # noqa: S608
        return count == 1

    def sessions_of(self, user_hash: str, now: float) -> list[Record]:
        _, rows = self._run(
            f"SELECT {_COLUMNS} FROM {self.table} WHERE user = ? AND expires > ? "  # noqa: S608
            "ORDER BY created, key",
            (user_hash, now),
        )
        return readable(rows)

    def delete_user(self, user_hash: str, keep: str | None = None) -> list[str]:
        _, rows = self._write(
            f"DELETE FROM {self.table} WHERE user = ? AND key IS NOT ? RETURNING key",  # noqa: S608
            (user_hash, keep),
        )
        return [key for key, in rows if isinstance(key, str)]

    def lock(self, key: str, token: str, until: float, now: float) -> bool:
        check_lease(until, now)
        count, _ = self._write(self._leases_sql.lock, (key, token, until, now))
        return count == 1

    def unlock(self, key: str, token: str) -> bool:
        count, _ = self._write(self._leases_sql.unlock, (key, token))
        return count == 1

    def purge(self, now: float, limit: int = 500) -> int:
        """Remove up to ``limit`` expired records and up to ``limit`` ended
        leases, each in one statement; the number of records removed."""
        # Small batches keep each write lock short, so requests never queue behind a purge.
        # Text and blobs sort after every number, so ``expires >= ''`` is an expiry
        # that is not a number (an unreadable record), found through the same index.
        count, _ = self._write(
            f"DELETE FROM {self.table} WHERE rowid IN "  # noqa: S608
            f"(SELECT rowid FROM {self.table} WHERE expires <= ? OR expires >= '' LIMIT ?)",
            (now, limit),
        )
        self._write(self._leases_sql.purge, (now, limit))
        return count

    def scan(self, cursor: str, limit: int) -> tuple[list[Record], str]:
        """Records in key order (the primary key's index), after the key
        ``cursor`` names."""
        limit = max(limit, 1)
        _, rows = self._run(
            f"SELECT {_COLUMNS} FROM {self.table} WHERE key > ? ORDER BY key LIMIT ?",  # noqa: S608
            (cursor, limit),
        )
        return readable(rows), str(rows[-1][0]) if len(rows) == limit else ""

    def stats(self, now: float) -> StoreStats:
        # An expiry that is not a number counts as expired: purge removes it.
        _, rows = self._run(
            f"SELECT count(*) FILTER (WHERE expires > ? AND expires < ''), count(*) "  # noqa: S608
            f"FROM {self.table}",
            (now,),
        )
        live, total = rows[0]
        return StoreStats(live=live, expired=total - live)

    def close(self) -> None:
        """Close the pooled connections; the next operation opens new ones."""
        self._pool.close()

