"""A small, bounded pool of SQLite connections.

Each operation borrows a connection and gives it back, so the number open is
the number of operations running at once plus at most ``size`` idle ones,
whatever the server's threading model: a thread per request, a thread pool,
greenlets or forked workers. A forked child never uses its parent's
connections.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class ConnectionPool:
    """Connections made by ``connect``, lent one per operation.

    :param connect: opens a new connection; called when none is idle.
    :param size: idle connections kept for reuse. A connection given back
        while ``size`` are idle is closed.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], size: int) -> None:
        if size < 1:
            raise ValueError("a SQLite pool keeps at least one connection (size >= 1)")
        self.size = size
        self._connect = connect
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._generation = 0  # bumped by close() and by a fork
        forget = weakref.WeakMethod(self._forget_parent_connections)
        os.register_at_fork(after_in_child=lambda: (method := forget()) and method())

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A connection for one operation, given back when the block ends."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
            generation = self._generation
        if conn is None:
            conn = self._connect()
        try:
            yield conn
        finally:
            self._give_back(conn, generation)

    def _give_back(self, conn: sqlite3.Connection, generation: int) -> None:
        if not conn.in_transaction:
            with self._lock:
                # A connection lent before close() (or a fork) is not kept.
                if generation == self._generation and len(self._idle) < self.size:
                    self._idle.append(conn)
                    return
        conn.close()

    def idle(self) -> int:
        """How many connections are open and waiting to be lent."""
        return len(self._idle)

    def close(self) -> None:
        """Close the idle connections; those lent out are closed when given back."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._generation += 1
        for conn in idle:
            conn.close()

    def _forget_parent_connections(self) -> None:
        # In a forked child. SQLite's rule: a connection must not cross a fork,
        # so the parent's are dropped unused and unclosed, and so is the lock,
        # which another thread may have held at the fork.
        self._lock = threading.Lock()
        self._idle = []
        self._generation += 1
