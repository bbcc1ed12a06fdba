"""Flask-Session's Redis backend: one string per session, expiring by TTL.

``RedisSessionInterface`` (``flask_session/redis/redis.py``, 0.8) does
``SET <SESSION_KEY_PREFIX><sid> <msgpack> EX <PERMANENT_SESSION_LIFETIME>``,
``GET`` to load and ``DELETE`` to end a session. Redis drops expired records
itself, so an expired session reads as missing.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import StoreUnavailable
from ..stores.redis_urls import Client, client_factory, redact
from . import record_format
from .flask_session import FlaskSessionConfig
from .results import LegacyRecord, LegacyResult, Missing, Refused

_GLOB = re.compile(r"([*?\[\]\\])")


class RedisReader:
    """Reads and deletes Flask-Session records in Redis.

    :param client: a ``redis.Redis`` client (``decode_responses`` off).
    :param config: the app's Flask-Session settings.

    .. versionadded:: 0.2
    """

    name = "flask-session redis"

    def __init__(self, client: Client, config: FlaskSessionConfig) -> None:
        record_format.require_msgspec()
        self._client = client
        self._build: Any = None
        self._lock = threading.Lock()
        self.config = config
        self._where = "redis"
        self._secrets: list[str] = []

    @classmethod
    def from_url(cls, url: str, config: FlaskSessionConfig, timeout: float = 2.0) -> RedisReader:
        """The reader for a ``redis://``, ``rediss://``, ``unix://`` or
        ``redis+sentinel://`` URL; nothing connects until the first use.

        :param timeout: seconds to wait for a connection or an answer.
        """
        build, secrets = client_factory(url, timeout)
        reader = cls(None, config)
        reader._build, reader._where, reader._secrets = build, redact(url), secrets
        return reader

    def __repr__(self) -> str:
        return f"<RedisReader {self._where} prefix={self.config.key_prefix!r}>"

    def record_key(self, sid: str) -> str:
        return self.config.key_prefix + sid

    def load(self, sid: str, now: float) -> LegacyResult:
        return self._read([self.record_key(sid)], now)[0].result

    def delete(self, sid: str) -> bool:
        return self.delete_record(self.record_key(sid))

    def delete_record(self, key: str) -> bool:
        with self._guard() as client:
            return bool(client.delete(key))

    def scan(self, now: float, batch_size: int = 500) -> Iterator[list[LegacyRecord]]:
        pattern = _GLOB.sub(r"\\\1", self.config.key_prefix) + "*"
        cursor: int | None = None
        pending: list[str] = []
        while cursor != 0:
            with self._guard() as client:
                # COUNT is the work per call, not the number returned: in a
                # shared keyspace a large one finds our keys in fewer trips.
                cursor, keys = client.scan(cursor or 0, match=pattern, count=max(batch_size, 1000))
            pending.extend(key.decode() for key in keys)
            while len(pending) >= batch_size or (cursor == 0 and pending):
                batch, pending = pending[:batch_size], pending[batch_size:]
                yield self._read(batch, now)

    def close(self) -> None:
        if self._client is not None and self._build is not None:
            self._client.close()
            self._client = None

    def _read(self, keys: list[str], now: float) -> list[LegacyRecord]:
        """GET and PTTL of each key, in one round trip."""
        with self._guard() as client:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.get(key)
                pipe.pttl(key)
            replies = pipe.execute(raise_on_error=False)
            fmt = self.config.serialization_format
            return [
                LegacyRecord(key, _result(value, ttl, now, fmt))
                for key, value, ttl in zip(keys, replies[::2], replies[1::2], strict=True)
            ]

    @contextmanager
    def _guard(self) -> Iterator[Client]:
        import redis

        try:
            if self._client is None:
                with self._lock:
                    if self._client is None:
                        self._client = self._build()
            yield self._client
        except redis.RedisError as exc:
            detail = f"{self._where}: {type(exc).__name__}: {str(exc)[:200]}"
            for secret in self._secrets:
                detail = detail.replace(secret, "***")
            raise StoreUnavailable(self.name, detail) from None


def _result(value: Any, ttl: Any, now: float, fmt: record_format.Format) -> LegacyResult:
    import redis

    if isinstance(value, redis.ResponseError) and str(value).startswith("WRONGTYPE"):
        return Refused("malformed", "not a Redis string value")
    if isinstance(value, Exception):
        raise value  # the guard turns it into StoreUnavailable
    if not value:  # Flask-Session treats an empty value as no session
        return Missing()
    expires = now + ttl / 1000 if isinstance(ttl, int) and ttl >= 0 else None
    return record_format.decode(bytes(value), expires, fmt)
