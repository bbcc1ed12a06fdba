"""Records in Redis or Valkey: standalone, Sentinel or Cluster.

Each record is one hash under ``{prefix}s:{key}`` that the server expires by
itself. Every write is one Lua script touching only that key, so each is atomic
and safe on Cluster without hash tags. A sorted set per user, ``{prefix}u:{user}``,
lists that user's record keys, scored by record version. It is a hint, not the
truth: readers check each member against the record's own ``user`` field and
drop stale ones, so records that expire or are evicted never leave it wrong.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import StoreUnavailable
from .base import Record, StoreStats
from .redis_urls import Client, client_factory, redact

# Matched by class name, so redis-py's and valkey-py's parallel exception trees
# (and the builtins of the same names) all mean "the server can't answer now".
_HINTS = {
    "BusyLoadingError": "the server is loading its data set; it answers once loaded",
    "ReadOnlyError": "connected to a read-only replica; check the failover state",
    "OutOfMemoryError": "the server reached maxmemory; raise it or free memory",
    "MasterNotFoundError": "no Sentinel knows a master for the service; check Sentinel",
    "ClusterError": "the cluster is down or resharding; check `redis-cli --cluster check`",
    "RedisClusterException": "no cluster node answered; check the node addresses",
    "AuthenticationError": "authentication failed; check the user name and password",
    "TimeoutError": "the server did not answer in time; check it is up and not overloaded",
    "ConnectionError": "cannot connect; check the server is running and reachable",
}

_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""
# The next two return the old user, expires, absolute_expires and version, so
# the caller can tell whether the user index must take or outlive the record.
# ARGV: expected version, now, ttl ms (0: the new record is already dead), fields.
_REPLACE = """
local cur = redis.call('HMGET', KEYS[1], 'user', 'expires', 'absolute_expires', 'version')
if cur[4] ~= ARGV[1] or tonumber(cur[2]) <= tonumber(ARGV[2]) then return false end
if ARGV[3] == '0' then redis.call('DEL', KEYS[1]) return {} end
redis.call('HDEL', KEYS[1], 'user', 'info')
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return cur
"""
# ARGV: now, last_seen, expires, ttl ms (0: the record is now dead).
_TOUCH = """
local cur = redis.call('HMGET', KEYS[1], 'user', 'expires', 'absolute_expires', 'version')
if not cur[2] or tonumber(cur[2]) <= tonumber(ARGV[1]) then return false end
if ARGV[4] == '0' then redis.call('DEL', KEYS[1]) return {} end
redis.call('HSET', KEYS[1], 'last_seen', ARGV[2], 'expires', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return cur
"""
_DELETE_IF_OWNED = """
if redis.call('HGET', KEYS[1], 'user') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0"""
_DELETE_IF_EXPIRED = """
local expires = tonumber(redis.call('HGET', KEYS[1], 'expires') or '+inf')
if expires <= tonumber(ARGV[1]) then return redis.call('DEL', KEYS[1]) end
return 0"""
# GT keeps scores rising, so a member re-added after a reader saw it stale gets
# a new score and the reader's conditional removal below leaves it alone.
_INDEX_ADD = """
redis.call('ZADD', KEYS[1], 'GT', ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
"""
_INDEX_DROP = """
local removed = 0
for i = 1, #ARGV, 2 do
  if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[i])) == tonumber(ARGV[i + 1]) then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed
