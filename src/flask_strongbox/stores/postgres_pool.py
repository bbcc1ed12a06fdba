"""Connections for the PostgreSQL store: a :class:`psycopg_pool.ConnectionPool`
per process, opened on first use, whose every statement is bounded by the
store's timeout on the server (``statement_timeout``, ``lock_timeout``), on
the wire (TCP keepalives, ``tcp_user_timeout``) and, for a server that cannot
even say it timed out (stopped, cut off), by a watchdog in this process."""

from __future__ import annotations

import math
import os
import select
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from .postgres_schema import Connection
from .watchdog import Watch, watchdog

#: How much longer than the server's own timeouts the client waits before it
#: gives up on a server that cannot even say it timed out (stopped, cut off).
GRACE = 0.5

#: Turns a psycopg error (and the watch it happened under) into the store's own.
OnError = Callable[[psycopg.Error, "Watch | None"], Exception]
#: Run once on each new connection, with :meth:`Connections.limits`.
CONFIGURE = ("SELECT set_config('statement_timeout', %s, false), "
             "set_config('lock_timeout', %s, false)")


class Connections:
    """Pooled connections to one database.

    :param conninfo: the libpq connection string or URL.
    :param params: its parsed parameters (options it sets itself are kept).
    :param pool: ``(fewest, most)`` connections open.
    :param timeout: seconds any wait may take.
    :param on_error: makes the exception a failed statement raises.
    """

    def __init__(
        self, conninfo: str, params: dict[str, str], pool: tuple[int, int], timeout: float,
        on_error: OnError,
    ) -> None:
        self.conninfo, self.params, self.timeout = conninfo, params, timeout
        self.pool_min, self.pool_max = pool
        self.on_error = on_error
        self.name = "strongbox"
        self._pool: ConnectionPool[Connection] | None = None
        self._pid = 0
        self._lock = threading.Lock()

    @contextmanager
    def connection(self, seconds: float | None = None) -> Iterator[Connection]:
        """A pooled connection whose every statement must finish within
        ``seconds`` (the timeout, and a little grace, by default). Past that its
        socket is shut down and the connection discarded, never pooled again."""
        pool: ConnectionPool[Connection] | None = None
        conn: Connection | None = None
        watch: Watch | None = None
        try:
            pool = self._get_pool()
            conn = self._checkout(pool)
            with watchdog.watch(conn.fileno(), seconds or self.timeout + GRACE) as watch:
                yield conn
        except psycopg.Error as exc:
            raise self.on_error(exc, watch) from exc
        finally:
            if pool is not None and conn is not None:
                if watch is not None and watch.expired:
                    conn.close()
                pool.putconn(conn)  # a closed or half-used one is discarded

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        # In a forked worker, the sockets are the parent's: leave them be.
        if pool is not None and self._pid == os.getpid():
            pool.close()

    def _get_pool(self) -> ConnectionPool[Connection]:
        pool = self._pool
        if pool is None or self._pid != os.getpid():
            with self._lock:
                if self._pool is None or self._pid != os.getpid():
                    # A forked worker opens its own pool. Dropping the inherited
                    # one is safe: psycopg never closes a parent's connection.
                    self._pool, self._pid = self._new_pool(), os.getpid()
                pool = self._pool
        return pool

    def _new_pool(self) -> ConnectionPool[Connection]:
        pool: ConnectionPool[Connection] = ConnectionPool(
            self.conninfo, kwargs=self.connect_options(),
            min_size=self.pool_min, max_size=self.pool_max, open=False,
            configure=self._configure,
            # Give up reconnecting quickly: the next request starts a fresh
            # attempt at once, instead of waiting out a long backoff.
            reconnect_timeout=self.timeout,
            name=self.name,
        )
        pool.open(wait=False)
        return pool

    def connect_options(self) -> dict[str, Any]:
        """libpq options: autocommit, and a dead peer noticed within about the
        timeout, by TCP keepalives while idle and ``tcp_user_timeout`` while
        sending. Options the connection string sets itself are left as they are."""
        seconds = max(1, math.ceil(self.timeout))
        options: dict[str, Any] = {
            "connect_timeout": seconds, "keepalives": 1, "keepalives_idle": seconds,
            "keepalives_interval": seconds, "keepalives_count": 3,
        }
        if psycopg.pq.version() >= 120000:  # libpq 12 added tcp_user_timeout
            options["tcp_user_timeout"] = math.ceil(self.timeout * 1000)
        options = {k: v for k, v in options.items() if k not in self.params}
        return {"autocommit": True, **options}

    def _configure(self, conn: Connection) -> None:
        """Have the server end any statement, or wait for a lock, that takes
        longer than the timeout. Set once per connection, by ``SET`` rather than
        the ``options`` startup parameter, which PgBouncer refuses."""
        with watchdog.watch(conn.fileno(), self.timeout + GRACE):
            conn.execute(CONFIGURE, self.limits())

    def limits(self) -> list[str]:
        """:data:`CONFIGURE`'s parameters: the timeout, in milliseconds."""
        limit = f"{math.ceil(self.timeout * 1000)}ms"
        return [limit, limit]

    def _checkout(self, pool: ConnectionPool[Connection]) -> Connection:
        """A pooled connection, passing over those the server closed while they
        sat idle (a restart, an admin shutdown). The pool's own ``check`` would
        back off for seconds after each dead one, so a pool full of them would
        time out instead of reconnecting.
        """
        deadline = time.monotonic() + self.timeout
        while True:
            conn = pool.getconn(timeout=max(0.0, deadline - time.monotonic()))
            if not said_something(conn):
                return conn
            conn.close()
            pool.putconn(conn)  # discarded, and a replacement is started


def said_something(conn: Connection | psycopg.AsyncConnection[Any]) -> bool:
    """Whether an idle connection is closed or has input waiting. Input on an
    idle connection is nearly always the server saying goodbye (a restart, an
    admin shutdown), so such a connection is replaced without the round trip
    it would take to find out, which a stopped server would never answer."""
    if conn.closed:
        return True
    fileno = conn.fileno()
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fileno, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fileno], [], [], 0)[0])  # Windows
