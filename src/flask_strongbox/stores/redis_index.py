"""The Redis store's per-user index: a sorted set per user,
``{prefix}u:{user}``, that lists that user's record keys, scored by record
version. It is a hint, not the truth: readers check each member against the
record's own ``user`` field and drop stale ones, so records that expire or
are evicted never leave it wrong.

Writes add to it in the same steps as the record (:func:`.redis_steps.follow`);
this module reads it, checks it and drops from it, for
:class:`~flask_strongbox.stores.redis.RedisStore`'s ``sessions_of``,
``delete_user`` and ``purge``.
"""

from __future__ import annotations

from contextlib import suppress

from ..errors import UnreadableRecord
from .base import Record
from .redis_client import Server, wrong_type
from .redis_records import decode
from .redis_steps import Names

#: A member of a user's index: the record key, as the server holds it, and its score.
Member = tuple[bytes, float]


class UserIndex:
    """The user indexes of one store: ``server``, where ``names`` says."""

    def __init__(self, server: Server, names: Names) -> None:
        self._server = server
        self._names = names

    def members(self, user: str) -> list[Member]:
        """The (key, version) members of the user's index; none if the index
        key holds another type (the next index write replaces it)."""
        try:
            with self._server.guard() as client:
                return list(client.zrange(self._names.index(user), 0, -1, withscores=True))
        except Exception as exc:
            if wrong_type(exc):
                return []
            raise

    def verified(self, user: str) -> list[Record]:
        """The records the index of ``user`` names that still belong to
        ``user``, live or not; members naming anything else are dropped."""
        members = self.members(user)
        with self._server.guard() as client:
            pipe = client.pipeline(transaction=False)
            for member, _ in members:
                pipe.hgetall(self._names.record(member.decode()))
            rows = pipe.execute(raise_on_error=False) if members else []
        found, stale = [], []
        for (member, score), fields in zip(members, rows, strict=True):
            if not isinstance(fields, dict) or fields.get(b"user") != user.encode():
                stale.append((member, score))  # gone, another owner's, or not a hash
                continue
            with suppress(UnreadableRecord):  # still listed, so delete_user finds it
                found.append(decode(member.decode(), fields))
        self.drop(user, stale)
        return found

    def clean(self, indexes: list[bytes]) -> None:
        """Drop the members of these user indexes that name a record that is
        gone or has another owner; a few round trips for the whole batch."""
        with self._server.guard() as client:
            pipe = client.pipeline(transaction=False)
            for index in indexes:
                pipe.zrange(index, 0, -1, withscores=True)
            lists = pipe.execute(raise_on_error=False)
        members = [(i, m, s) for i, found in zip(indexes, lists, strict=True)
                   if isinstance(found, list) for m, s in found]
        owners = self._server.hget_all([self._names.record(m.decode()) for _, m, _ in members], "user")
        cut, stale = len(self._names.prefix) + 2, dict[str, list[Member]]()
        for (index, member, score), owner in zip(members, owners, strict=True):
            if owner != index[cut:]:
                stale.setdefault(index[cut:].decode(), []).append((member, score))
        for user, gone in stale.items():
            self.drop(user, gone)

    def drop(self, user: str, members: list[Member]) -> None:
        """Remove these members from the user's index, each only if its score
        is still the one read (a newer write of the record keeps it listed)."""
        if members:
            pairs = [x for member, score in members for x in (member, repr(score))]
            self._server.run("index_drop", self._names.index(user), *pairs)