"""
_SCRIPTS = {
    "create": _CREATE, "replace": _REPLACE, "touch": _TOUCH, "delete_owned": _DELETE_IF_OWNED,
    "delete_expired": _DELETE_IF_EXPIRED, "index_add": _INDEX_ADD, "index_drop": _INDEX_DROP,
}
_BATCH = 500


class RedisStore:
    """Records in Redis or Valkey; selected with ``redis://``, ``rediss://``,
    ``unix://``, ``redis+sentinel://`` or ``redis+cluster://`` (see :meth:`from_url`).

    Records expire by the server's own TTL, computed from the caller's ``now``,
    so :meth:`purge` is rarely needed. Use ``maxmemory-policy noeviction``: an
    evicted user index would hide sessions from :meth:`delete_user`.

    :param client: a redis-py ``Redis`` or ``RedisCluster`` client, or the
        valkey-py equivalent, made with ``decode_responses=False``.
    :param prefix: put before every key, so several apps can share a server.

    .. versionadded:: 0.1
    """

    name = "redis"
    #: Redis expires records by TTL, so requests never need to purge.
    expires_records_itself = True

    def __init__(self, client: Client, *, prefix: str = "strongbox:") -> None:
        encoder = getattr(client, "get_encoder", None)
        if encoder is not None and encoder().decode_responses:
            raise ValueError("RedisStore needs a client made with decode_responses=False")
        self._setup(lambda: client, prefix, _describe(client), _secrets_of(client))

    def _setup(
        self, build: Callable[[], Client], prefix: str, where: str, secrets: list[str]
    ) -> None:
        self.prefix = prefix
        self._build, self._where, self._secrets = build, where, secrets
        self._client: Client = None  # built on first use
        self._scripts: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = "strongbox:", socket_timeout: float = 2.0
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
        :param socket_timeout: seconds to wait for a connection or an answer.
        :raises ValueError: if the URL's scheme is not one of these.
        """
        build, secrets = client_factory(url, socket_timeout)
        store = cls.__new__(cls)
        store._setup(build, prefix, redact(url), secrets)
        return store

    def __repr__(self) -> str:
        return f"<RedisStore {self._where} prefix={self.prefix!r}>"

    @contextmanager
    def _guard(self) -> Iterator[Client]:
        try:
            if self._client is None:
                with self._lock:
                    if self._client is None:
                        self._client = self._build()
            yield self._client
        except Exception as exc:
            hint = next((_HINTS[c.__name__] for c in type(exc).__mro__ if c.__name__ in _HINTS), None)
            if hint is None:
                raise
            said = str(exc) if len(str(exc)) < 200 else str(exc)[:200] + "..."
            detail = f"{self._where}: {type(exc).__name__}: {said}; {hint}"
            for secret in self._secrets:
                detail = detail.replace(secret, "***")
            raise StoreUnavailable(self.name, detail) from None

    def _run(self, script: str, key: str | bytes, *args: object) -> Any:
        with self._guard() as client:
            if script not in self._scripts:
                self._scripts[script] = client.register_script(_SCRIPTS[script])
            return self._scripts[script](keys=[key], args=args)

    def _record_key(self, key: str) -> str:
        return f"{self.prefix}s:{key}"

    def _index_key(self, user: str) -> str:
        return f"{self.prefix}u:{user}"

    def _follow(
        self, old: list[Any] | None, key: str, user: str | None, version: int, until: float,
        now: float,
    ) -> None:
        """After a write over ``old`` (user, expires, absolute_expires, version;
        ``None`` for a new record), make the user index name it and outlive it."""
        if user is None:
            return
        if old is not None and old[0] == user.encode() and until <= max(map(float, old[1:3])):
            return  # already listed, and the list lives long enough
        self._run("index_add", self._index_key(user), version, key, _ttl_ms(until, now))

    # -- the store protocol --------------------------------------------------

    def get(self, key: str, now: float) -> Record | None:
        with self._guard() as client:
            fields = client.hgetall(self._record_key(key))
        record = _record(key, fields) if fields else None
        return record if record is not None and record.is_live(now) else None

    def create(self, record: Record) -> bool:
        now = record.last_seen
        ttl = _ttl_ms(record.expires, now)
        if ttl <= 0:  # dead on arrival: nothing to write
            with self._guard() as client:
                return not client.exists(self._record_key(record.key))
        if not self._run("create", self._record_key(record.key), ttl, *_fields(record)):
            return False
        until = max(record.expires, record.absolute_expires)
        self._follow(None, record.key, record.user, record.version, until, now)
        return True

    def replace(self, record: Record, expected_version: int, now: float) -> bool:
        ttl = max(_ttl_ms(record.expires, now), 0)
        fields = _fields(record)[2:]  # created is kept from the stored record
        old = self._run("replace", self._record_key(record.key), expected_version, _num(now),
                        ttl, *fields)
        if old is None:
            return False
        if old:  # empty: the new record was already dead, so it is gone
            until = max(record.expires, record.absolute_expires)
            self._follow(old, record.key, record.user, record.version, until, now)
        return True

    def touch(self, key: str, last_seen: float, expires: float, now: float) -> bool:
        ttl = max(_ttl_ms(expires, now), 0)
        found = self._run("touch", self._record_key(key), _num(now), _num(last_seen),
                          _num(expires), ttl)
        if found is None:
            return False
        if found and found[0] is not None:
            until = max(expires, float(found[2]))
            self._follow(found, key, found[0].decode(), int(found[3]), until, now)
        return True

    def delete(self, key: str) -> bool:
        with self._guard() as client:
            return bool(client.delete(self._record_key(key)))

    def sessions_of(self, user: str, now: float) -> list[Record]:
        found = self._verified(user)
        return sorted((r for r in found if r.is_live(now)), key=lambda r: (r.created, r.key))

    def delete_user(self, user: str, now: float, keep: str | None = None) -> list[str]:
        with self._guard() as client:
            members = client.zrange(self._index_key(user), 0, -1, withscores=True)
        removed, done = [], []
        for member, score in members:
            key = member.decode()
            if key == keep:
                continue
            if self._run("delete_owned", self._record_key(key), user):
                removed.append(key)
            done.append((member, score))
        self._drop(user, done)
        return removed

    def purge(self, now: float, limit: int = 500) -> int:
        """Remove up to ``limit`` records that expired before ``now`` but are
        still held, then drop stale members from the user indexes. This scans
        the whole key space (``SCAN``, never ``KEYS``): run it from a scheduled
        job, not on the request path; the server expires records by itself.
        """
        removed = 0
        for batch in self._scan("s:"):
            for raw, expires in zip(batch, self._hget_all(batch, "expires"), strict=True):
                if removed < limit and expires is not None and float(expires) <= now:
                    removed += self._run("delete_expired", raw, _num(now))
            if removed >= limit:
                break
        for batch in self._scan("u:"):
            self._clean_indexes(batch)
        return removed

    def stats(self, now: float) -> StoreStats:
        live = expired = 0
        for batch in self._scan("s:"):
            # A key that expired between the scan and the read gives None.
            times = [float(t) for t in self._hget_all(batch, "expires") if t is not None]
            live += sum(t > now for t in times)
            expired += sum(t <= now for t in times)
        return StoreStats(live=live, expired=expired)

    def close(self) -> None:
        """Close the pooled connections; the next use opens new ones."""
        client = self._client
        for node in client.get_nodes() if hasattr(client, "get_nodes") else [client]:
            pool = getattr(getattr(node, "redis_connection", node), "connection_pool", None)
            if pool is not None:
                pool.disconnect()

    def _verified(self, user: str) -> list[Record]:
        """The records the index of ``user`` names that still belong to
        ``user``, live or not; members naming anything else are dropped."""
        with self._guard() as client:
            members = client.zrange(self._index_key(user), 0, -1, withscores=True)
            pipe = client.pipeline(transaction=False)
            for member, _ in members:
                pipe.hgetall(self._record_key(member.decode()))
            rows = pipe.execute() if members else []
        found, stale = [], []
        for (member, score), fields in zip(members, rows, strict=True):
            if fields.get(b"user") == user.encode():
                found.append(_record(member.decode(), fields))
            else:
                stale.append((member, score))
        self._drop(user, stale)
        return found

    def _clean_indexes(self, indexes: list[bytes]) -> None:
        """Drop the members of these user indexes that name a record that is
        gone or has another owner; a few round trips for the whole batch."""
        with self._guard() as client:
            pipe = client.pipeline(transaction=False)
            for index in indexes:
                pipe.zrange(index, 0, -1, withscores=True)
            lists = pipe.execute()
        members = [(i, m, s) for i, found in zip(indexes, lists, strict=True) for m, s in found]
        owners = self._hget_all([self._record_key(m.decode()) for _, m, _ in members], "user")
        cut, stale = len(self.prefix) + 2, dict[str, list[tuple[bytes, float]]]()
        for (index, member, score), owner in zip(members, owners, strict=True):
            if owner != index[cut:]:
                stale.setdefault(index[cut:].decode(), []).append((member, score))
        for user, gone in stale.items():
            self._drop(user, gone)

    def _drop(self, user: str, members: list[tuple[bytes, float]]) -> None:
        if members:
            pairs = [x for member, score in members for x in (member, repr(score))]
            self._run("index_drop", self._index_key(user), *pairs)

    def _scan(self, kind: str) -> Iterator[list[bytes]]:
        """Batches of keys of one kind (``s:`` or ``u:``); on Cluster, from every primary."""
        pattern = "".join("\\" + c if c in "*?[]\\" else c for c in self.prefix + kind) + "*"
        batch: list[bytes] = []
        with self._guard() as client:
            for raw in client.scan_iter(match=pattern, count=_BATCH):
                batch.append(raw)
                if len(batch) == _BATCH:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def _hget_all(self, keys: list[bytes] | list[str], field: str) -> list[bytes | None]:
        with self._guard() as client:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.hget(key, field)
            return list(pipe.execute())


