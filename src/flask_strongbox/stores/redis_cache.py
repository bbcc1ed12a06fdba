"""The session records this process read from Redis, kept in memory and kept
right by the server: RESP3 client-side caching (``CLIENT TRACKING``).

One connection per store and process, apart from the client's pool, reads
the records it keeps. The server remembers which keys that connection read
and pushes an invalidation on it as soon as any client changes, rotates,
deletes or expires one of them. Each cached read first takes in what the
server pushed (a read of the socket that does not wait), so a change whose
write has returned to its client, in any process, is seen by the next read
here. Writes never go through this copy: they stay compare-and-swap scripts
against the server, so a copy that is stale can at worst fail one swap, and
the key is dropped from it before the swap is retried.

When that connection is lost, or the server refuses tracking, reads go to
the server as they do without the cache; the connection is tried again at
most once per :data:`RETRY` seconds, starting empty. A server that stops
answering without closing the connection is caught by a heartbeat: the copy
is trusted only within :data:`HEARTBEAT` seconds of the last answer on it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ..audit import logger
from .base import Record

#: Seconds a cached record is trusted after the tracking connection last
#: answered; past it, the next read pings the server first.
HEARTBEAT = 1.0
#: Seconds between two attempts to bring a lost tracking connection back.
RETRY = 1.0
#: Longest wait for an answer on the tracking connection, in seconds.
TIMEOUT = 0.5

#: The tracking connection's name, as ``CLIENT LIST`` shows it.
CLIENT_NAME = "strongbox-cache"
UNSUPPORTED = (
    "the Redis client-side cache (STRONGBOX_REDIS_CACHE, or cache=) works with one Redis or "
    "Valkey server, not with Cluster or Sentinel; set it to 0 for this store"
)

#: :meth:`TrackedReads.read`'s answer when the caller must read from the
#: server itself (the tracking connection is down, or another thread holds it).
PLAIN: Any = object()


class TrackedReads:
    """Records read through one tracking connection, up to ``size`` of them.

    :param connect: makes an unconnected RESP3 connection to the server.
    :param decode: the record of a store key, from its hash's fields.
    :param size: most records kept; past it, the oldest read goes first.
    :param where: the server, for log lines (no password).
    """

    def __init__(
        self, connect: Callable[[], Any], decode: Callable[[str, dict[bytes, bytes]], Record],
        size: int, where: str,
    ) -> None:
        self._connect = connect
        self._decode = decode
        self.size = size
        self.where = where
        self._records: dict[str, Record] = {}
        self._lock = threading.Lock()
        self._conn: Any = None
        self._retry_at = 0.0
        self._answered = 0.0
        self._pid = os.getpid()

    def read(self, name: str, key: str) -> Record | Any | None:
        """The record ``key``, stored as the hash ``name``: from memory, or read through
        the tracking connection (and kept); ``None`` if there is none; or
        :data:`PLAIN`: read it from the server, without the cache."""
        if not self._lock.acquire(blocking=False):
            return PLAIN  # another thread's read holds the connection: don't queue behind it
        try:
            conn = self._ready()
            if conn is None:
                return PLAIN
            try:
                while conn.can_read(0):  # what the server pushed: invalidations
                    conn.read_response(push_request=True)
                found = self._records.get(name)
                if found is not None:
                    return found
                conn.send_command("HGETALL", name)
                fields = conn.read_response()
            except Exception as exc:
                if type(exc).__name__ == "ResponseError":
                    raise  # about the key (WRONGTYPE), not the connection
                self._lost(exc)
                return PLAIN
            self._answered = time.monotonic()
            if not fields:
                return None
            record = self._decode(key, fields)
            if len(self._records) >= self.size:
                del self._records[next(iter(self._records))]
            self._records[name] = record
            return record
        finally:
            self._lock.release()

    def forget(self, name: str) -> None:
        """Drop ``name``: this process just wrote it, or a swap on it failed.
        The server's invalidation follows; this covers the moment before."""
        with self._lock:
            self._records.pop(name, None)

    def close(self) -> None:
        with self._lock:
            self._drop()
            self._retry_at = 0.0

    def _ready(self) -> Any:
        """The tracking connection, checked by the heartbeat, or ``None``."""
        now = time.monotonic()
        if self._pid != os.getpid():  # a forked worker: the socket is its parent's
            self._pid, self._conn, self._retry_at = os.getpid(), None, 0.0
            self._records.clear()
        if self._conn is None:
            if now < self._retry_at:
                return None
            try:
                self._conn = self._open()
            except Exception as exc:
                self._lost(exc)
                return None
            logger.info("Redis client-side cache on %s: tracking", self.where)
        elif now - self._answered > HEARTBEAT:
            try:
                self._conn.send_command("PING")
                self._conn.read_response()
            except Exception as exc:
                self._lost(exc)
                return None
        else:
            return self._conn
        self._answered = now
        return self._conn

    def _open(self) -> Any:
        conn = self._connect()
        conn.connect()
        # redis-py and valkey-py take pushes through their RESP3 parser's
        # handler (the parser is chosen as the connection says HELLO 3);
        # without it an invalidation that arrives ahead of a reply would be
        # dropped.
        conn._parser.set_invalidation_push_handler(self._invalidated)
        conn.send_command("CLIENT", "TRACKING", "ON")
        conn.read_response()
        return conn

    def _invalidated(self, message: list[Any]) -> None:
        """The server's ``invalidate`` push: these keys changed; ``None``: all
        of them (a ``FLUSHALL``). Runs under the lock, inside a read."""
        keys = message[1] if len(message) > 1 else None
        if keys is None:
            self._records.clear()
            return
        for key in keys:
            self._records.pop(key.decode() if isinstance(key, bytes) else key, None)

    def _lost(self, exc: Exception) -> None:
        if self._conn is not None or self._retry_at == 0.0:
            logger.warning(
                "Redis client-side cache on %s off until its tracking connection is back "
                "(reads go to the server): %s: %s", self.where, type(exc).__name__, exc,
            )
        self._drop()
        self._retry_at = time.monotonic() + RETRY

    def _drop(self) -> None:
        """Close the connection and forget everything: invalidations may be
        missed from here on."""
        self._records.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # closing a broken socket may fail too
                conn.disconnect()


def tracking_connection(client: Any) -> Callable[[], Any]:
    """How to make a RESP3 connection like the ones in ``client``'s pool
    (host, port, database, credentials, TLS), for :class:`TrackedReads`.

    :raises ValueError: for a Cluster or Sentinel client, which the cache
        does not follow (see :class:`~flask_strongbox.stores.redis.RedisStore`).
    """
    pool = getattr(client, "connection_pool", None)
    if hasattr(client, "get_nodes") or pool is None or hasattr(pool, "service_name"):
        raise ValueError(UNSUPPORTED)

    def connect() -> Any:
        # Named, so that an operator can tell it apart in CLIENT LIST.
        options = {**pool.connection_kwargs, "protocol": 3, "client_name": CLIENT_NAME}
        options["socket_timeout"] = min(options.get("socket_timeout") or TIMEOUT, TIMEOUT)
        return pool.connection_class(**options)

    return connect
