"""The embedded default: one SQLite file, shared by threads and processes.

WAL mode lets readers run beside one writer; every write is one statement, so
each is atomic without explicit transactions. The file is created once, with
mode 0600, and never silently re-created: a later connection that finds it
missing, read-only or corrupt raises :class:`StoreUnavailable` naming it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from pathlib import Path

from ..errors import StoreUnavailable
from .base import Record, StoreStats

SCHEMA_VERSION = 1
_COLUMNS = "key, blob, version, created, last_seen, expires, absolute_expires, user, info"


class SQLiteStore:
    """Records in a SQLite file; selected with ``sqlite:///path/to/file``.

    :param path: the database file. Its folder must exist.
    :param table: the table name (letters, digits and underscores).
    :param busy_timeout: seconds a write waits for another process's lock.
    """

    name = "sqlite"

    def __init__(
        self, path: str | os.PathLike[str], *, table: str = "strongbox_sessions",
        busy_timeout: float = 5.0,
    ) -> None:
        if not table.isidentifier():
            raise ValueError(f"SQLite table name {table!r} must be a plain identifier")
        self.path = Path(path)
        self.table = table
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._generation = 0
        self._ready_pid = 0
        forget = weakref.WeakMethod(self._forget_parent_connections)
        os.register_at_fork(after_in_child=lambda: (method := forget()) and method())

    def __repr__(self) -> str:
        return f"<SQLiteStore {str(self.path)!r}>"

    # -- connections ---------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "generation", None) == self._generation:
            conn: sqlite3.Connection = local.conn
            return conn
        pid = os.getpid()
        with self._lock:
            if self._ready_pid != pid:
                # A forked worker must not reuse its parent's connections.
                self._connections = []
                self._create_file_once()
            conn = self._connect()
            self._connections.append(conn)
            if self._ready_pid != pid:
                self._init_schema(conn)
                self._ready_pid = pid
        local.conn, local.generation = conn, self._generation
        return conn

    def _forget_parent_connections(self) -> None:
        # Runs in a forked child: the parent's connections must not be used here.
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections = []
        self._generation += 1

    def _create_file_once(self) -> None:
        if self._ready_pid or self.path.exists():
            return
        if not self.path.parent.is_dir():
            raise self._unavailable(f"folder {str(self.path.parent)!r} does not exist")
        try:
            os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            pass  # another process created it first
        except OSError as exc:
            raise self._unavailable(f"cannot create the file: {exc.strerror}") from exc

    def _connect(self) -> sqlite3.Connection:
        # mode=rw never creates: a file that vanished is an error, not a fresh empty store.
        uri = f"{self.path.resolve().as_uri()}?mode=rw"
        try:
            conn = sqlite3.connect(
                uri, uri=True, timeout=self.busy_timeout, isolation_level=None,
                check_same_thread=False,
            )
            conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise self._unavailable(str(exc)) from exc
        return conn

    def _init_schema(self, conn: sqlite3.Connection) -> None:
        t = self.table
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(f"""
                CREATE TABLE IF NOT EXISTS {t} (
                    key TEXT NOT NULL UNIQUE,
                    blob BLOB NOT NULL,
                    version INTEGER NOT NULL,
                    created REAL NOT NULL,
                    last_seen REAL NOT NULL,
                    expires REAL NOT NULL,
                    absolute_expires REAL NOT NULL,
                    user TEXT,
                    info BLOB
                );
                CREATE INDEX IF NOT EXISTS {t}_expires ON {t} (expires);
                CREATE INDEX IF NOT EXISTS {t}_user ON {t} (user) WHERE user IS NOT NULL;
                CREATE TABLE IF NOT EXISTS {t}_meta (name TEXT PRIMARY KEY, value TEXT);
                INSERT OR IGNORE INTO {t}_meta VALUES ('schema_version', '{SCHEMA_VERSION}');
            """)  # noqa: S608 - the table name is checked to be an identifier
        except sqlite3.Error as exc:
            raise self._unavailable(str(exc)) from exc

    def _run(self, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Cursor:
        try:
            return self._conn().execute(sql, params)
        except sqlite3.Error as exc:
            raise self._unavailable(str(exc)) from exc

    def _unavailable(self, detail: str) -> StoreUnavailable:
        return StoreUnavailable(self.name, f"database file {str(self.path)!r}: {detail}")

    # -- the store protocol --------------------------------------------------

    def get(self, key: str, now: float) -> Record | None:
        row = self._run(
            f"SELECT {_COLUMNS} FROM {self.table} WHERE key = ? AND expires > ?",  # noqa: S608
            (key, now),
        ).fetchone()
        return Record(*row) if row else None

    def create(self, record: Record) -> bool:
        cursor = self._run(
            f"INSERT OR IGNORE INTO {self.table} ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",  # noqa: S608
            (record.key, record.blob, record.version, record.created, record.last_seen,
             record.expires, record.absolute_expires, record.user, record.info),
        )
        return cursor.rowcount == 1

    def replace(self, record: Record, expected_version: int, now: float) -> bool:
        cursor = self._run(
            f"UPDATE {self.table} SET blob = ?, version = ?, last_seen = ?, expires = ?, "  # noqa: S608
            "absolute_expires = ?, user = ?, info = ? WHERE key = ? AND version = ? AND expires > ?",
            (record.blob, record.version, record.last_seen, record.expires,
             record.absolute_expires, record.user, record.info, record.key, expected_version, now),
        )
        return cursor.rowcount == 1

    def touch(self, key: str, last_seen: float, expires: float, now: float) -> bool:
        cursor = self._run(
            f"UPDATE {self.table} SET last_seen = ?, expires = ? WHERE key = ? AND expires > ?",  # noqa: S608
            (last_seen, expires, key, now),
        )
        return cursor.rowcount == 1

    def delete(self, key: str) -> bool:
        return self._run(f"DELETE FROM {self.table} WHERE key = ?", (key,)).rowcount == 1  # noqa: S608

    def sessions_of(self, user: str, now: float) -> list[Record]:
        rows = self._run(
            f"SELECT {_COLUMNS} FROM {self.table} WHERE user = ? AND expires > ? "  # noqa: S608
            "ORDER BY created, key",
            (user, now),
        ).fetchall()
        return [Record(*row) for row in rows]

    def delete_user(self, user: str, now: float, keep: str | None = None) -> list[str]:
        rows = self._run(
            f"DELETE FROM {self.table} WHERE user = ? AND key IS NOT ? RETURNING key",  # noqa: S608
            (user, keep),
        ).fetchall()
        return [row[0] for row in rows]

    def purge(self, now: float, limit: int = 500) -> int:
        # Small batches keep each write lock short, so requests never queue behind a purge.
        cursor = self._run(
            f"DELETE FROM {self.table} WHERE rowid IN "  # noqa: S608
            f"(SELECT rowid FROM {self.table} WHERE expires <= ? LIMIT ?)",
            (now, limit),
        )
        return cursor.rowcount

    def stats(self, now: float) -> StoreStats:
        live, expired = self._run(
            f"SELECT count(*) FILTER (WHERE expires > ?), count(*) FILTER (WHERE expires <= ?) "  # noqa: S608
            f"FROM {self.table}",
            (now, now),
        ).fetchone()
        return StoreStats(live=live, expired=expired)

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections = []
            self._generation += 1