def _ttl_ms(until: float, now: float) -> int:
    """Milliseconds from ``now`` to ``until``, rounded up; ``<= 0`` means dead."""
    return math.ceil((until - now) * 1000)


def _num(value: float) -> str:
    return repr(float(value))  # round-trips exactly, and Lua's tonumber reads it


def _fields(record: Record) -> list[object]:
    fields: list[object] = [
        "created", _num(record.created), "blob", record.blob, "version", record.version,
        "last_seen", _num(record.last_seen), "expires", _num(record.expires),
        "absolute_expires", _num(record.absolute_expires),
    ]
    if record.user is not None:
        fields += ["user", record.user]
    if record.info is not None:
        fields += ["info", record.info]
    return fields


def _record(key: str, fields: dict[bytes, bytes]) -> Record:
    user = fields.get(b"user")
    return Record(
        key=key, blob=fields[b"blob"], version=int(fields[b"version"]),
        created=float(fields[b"created"]), last_seen=float(fields[b"last_seen"]),
        expires=float(fields[b"expires"]), absolute_expires=float(fields[b"absolute_expires"]),
        user=None if user is None else user.decode(), info=fields.get(b"info"),
    )


def _describe(client: Client) -> str:
    """Where a client given to the constructor points, for logs and ``repr``."""
    if hasattr(client, "get_nodes"):
        return "cluster " + ",".join(node.name for node in client.get_nodes())
    pool: Any = getattr(client, "connection_pool", None)
    if hasattr(pool, "service_name"):
        return f"sentinel service {pool.service_name}"
    kw = getattr(pool, "connection_kwargs", {})
    return kw.get("path") or f"{kw.get('host', '?')}:{kw.get('port', '?')}/{kw.get('db', 0)}"


def _secrets_of(client: Client) -> list[str]:
    kw = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
    password = kw.get("password") or getattr(client, "password", None)
    return [password] if isinstance(password, str) and password else []
