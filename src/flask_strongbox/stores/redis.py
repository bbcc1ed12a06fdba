"""Records in Redis or Valkey: standalone, Sentinel or Cluster.

Each record is one hash under ``{prefix}s:{key}`` that the server expires by
itself. Every write is one Lua script touching only that key, so each is atomic
and safe on Cluster without hash tags. A sorted set per user, ``{prefix}u:{user}``,
lists that user's record keys: a hint, checked against the records each time
it is read (:mod:`.redis_index`). A session's lease is one string,
``{prefix}l:{key}``, that the server expires when the lease ends: taken and
renewed by one script, released by another that deletes it only for the token
holding it.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any, cast

from ..errors import UnreadableRecord
from . import redis_steps as steps
from .base import Record, StoreStats, check_lease
from .redis_cache import PLAIN, UNSUPPORTED, TrackedReads, tracking_connection
from .redis_client import Server, wrong_type
from .redis_index import UserIndex
from .redis_records import decode, num, number, ttl_ms
from .redis_urls import Client, LazyClient, client_factory, redact


class RedisStore:
    """Records in Redis or Valkey; selected with ``redis://``, ``rediss://``,
    ``unix://``, ``redis+sentinel://`` or ``redis+cluster://`` (see :meth:`from_url`).

    Records expire by the server's own TTL, computed from the caller's ``now``,
    so :meth:`purge` is rarely needed. Use ``maxmemory-policy noeviction``: an
    evicted user index would hide sessions from :meth:`delete_user`.

    :param client: a redis-py ``Redis`` or ``RedisCluster`` client, or the
        valkey-py equivalent, made with ``decode_responses=False``.
    :param prefix: put before every key, so several apps can share a server.
    :param cache: keep up to this many records in memory, invalidated by the
        server (RESP3 client-side caching, see :doc:`stores`):
        a read of a session this process has seen costs no round trip. ``0``
        (the default): every read asks the server. One Redis (6 or later) or
        Valkey server only, not Cluster or Sentinel.
    :raises ValueError: a cache asked of a Cluster or Sentinel client.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
        The ``cache`` parameter.
    """

    name = "redis"
    #: Redis expires records by TTL, so requests never need to purge.
    expires_records_itself = True

    def __init__(self, client: Client | LazyClient, *, prefix: str = "strongbox:", cache: int = 0) -> None:
        self._server = Server(client)
        self._guard, self._run = self._server.guard, self._server.run
        self.prefix = prefix
        self._names = steps.Names(prefix)
        self._index = UserIndex(self._server, self._names)
        #: The URL it was made from (by :meth:`from_url`), for an async
        #: store on the same server; never shown.
        self.url: str | None = None
        self._tracked: TrackedReads | None = None
        if cache:
            if not isinstance(client, LazyClient):
                tracking_connection(client)  # a Cluster or Sentinel client fails here, not at first use
            self._tracked = TrackedReads(self._tracking_connection, decode, cache, self._server.where)

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = "strongbox:", timeout: float = 2.0, cache: int = 0,
        **options: Any,
    ) -> RedisStore:
        """Make a store from a URL. Nothing connects until the first use, so a
        server that is down gives :class:`StoreUnavailable` then, not here.

        - ``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` for TLS,
          ``unix://[[user]:password@]/path/to/socket[?db=0]``
        - ``redis+sentinel://[:password@]host:port[,host:port]/service_name[/db]``;
          the password is the master's, the Sentinels are reached without one.
        - ``redis+cluster://[:password@]host:port[,host:port]``, ``rediss+cluster://``

        :param url: where the server is.
        :param prefix: put before every key.
        :param timeout: seconds to wait for a connection or an answer.
        :param cache: records kept in memory (see the class); not with
            ``redis+sentinel://`` or ``redis+cluster://``.
        :raises ValueError: if the URL's scheme is not one of these, or for
            another option (``**options`` only makes the signature the
            :class:`~flask_strongbox.Store` protocol's, for type checkers).
        """
        if options:
            raise ValueError(f"a Redis store takes no option {sorted(options)[0]!r}")
        if cache and "+" in url.partition("://")[0]:
            raise ValueError(UNSUPPORTED)
        build, secrets = client_factory(url, timeout)
        store = cls(LazyClient(build, redact(url), secrets), prefix=prefix, cache=cache)
        store.url = url
        return store

    def __repr__(self) -> str:
        return f"<RedisStore {self._server.where} prefix={self.prefix!r}>"

    def init_db(self) -> None:
        """Nothing to create: check that the server answers."""
        with self._guard() as client:
            client.ping()

    def _tracking_connection(self) -> Any:
        with self._guard() as client:
            return tracking_connection(client)()

    def _wrote(self, name: str) -> None:
        """This process changed (or failed to swap) the record ``name``."""
        if self._tracked is not None:
            self._tracked.forget(name)

    def _record_key(self, key: str) -> str:
        return self._names.record(key)

    def _lease_key(self, key: str) -> str:
        return self._names.lease(key)

    # -- the store protocol --------------------------------------------------

    def get(self, key: str, now: float) -> Record | None:
        tracked = self._tracked
        if tracked is not None:
            try:
                record = tracked.read(self._record_key(key), key)
            except Exception as exc:
                if wrong_type(exc):
                    raise UnreadableRecord(key, "the key holds another type than a hash") from None
                raise
            if record is not PLAIN:
                return record if record is not None and record.is_live(now) else None
        return cast(Record | None, self._server.drive(steps.get(self._names, key, now)))

    def create(self, record: Record) -> bool:
        created = bool(self._server.drive(steps.create(self._names, record)))
        self._wrote(self._record_key(record.key))
        return created

    def replace(self, record: Record, expected_version: int, now: float) -> bool:
        replaced = bool(self._server.drive(steps.replace(self._names, record, expected_version, now)))
        self._wrote(self._record_key(record.key))
        return replaced

    def touch(self, key: str, expires: float, now: float) -> bool:
        touched = bool(self._server.drive(steps.touch(self._names, key, expires, now)))
        self._wrote(self._record_key(key))
        return touched

    def delete(self, key: str) -> bool:
        deleted = bool(self._server.drive(steps.delete(self._names, key)))
        self._wrote(self._record_key(key))
        return deleted

    def sessions_of(self, user_hash: str, now: float) -> list[Record]:
        found = self._index.verified(user_hash)
        return sorted((r for r in found if r.is_live(now)), key=lambda r: (r.created, r.key))

    def delete_user(self, user_hash: str, keep: str | None = None) -> list[str]:
        user = user_hash
        members = self._index.members(user)
        removed, done = [], []
        for member, score in members:
            key = member.decode()
            if key == keep:
                continue
            deleted = self._run("delete_owned", self._record_key(key), user)
            self._wrote(self._record_key(key))
            if deleted:
                removed.append(key)
            done.append((member, score))
        self._index.drop(user, done)
        return removed

    def lock(self, key: str, token: str, until: float, now: float) -> bool:
        check_lease(until, now)
        ttl = ttl_ms(until, now)
        return bool(self._run("lock", self._lease_key(key), token, num(until), num(now), ttl))

    def unlock(self, key: str, token: str) -> bool:
        return bool(self._run("unlock", self._lease_key(key), token))

    def purge(self, now: float, limit: int = 500) -> int:
        """Remove up to ``limit`` records that expired before ``now`` but are
        still held, then drop stale members from the user indexes. This scans
        the whole key space (``SCAN``, never ``KEYS``): run it from a scheduled
        job, not on the request path; the server expires records by itself,
        and leases too (they are left to it here).
        """
        removed = 0
        for batch in self._server.scan(self.prefix + "s:"):
            for raw, expires in zip(batch, self._server.hget_all(batch, "expires"), strict=True):
                # Not a number (another type, a field missing or garbled): not
                # a record, so removed too; the script decides under the key.
                found = number(expires)
                if removed < limit and (found is None or found <= now):
                    removed += self._run("delete_expired", raw, num(now))
                    self._wrote(raw.decode(errors="replace"))
            if removed >= limit:
                break
        for batch in self._server.scan(self.prefix + "u:"):
            self._index.clean(batch)
        return removed

    def scan(self, cursor: str, limit: int) -> tuple[list[Record], str]:
        """Records in ``SCAN`` order: the cursor names a node (one on a single
        server; each primary of a Cluster, in turn) and the server's cursor
        on it. A Cluster that reshards during the walk may hide records from
        it; run again after resharding."""
        node, position = _cursor(cursor)
        keys, position, nodes = self._server.scan_node(self.prefix + "s:", node, position, limit)
        records = self._decoded(keys)
        if position == 0:
            node, position = node + 1, 0
        return records, "" if node >= nodes else f"{node}:{position}"

    def stats(self, now: float) -> StoreStats:
        live = expired = 0
        for batch in self._server.scan(self.prefix + "s:"):
            # A key that expired between the scan and the read gives None; one
            # whose expiry is not a number is counted expired, as purge takes it.
            for found in self._server.hget_all(batch, "expires"):
                if found is not None:
                    expires = number(found)
                    live += expires is not None and expires > now
                    expired += expires is None or expires <= now
        return StoreStats(live=live, expired=expired)

    def close(self) -> None:
        """Close the pooled connections (and the cache's); the next use opens new ones."""
        if self._tracked is not None:
            self._tracked.close()
        self._server.close()

    def _decoded(self, keys: list[bytes]) -> list[Record]:
        """The records under these raw keys, passing over what is gone or unreadable."""
        if not keys:
            return []
        with self._guard() as client:
            pipe = client.pipeline(transaction=False)
            for raw in keys:
                pipe.hgetall(raw)
            rows = pipe.execute(raise_on_error=False)
        found, cut = [], len(self.prefix) + 2
        for raw, fields in zip(keys, rows, strict=True):
            if isinstance(fields, dict) and fields:
                with suppress(UnreadableRecord, UnicodeDecodeError):
                    found.append(decode(raw[cut:].decode(), fields))
        return found


def _cursor(cursor: str) -> tuple[int, int]:
    """``(node, position)`` from a cursor :meth:`RedisStore.scan` made."""
    if not cursor:
        return 0, 0
    node, _, position = cursor.partition(":")
    if not (node.isdigit() and position.isdigit()):
        raise ValueError("not a cursor of RedisStore.scan: pass back what the previous call returned")
    return int(node), int(position)
