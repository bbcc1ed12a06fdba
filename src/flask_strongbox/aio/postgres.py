"""The PostgreSQL store, awaited: psycopg's :class:`AsyncConnectionPool`
runs the same statements as the blocking store (:mod:`..stores.postgres_sql`).

The blocking twin keeps what is rare and not on a request's path (creating
and upgrading the schema, leases, purge, statistics) and runs it in a worker
thread; every per-request operation is a native async statement.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any, TypeVar, cast

import psycopg
from psycopg_pool import AsyncConnectionPool

from ..errors import StoreUnavailable
from ..stores.base import Store
from ..stores.postgres import PostgresStore
from ..stores.postgres_pool import CONFIGURE, GRACE, said_something
from ..stores.postgres_sql import OPERATIONS, Statement
from .base import ThreadedStore

T = TypeVar("T")
Pool = AsyncConnectionPool[psycopg.AsyncConnection[Any]]


class AsyncPostgresStore(ThreadedStore):
    """Records in a PostgreSQL table, for an ASGI app; selected with
    ``postgresql://...``. The table is the blocking
    :class:`~flask_strongbox.stores.postgres.PostgresStore`'s, so a Flask app and an
    ASGI app can share it.

    :param store: the blocking store whose table, pool sizes and timeout
        this one uses; it is ``sync``.
    :param max_threads: calls of the twin in flight at once.

    .. versionadded:: 0.2
    """

    def __init__(self, store: PostgresStore, *, max_threads: int = 2) -> None:
        # PostgresStore's from_url takes named options only, which the protocol cannot say.
        super().__init__(cast(Store, store), max_threads=max_threads)
        self.twin = store
        self._pool: Pool | None = None
        self._pid = 0

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 5.0, **options: Any) -> AsyncPostgresStore:
        """The store for a ``postgresql://`` URL; see
        :meth:`~flask_strongbox.stores.postgres.PostgresStore.from_url`."""
        return cls(PostgresStore.from_url(url, timeout=timeout, **options))

    async def _call(self, method: Callable[..., T], *args: Any) -> T:
        build = OPERATIONS.get(method.__name__)
        if build is None or method.__name__ in ("lock", "unlock"):
            return await super()._call(method, *args)
        return cast(T, await self._run(build(*args)))

    async def _run(self, statement: Statement[T]) -> T:
        twin = self.twin
        if not twin._ready:  # the schema is checked once, in a thread
            await super()._call(twin.prepare)
        timeout = twin.connect_timeout
        try:
            pool = await self._get_pool()
            async with pool.connection(timeout=timeout) as conn:
                count, rows = await asyncio.wait_for(self._execute(conn, statement), timeout + GRACE)
        except psycopg.Error as exc:
            raise twin._unavailable(exc) from exc
        except asyncio.TimeoutError:
            raise StoreUnavailable(twin.name, (
                f"no answer within {timeout + GRACE:g} s; check that the server is up and reachable"
            )) from None
        return statement.answer(count, rows)

    async def _execute(
        self, conn: psycopg.AsyncConnection[Any], statement: Statement[Any],
    ) -> tuple[int, list[Any]]:
        try:
            cursor = await conn.execute(self.twin._layout.sql(statement.template), statement.params)
            return cursor.rowcount, await cursor.fetchall() if cursor.description else []
        except asyncio.CancelledError:
            await conn.close()  # cut off mid-statement: never pooled again
            raise

    async def _get_pool(self) -> Pool:
        if self._pool is None or self._pid != os.getpid():
            connections = self.twin._connections
            pool: Pool = AsyncConnectionPool(
                connections.conninfo, kwargs=connections.connect_options(),
                min_size=connections.pool_min, max_size=connections.pool_max, open=False,
                configure=self._configure, check=self._check, reconnect_timeout=connections.timeout,
                name=f"{connections.name}-async",
            )
            await pool.open(wait=False)
            self._pool, self._pid = pool, os.getpid()
        return self._pool

    async def _configure(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute(CONFIGURE, self.twin._connections.limits())

    @staticmethod
    async def _check(conn: psycopg.AsyncConnection[Any]) -> None:
        # As the blocking pool: a connection the server closed while idle is
        # replaced without a round trip a stopped server would never answer.
        if said_something(conn):
            raise psycopg.OperationalError("the server closed the idle connection")

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None and self._pid == os.getpid():
            await pool.close()
        await super().close()



