"""Flask-Session's SQLAlchemy backend, on SQLite or PostgreSQL.

``SqlAlchemySessionInterface`` (``flask_session/sqlalchemy/sqlalchemy.py``,
0.8) keeps one row per session in ``SESSION_SQLALCHEMY_TABLE`` (default
``sessions``, in ``SESSION_SQLALCHEMY_SCHEMA`` if set): ``id`` integer
primary key, ``session_id`` ``VARCHAR(255)`` unique (prefix + sid), ``data``
``LargeBinary`` (msgpack), ``expiry`` ``DateTime`` written as naive UTC
(``datetime.utcnow() + PERMANENT_SESSION_LIFETIME``). A row whose expiry is
NULL or not after "now" is expired. We read the table with the plain driver,
SQLAlchemy is not needed.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

from ..errors import ConfigurationError, StoreUnavailable
from . import record_format
from .flask_session import FlaskSessionConfig
from .results import LegacyRecord, LegacyResult, Missing, Refused

Row = Sequence[Any]


def _quoted(*names: str | None) -> str:
    """A qualified SQL identifier, quoted as SQLAlchemy creates it."""
    return ".".join('"' + name.replace('"', '""') + '"' for name in names if name)


class _SQLReader:
    """The queries and row decoding both databases share; a subclass only
    says how to run one statement."""

    name = "flask-session sql"
    _mark = "?"

    def __init__(self, config: FlaskSessionConfig, schema: str | None) -> None:
        record_format.require_msgspec()
        self.config = config
        # The table name is quoted as an identifier; values are parameters.
        table, m = _quoted(schema, config.table), self._mark
        self._get = f"SELECT data, expiry FROM {table} WHERE session_id = {m}"  # noqa: S608
        self._delete = f"DELETE FROM {table} WHERE session_id = {m} RETURNING id"  # noqa: S608
        self._page = (
            f"SELECT id, session_id, data, expiry FROM {table} "  # noqa: S608
            f"WHERE id > {m} AND substr(session_id, 1, {m}) = {m} ORDER BY id LIMIT {m}"
        )

    def _run(self, query: str, params: tuple[Any, ...]) -> list[Row]:
        raise NotImplementedError

    def record_key(self, sid: str) -> str:
        return self.config.key_prefix + sid

    def load(self, sid: str, now: float) -> LegacyResult:
        rows = self._run(self._get, (self.record_key(sid),))
        return self._result(rows[0], now) if rows else Missing()

    def delete(self, sid: str) -> bool:
        return self.delete_record(self.record_key(sid))

    def delete_record(self, key: str) -> bool:
        return bool(self._run(self._delete, (key,)))

    def scan(self, now: float, batch_size: int = 500) -> Iterator[list[LegacyRecord]]:
        prefix, last = self.config.key_prefix, -1
        while True:
            rows = self._run(self._page, (last, len(prefix), prefix, batch_size))
            if not rows:
                return
            last = rows[-1][0]
            yield [LegacyRecord(row[1], self._result(row[2:], now)) for row in rows]

    def close(self) -> None:
        """Nothing held between calls by default."""

    def _result(self, row: Row, now: float) -> LegacyResult:
        data, expiry = row
        try:
            expires = _unix(expiry)
        except ValueError:
            return Refused("malformed", "expiry is not a date")
        if expires is None or expires <= now:
            return Missing(expired=True)
        if not data:
            return Refused("malformed", "no data")
        return record_format.decode(bytes(data), expires, self.config.serialization_format)


def _unix(expiry: datetime | str | None) -> float | None:
    """A naive-UTC ``DateTime`` (a ``datetime``, or SQLite's text) as Unix seconds."""
    if expiry is None:
        return None
    if isinstance(expiry, str):
        expiry = datetime.fromisoformat(expiry)
    return expiry.replace(tzinfo=timezone.utc).timestamp()


class SQLiteReader(_SQLReader):
    """Reads Flask-Session's table in a SQLite file. A file that is missing
    raises :class:`~flask_strongbox.StoreUnavailable`; it is never created.

    :param path: the database file.
    :param config: the app's Flask-Session settings (SQLite has no schemas).

    .. versionadded:: 0.2
    """

    name = "flask-session sqlite"

    def __init__(self, path: str | os.PathLike[str], config: FlaskSessionConfig) -> None:
        if config.schema:
            raise ConfigurationError("SESSION_SQLALCHEMY_SCHEMA cannot be read on SQLite; unset it")
        super().__init__(config, None)
        self.path = os.fspath(path)
        self._uri = f"file:{urllib.parse.quote(self.path)}?mode=rw"

    def __repr__(self) -> str:
        return f"<SQLiteReader {self.path!r} table={self.config.table!r}>"

    def _run(self, query: str, params: tuple[Any, ...]) -> list[Row]:
        try:
            conn = sqlite3.connect(self._uri, uri=True, timeout=5)
            try:
                with conn:
                    return conn.execute(query, params).fetchall()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise StoreUnavailable(self.name, f"database file {self.path!r}: {exc}") from None


class PostgresReader(_SQLReader):
    """Reads Flask-Session's table in PostgreSQL, through a small pool of
    autocommitted connections opened on first use.

    :param url: ``postgresql://...`` (a SQLAlchemy ``+driver`` is dropped).
    :param config: the app's Flask-Session settings.
    :param connect_timeout: seconds to wait for a connection.

    .. versionadded:: 0.2
    """

    name = "flask-session postgres"
    _mark = "%s"

    def __init__(self, url: str, config: FlaskSessionConfig, connect_timeout: float = 5.0) -> None:
        from psycopg.conninfo import conninfo_to_dict

        super().__init__(config, config.schema)
        scheme, sep, rest = url.partition("://")
        self._conninfo = f"{scheme.partition('+')[0]}{sep}{rest}"
        params = conninfo_to_dict(self._conninfo)
        self._where = " ".join(f"{k}={params[k]}" for k in ("host", "port", "dbname") if k in params)
        self._password = str(params.get("password") or "")
        self.connect_timeout = connect_timeout
        self._pool: Any = None
        self._pid = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<PostgresReader {self._where} table={_quoted(self.config.schema, self.config.table)}>"

    def _run(self, query: str, params: tuple[Any, ...]) -> list[Row]:
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            with self._get_pool().connection(timeout=self.connect_timeout) as conn:
                cursor = conn.execute(query, params)
                return cursor.fetchall() if cursor.description else []
        except (psycopg.Error, PoolTimeout) as exc:
            detail = f"{self._where}: {type(exc).__name__}: {str(exc)[:200]}"
            if self._password:
                detail = detail.replace(self._password, "***")
            raise StoreUnavailable(self.name, detail) from None

    def _get_pool(self) -> Any:
        from psycopg_pool import ConnectionPool

        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                # A forked worker opens its own pool; the parent's is left alone.
                self._pool = ConnectionPool(
                    self._conninfo, min_size=0, max_size=4, open=False,
                    kwargs={"autocommit": True, "connect_timeout": max(1, round(self.connect_timeout))},
                    reconnect_timeout=self.connect_timeout, name="strongbox-migrate",
                )
                self._pool.open(wait=False)
                self._pid = os.getpid()
            return self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None and self._pid == os.getpid():
                self._pool.close()
            self._pool = None
