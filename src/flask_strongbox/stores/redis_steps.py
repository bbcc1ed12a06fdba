"""The Redis store's per-request operations as steps (sans-I/O), so the
blocking store and the async one (:mod:`flask_strongbox.aio.redis`) share
them: each yields the commands it needs as the engine's
:class:`~flask_strongbox.engine.ops.Call` values, driven by its drivers
(``hgetall``, ``exists``, ``delete``, or ``script`` with a
:data:`~.redis_scripts.SCRIPTS` name, the key and its arguments) and receives
their answers; an error is thrown back at the ``yield``.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..engine.ops import Call
from ..errors import UnreadableRecord
from .base import Record
from .redis_client import wrong_type
from .redis_records import decode, encode, num, number, text, ttl_ms

Steps = Generator[Call, Any, Any]


class Listing(NamedTuple):
    """A record as its user's index lists it."""

    key: str
    user: str | None
    version: int


@dataclass(frozen=True, slots=True)
class Names:
    """Where a store with ``prefix`` keeps things."""

    prefix: str

    def record(self, key: str) -> str:
        return f"{self.prefix}s:{key}"

    def index(self, user: str) -> str:
        return f"{self.prefix}u:{user}"

    def lease(self, key: str) -> str:
        return f"{self.prefix}l:{key}"


def follow(names: Names, old: list[Any] | None, written: Listing, until: float, now: float) -> Steps:
    """After a write over ``old`` (user, expires, absolute_expires, version;
    ``None`` for a new record), make the user index name it and outlive it."""
    key, user, version = written
    if user is None:
        return
    listed_until = max((number(t) or 0.0 for t in old[1:3]), default=0.0) if old else 0.0
    if old is not None and old[0] == user.encode() and until <= listed_until:
        return  # already listed, and the list lives long enough
    yield Call("script", ("index_add", names.index(user), version, key, ttl_ms(until, now)))


def get(names: Names, key: str, now: float) -> Steps:
    try:
        fields = yield Call("hgetall", (names.record(key),))
    except Exception as exc:
        if wrong_type(exc):
            raise UnreadableRecord(key, "the key holds another type than a hash") from None
        raise
    record = decode(key, fields) if fields else None
    return record if record is not None and record.is_live(now) else None


def create(names: Names, record: Record) -> Steps:
    now = record.last_seen
    ttl = ttl_ms(record.expires, now)
    if ttl <= 0:  # dead on arrival: nothing to write
        return not (yield Call("exists", (names.record(record.key),)))
    if not (yield Call("script", ("create", names.record(record.key), ttl, *encode(record)))):
        return False
    until = max(record.expires, record.absolute_expires)
    yield from follow(names, None, Listing(record.key, record.user_hash, record.version), until, now)
    return True


def replace(names: Names, record: Record, expected_version: int, now: float) -> Steps:
    ttl = max(ttl_ms(record.expires, now), 0)
    fields = encode(record)[2:]  # created is kept from the stored record
    old = yield Call("script", ("replace", names.record(record.key), expected_version, num(now),
                                ttl, *fields))
    if old is None:
        return False
    if old:  # empty: the new record was already dead, so it is gone
        until = max(record.expires, record.absolute_expires)
        yield from follow(names, old, Listing(record.key, record.user_hash, record.version), until, now)
    return True


def touch(names: Names, key: str, expires: float, now: float) -> Steps:
    ttl = max(ttl_ms(expires, now), 0)
    found = yield Call("script", ("touch", names.record(key), num(now), num(now), num(expires), ttl))
    if found is None:
        return False
    user = text(found[0]) if found else None
    if user is not None:
        until = max(expires, number(found[2]) or 0.0)
        yield from follow(names, found, Listing(key, user, int(found[3])), until, now)
    return True


def delete(names: Names, key: str) -> Steps:
    return bool((yield Call("delete", (names.record(key),))))
