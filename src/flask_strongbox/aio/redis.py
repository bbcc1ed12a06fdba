"""The Redis store, awaited: redis-py's asyncio client runs the same steps
and Lua scripts as the blocking store (:mod:`..stores.redis_steps`).

Every per-request operation (get, create, replace, touch, delete) is native
async; listings, per-user deletes, leases, purge and statistics run on the
blocking twin in a worker thread (they are rare, or scan the key space).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, TypeVar, cast

from ..engine import ops
from ..errors import StoreUnavailable
from ..stores import redis_steps as steps
from ..stores.redis import RedisStore
from ..stores.redis_client import outage
from ..stores.redis_scripts import SCRIPTS
from ..stores.redis_urls import redact
from .base import ThreadedStore

T = TypeVar("T")
_NATIVE: dict[str, Callable[..., Generator[Any, Any, Any]]] = {
    "get": steps.get, "create": steps.create, "replace": steps.replace,
    "touch": steps.touch, "delete": steps.delete,
}


class AsyncServer:
    """One Redis server, reached by an asyncio client (``redis.asyncio.Redis``,
    made with ``decode_responses=False``), its failures mapped as the blocking
    store maps them."""

    def __init__(self, client: Any, where: str, secrets: list[str]) -> None:
        self.client = client
        self.where = where
        self.secrets = secrets
        self._scripts: dict[str, Any] = {}

    async def drive(self, operation: Generator[Any, Any, Any]) -> Any:
        return await ops.run_async(operation, self)

    def _unavailable(self, exc: Exception) -> StoreUnavailable | None:
        return outage(exc, self.where, self.secrets)

    async def script(self, script: str, key: str, *args: object) -> Any:
        if script not in self._scripts:
            self._scripts[script] = self.client.register_script(SCRIPTS[script])
        return await self._guarded(self._scripts[script](keys=[key], args=args))

    async def hgetall(self, key: str) -> Any:
        return await self._guarded(self.client.hgetall(key))

    async def exists(self, key: str) -> Any:
        return await self._guarded(self.client.exists(key))

    async def delete(self, key: str) -> Any:
        return await self._guarded(self.client.delete(key))

    async def _guarded(self, pending: Any) -> Any:
        try:
            return await pending
        except Exception as exc:
            unavailable = self._unavailable(exc)
            if unavailable is None:
                raise
            raise unavailable from None


class AsyncRedisStore(ThreadedStore):
    """Records in Redis or Valkey, for an ASGI app; selected with
    ``redis://``, ``rediss://`` or ``unix://``. The keys are the blocking
    :class:`~flask_strongbox.stores.redis.RedisStore`'s, so a Flask app and an ASGI
    app with the same prefix share the sessions.

    :param client: a ``redis.asyncio.Redis`` client, made with
        ``decode_responses=False``.
    :param twin: the blocking store on the same server and prefix; it is
        ``sync``.
    :param max_threads: calls of the twin in flight at once.

    .. versionadded:: 0.2
    """

    def __init__(self, client: Any, twin: RedisStore, *, max_threads: int = 2) -> None:
        super().__init__(twin, max_threads=max_threads)
        self.twin = twin
        self._server = AsyncServer(client, twin._server.where, twin._server._secrets)
        self._names = steps.Names(twin.prefix)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "strongbox:", timeout: float = 2.0) -> AsyncRedisStore:
        """The store for a ``redis://``, ``rediss://`` or ``unix://`` URL; see
        :meth:`~flask_strongbox.stores.redis.RedisStore.from_url`. Nothing connects yet. For Sentinel or
        Cluster, make a ``redis.asyncio`` client and pass it to the constructor.

        :raises ValueError: for another URL.
        """
        if url.partition("://")[0].lower() not in ("redis", "rediss", "unix"):
            raise ValueError(
                f"the async Redis store takes redis://, rediss:// or unix:// URLs, not {redact(url)!r}; "
                "for Sentinel or Cluster pass a redis.asyncio client to AsyncRedisStore"
            )
        return cls(_client(url, timeout), RedisStore.from_url(url, prefix=prefix, timeout=timeout))

    @classmethod
    def for_store(cls, twin: RedisStore, timeout: float) -> AsyncRedisStore | None:
        """The async store on the same server as ``twin``, if ``twin`` was
        made from a standalone server's URL; else ``None``."""
        url = twin.url
        if url is None or url.partition("://")[0].lower() not in ("redis", "rediss", "unix"):
            return None
        return cls(_client(url, timeout), twin)

    async def _call(self, method: Callable[..., T], *args: Any) -> T:
        operation = _NATIVE.get(method.__name__)
        if operation is None:
            return await super()._call(method, *args)
        return cast(T, await self._server.drive(operation(self._names, *args)))

    async def close(self) -> None:
        client: Any = self._server.client
        await client.aclose()
        await super().close()


def _client(url: str, timeout: float) -> Any:
    """A ``redis.asyncio`` client for a standalone server's URL, retrying as
    briefly as the blocking store's client."""
    import redis.asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialWithJitterBackoff

    return redis.asyncio.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout,
        retry=Retry(ExponentialWithJitterBackoff(cap=0.1, base=0.01), retries=2),
    )
