"""The Redis store's server: its client, built on first use, the Lua scripts
it runs, and what a client's failure means (a server that cannot answer now
is a 503 for the request, with a hint for the operator; a key of another type
is an unreadable record). Messages never show the client's password."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import StoreUnavailable
from .redis_scripts import SCRIPTS
from .redis_urls import Client, LazyClient

# Matched by class name, so redis-py's and valkey-py's parallel exception trees
# (and the builtins of the same names) all mean "the server can't answer now".
HINTS = {
    "BusyLoadingError": "the server is loading its data set; it answers once loaded",
    "ReadOnlyError": "connected to a read-only replica; check the failover state",
    "OutOfMemoryError": "the server reached maxmemory; raise it or free memory",
    "MasterNotFoundError": "no Sentinel knows a master for the service; check Sentinel",
    "ClusterError": "the cluster is down or resharding; check `redis-cli --cluster check`",
    "RedisClusterException": "no cluster node answered; check the node addresses",
    "AuthenticationError": "authentication failed; check the user name and password",
    "MaxConnectionsError": "more operations at once than the client's pool allows; "
                           "raise its max_connections",
    "TimeoutError": "the server did not answer in time; check it is up and not overloaded",
    "ConnectionError": "cannot connect; check the server is running and reachable",
}
#: Keys per ``SCAN`` step and per pipelined batch.
_BATCH = 500


class Server:
    """One Redis or Valkey deployment, as the store reaches it.

    :param client: a ready client (redis-py or valkey-py, made with
        ``decode_responses=False``), or how to build one on first use.
    """

    def __init__(self, client: Client | LazyClient) -> None:
        if isinstance(client, LazyClient):
            self._build, self.where, self._secrets = client.build, client.where, client.secrets
        else:
            encoder = getattr(client, "get_encoder", None)
            if encoder is not None and encoder().decode_responses:
                raise ValueError("RedisStore needs a client made with decode_responses=False")
            self._build, self.where, self._secrets = (lambda: client), describe(client), secrets_of(client)
        self._client: Client = None
        self._scripts: dict[str, Any] = {}
        self._lock = threading.Lock()

    @contextmanager
    def guard(self) -> Iterator[Client]:
        """The client; a failure that means "cannot answer now" becomes
        :class:`StoreUnavailable`."""
        try:
            if self._client is None:
                with self._lock:
                    if self._client is None:
                        self._client = self._build()
            yield self._client
        except Exception as exc:
            unavailable = outage(exc, self.where, self._secrets)
            if unavailable is None:
                raise
            raise unavailable from None

    def run(self, script: str, key: str | bytes, *args: object) -> Any:
        """Run one of :data:`SCRIPTS` on one key."""
        with self.guard() as client:
            if script not in self._scripts:
                self._scripts[script] = client.register_script(SCRIPTS[script])
            return self._scripts[script](keys=[key], args=args)

    def scan(self, prefix: str) -> Iterator[list[bytes]]:
        """Batches of the keys that start with ``prefix``; on Cluster, from
        every primary. This walks the whole key space (``SCAN``, never ``KEYS``)."""
        pattern = _pattern(prefix)
        batch: list[bytes] = []
        with self.guard() as client:
            for raw in client.scan_iter(match=pattern, count=_BATCH):
                batch.append(raw)
                if len(batch) == _BATCH:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def scan_node(self, prefix: str, node: int, position: int, count: int) -> tuple[list[bytes], int, int]:
        """One ``SCAN`` step on the ``node``-th server (a Cluster's primaries,
        sorted by name): the keys found, the server's next cursor (0 at that
        node's end) and how many nodes there are."""
        pattern = _pattern(prefix)
        with self.guard() as client:
            nodes = _nodes(client)
            if node >= len(nodes):
                return [], 0, len(nodes)
            position, keys = nodes[node].scan(position, match=pattern, count=max(count, 1))
        return list(keys), int(position), len(nodes)

    def hget_all(self, keys: list[bytes] | list[str], field: str) -> list[Any]:
        """``field`` of each hash: bytes, ``None`` where the key or field is
        missing, or the error for a key that holds another type."""
        with self.guard() as client:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.hget(key, field)
            return list(pipe.execute(raise_on_error=False))

    def close(self) -> None:
        client = self._client
        for node in client.get_nodes() if hasattr(client, "get_nodes") else [client]:
            pool = getattr(getattr(node, "redis_connection", node), "connection_pool", None)
            if pool is not None:
                pool.disconnect()


def outage(exc: Exception, where: str, secrets: list[str]) -> StoreUnavailable | None:
    """The :class:`StoreUnavailable` for a client's exception that means the
    server cannot answer now, or ``None`` for any other exception."""
    hint = next((HINTS[c.__name__] for c in type(exc).__mro__ if c.__name__ in HINTS), None)
    if hint is None:
        return None
    said = str(exc) if len(str(exc)) < 200 else str(exc)[:200] + "..."
    detail = f"{where}: {type(exc).__name__}: {said}; {hint}"
    for secret in secrets:
        detail = detail.replace(secret, "***")
    return StoreUnavailable("redis", detail)


def wrong_type(exc: Exception) -> bool:
    """Whether the server refused a command for the key's type (a plain
    string where a hash belongs, say): redis-py's and valkey-py's alike."""
    return type(exc).__name__ == "ResponseError" and str(exc).startswith("WRONGTYPE")


def describe(client: Client) -> str:
    """Where a client given to the constructor points, for logs and ``repr``."""
    if hasattr(client, "get_nodes"):
        return "cluster " + ",".join(node.name for node in client.get_nodes())
    pool: Any = getattr(client, "connection_pool", None)
    if hasattr(pool, "service_name"):
        return f"sentinel service {pool.service_name}"
    kw = getattr(pool, "connection_kwargs", {})
    return kw.get("path") or f"{kw.get('host', '?')}:{kw.get('port', '?')}/{kw.get('db', 0)}"


def secrets_of(client: Client) -> list[str]:
    kw = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
    password = kw.get("password") or getattr(client, "password", None)
    return [password] if isinstance(password, str) and password else []


def _nodes(client: Client) -> list[Any]:
    """The servers holding keys: the client itself, or a Cluster's primaries'
    own clients in a fixed order."""
    primaries = getattr(client, "get_primaries", None)
    if primaries is None:
        return [client]
    return [node.redis_connection for node in sorted(primaries(), key=lambda n: n.name)]


def _pattern(prefix: str) -> str:
    """A ``MATCH`` pattern for the keys that start with ``prefix``."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in prefix) + "*"
