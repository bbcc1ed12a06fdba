"""Redis and Valkey URLs to clients: standalone, TLS, socket, Sentinel, Cluster."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

#: redis-py and valkey-py clients share no base class; both are accepted.
Client = Any


def client_factory(url: str, timeout: float) -> tuple[Callable[[], Client], list[str]]:
    """A function that builds the client a URL names (nothing connects yet), and
    the secrets in the URL, to be masked in every message.

    :raises ModuleNotFoundError: if redis-py is not installed, whatever the URL.
    """
    redis = _redis_py()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user, _, password = (unquote(p) for p in userinfo.partition(":"))
    secrets = [s for s in (password, *parse_qs(parts.query).get("password", [])) if s]
    opts: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if scheme in ("redis", "rediss", "unix"):
        return lambda: redis.Redis.from_url(url, retry=_retry(), **opts), secrets
    nodes = [_host_port(h, scheme) for h in hosts.split(",")]
    path = [p for p in parts.path.split("/") if p]
    auth = {"username": user or None, "password": password or None, "retry": _retry(), **opts}
    if scheme in ("redis+cluster", "rediss+cluster") and path in ([], ["0"]):
        cluster = redis.cluster
        startup = [cluster.ClusterNode(*node) for node in nodes]
        tls = scheme == "rediss+cluster"
        return lambda: cluster.RedisCluster(startup_nodes=startup, ssl=tls, **auth), secrets
    if scheme == "redis+sentinel" and len(path) in (1, 2):
        sentinel = redis.sentinel.Sentinel(nodes, sentinel_kwargs={**opts, "retry": _retry()}, **opts)
        db = int(path[1]) if len(path) == 2 else 0
        return lambda: sentinel.master_for(path[0], db=db, **auth), secrets
    raise ValueError(
        f"cannot use {redact(url)!r} as a Redis store; the forms are redis://host:port/db, "
        "rediss://..., unix:///path, redis+sentinel://host:port,.../service_name/db and "
        "redis+cluster://host:port,... (database 0 only)"
    )


def _redis_py() -> ModuleType:
    """The ``redis`` package with the submodules a URL may need, imported up
    front so that a missing package fails here, for every URL form, rather
    than at first use."""
    try:
        import redis
        import redis.backoff
        import redis.cluster
        import redis.retry
        import redis.sentinel
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"a Redis store URL needs redis-py: pip install 'flask-strongbox[redis]' ({exc})",
            name=exc.name,
        ) from exc
    return redis


def _retry() -> Any:
    """No retries. A command that timed out may still run on the server (a
    stalled one resumes), and a compare-and-swap sent again after its first
    attempt landed sees that attempt as another request's change: merged
    twice, a flash comes back. The engine treats a failed call as a 503 the
    browser retries instead; redis-py's default of eleven attempts would
    also hold a request for half a minute."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return Retry(NoBackoff(), retries=0)


def _host_port(text: str, scheme: str) -> tuple[str, int]:
    parts = urlsplit("//" + text)
    if not parts.hostname:
        raise ValueError(f"no host in the {scheme}:// URL")
    return parts.hostname, parts.port or (26379 if "sentinel" in scheme else 6379)


def redact(url: str) -> str:
    """The URL without user, password or query, for logs and ``repr``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


class LazyClient:
    """How to build a client, for :class:`RedisStore` to call on first use (a
    Cluster client connects as it is made, and the app must start while the
    server is down).

    :param build: makes the client.
    :param where: the server, for logs and ``repr`` (no password).
    :param secrets: strings to mask in every message.
    """

    def __init__(self, build: Callable[[], Client], where: str, secrets: list[str]) -> None:
        self.build = build
        self.where = where
        self.secrets = secrets

    def __repr__(self) -> str:
        return f"<LazyClient {self.where}>"
