"""The store protocol: the little a session store must do, and nothing more.

A store only ever sees opaque keys (a keyed hash of the session id, never the
id), sealed bytes and plain metadata. Encryption, cookies, expiry rules and
merging of concurrent changes live above it, so "encrypted at rest" holds for
every store by construction and a new store is one file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..errors import UnreadableRecord

_FIELDS = ("key", "blob", "version", "created", "last_seen", "expires", "absolute_expires",
           "user", "info")
_TIMES = (float, int)


@dataclass(frozen=True, slots=True)
class Record:
    """One stored session.

    :param key: the store key, a keyed hash of the session id (64 hex digits).
    :param blob: the sealed session data.
    :param version: bumped by every write; the compare-and-swap token.
    :param created: creation time, Unix seconds.
    :param last_seen: time of the last request that used the session.
    :param expires: when the session dies unless used again (sliding).
    :param absolute_expires: when the session dies whatever happens.
    :param user_hash: a keyed hash of the identity the session belongs to,
        if any (stored as ``user``).
    :param sealed_device: the device hint for session lists, sealed, if
        ``STRONGBOX_DEVICE_HINTS`` is on (stored as ``info``).
    """

    key: str = field(repr=False)
    blob: bytes = field(repr=False)
    version: int
    created: float
    last_seen: float
    expires: float
    absolute_expires: float
    user_hash: str | None = field(default=None, repr=False)
    sealed_device: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Record:
        """The record stored as ``row``, its nine fields in the order above,
        checked to be of exactly the right types: ``str`` key, ``bytes`` blob,
        ``int`` version, ``float`` (or ``int``) times that are numbers, ``str``
        or ``None`` user and ``bytes`` or ``None`` info. Every store decodes
        what it reads through this, so no store hands the session layer a
        record it cannot use.

        :raises UnreadableRecord: naming the first bad field, never its content.
        """
        if len(row) == 9:
            key, blob, version, created, last_seen, expires, absolute, user, info = row
            # One expression on the hot path: a few hundred nanoseconds per read.
            # ``x == x`` is false only for NaN, which no comparison can expire.
            if (
                type(key) is str and type(blob) is bytes and type(version) is int
                and type(created) in _TIMES and type(last_seen) in _TIMES
                and type(expires) in _TIMES and type(absolute) in _TIMES
                and created == created and last_seen == last_seen
                and expires == expires and absolute == absolute
                and (user is None or type(user) is str) and (info is None or type(info) is bytes)
            ):
                return cls(key, blob, version, created, last_seen, expires, absolute, user, info)
        key = row[0] if row and isinstance(row[0], str) else ""
        raise UnreadableRecord(key, _what_is_wrong(row))

    def is_live(self, now: float) -> bool:
        return now < self.expires


def _what_is_wrong(row: Sequence[Any]) -> str:
    """The first field of ``row`` :meth:`Record.from_row` refuses, as a short,
    log-safe reason: a field name and a type name, never a value."""
    if len(row) != 9:
        return f"{len(row)} fields instead of 9"
    wanted: list[tuple[str, tuple[type, ...], str]] = [
        ("key", (str,), "text"), ("blob", (bytes,), "bytes"), ("version", (int,), "an integer"),
        *((name, _TIMES, "a number") for name in _FIELDS[3:7]),
        ("user", (str, type(None)), "text"), ("info", (bytes, type(None)), "bytes"),
    ]
    for value, (name, types, what) in zip(row, wanted, strict=True):
        if type(value) not in types:
            return f"{name} is {type(value).__name__}, not {what}"
        if value != value:
            return f"{name} is NaN, not {what}"
    return "unreadable"


def readable(rows: Iterable[Sequence[Any]]) -> list[Record]:
    """The records stored as ``rows``, passing over any that cannot be read:
    a listing (a user's sessions) skips what ``Store.get`` would refuse."""
    records = []
    for row in rows:
        try:
            records.append(Record.from_row(row))
        except UnreadableRecord:
            continue
    return records


def check_lease(until: float, now: float) -> None:
    """Refuse a lease that would end at or before ``now``, or never.

    :raises ValueError: naming the rule, for :meth:`Store.lock`'s callers.
    """
    if not (math.isfinite(now) and now < until < math.inf):
        raise ValueError("a lease must end at a finite time after now (until > now)")


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Counts of records in a store at one moment."""

    live: int
    expired: int


@runtime_checkable
class Store(Protocol):
    """What Strongbox needs from a place to keep sealed records.

    Every method is atomic on its own. Times are Unix seconds passed in by the
    caller, so stores never read a clock themselves. A store that cannot reach
    its backend raises :class:`~flask_strongbox.StoreUnavailable`.

    Something stored under a key that is not a readable record (decode rows
    with :meth:`Record.from_row`) never gives a raw error: :meth:`get` raises
    :class:`~flask_strongbox.UnreadableRecord`, listings pass over it,
    :meth:`purge` removes it if it can never expire, writes over it return
    ``False`` or replace it, and :meth:`delete` removes it.

    Beside each record a store keeps an optional lease (:meth:`lock`,
    :meth:`unlock`): a token and an end time that serialise the requests of
    one session, for exclusive sessions.
    """

    #: A short name for logs and ``flask sessions stats``, e.g. ``"sqlite"``.
    name: str
    #: Whether the store's server removes expired records by itself (Redis
    #: TTL). If not, the session layer purges as it writes (in the background,
    #: once per ``STRONGBOX_PURGE_INTERVAL``); ``flask sessions purge`` tidies
    #: either kind.
    expires_records_itself: bool

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Store:
        """The store a ``STRONGBOX_STORE`` URL names; ``options`` are the
        constructor's keyword arguments. Nothing connects yet.

        :raises ValueError: for a URL this store does not take.
        """

    def init_db(self) -> None:
        """Create what the store needs (file, tables, indexes) now rather
        than on first use; safe to run again. Backs ``flask sessions init-db``."""

    def get(self, key: str, now: float) -> Record | None:
        """The record under ``key`` if it exists and has not expired at ``now``.

        :raises UnreadableRecord: if what is under ``key`` is not a record.
        """

    def create(self, record: Record) -> bool:
        """Insert ``record``; ``False`` (and no change) if ``record.key`` exists."""

    def replace(self, record: Record, expected_version: int, now: float) -> bool:
        """Compare-and-swap: overwrite the record under ``record.key`` with
        ``record`` (whose version is ``expected_version + 1``) only if the stored
        version is ``expected_version`` and the record is live at ``now``.
        ``created`` is kept from the stored record. ``False`` means no change:
        another write won, or the record is gone; it is never re-created.
        """

    def touch(self, key: str, expires: float, now: float) -> bool:
        """Set only ``expires``, and ``last_seen`` to ``now``, of a record
        live at ``now``, without changing its data or version. ``False`` if
        the record is gone."""

    def delete(self, key: str) -> bool:
        """Remove whatever is under ``key``, readable or not; ``True`` if
        there was something."""

    def sessions_of(self, user_hash: str, now: float) -> list[Record]:
        """The records live at ``now`` whose ``user_hash`` is ``user_hash``,
        oldest first: ordered by ``(created, key)``, an order every process
        sees alike, which the per-user cap relies on (two logins racing each
        revoke only what is older than both)."""

    def delete_user(self, user_hash: str, keep: str | None = None) -> list[str]:
        """Remove every record whose ``user_hash`` is ``user_hash`` except the
        one under ``keep``; return the removed keys."""

    def lock(self, key: str, token: str, until: float, now: float) -> bool:
        """Take the lease on the session under ``key`` for ``token`` until
        ``until``, if nobody holds it or the holder's lease ended by ``now``
        (its ``until <= now``). ``True`` if this call took it. Taking it again
        with the same token while held renews it to ``until``.

        The lease is kept apart from the record: it may exist while the record
        does not (a first write), and :meth:`delete` leaves it. A lease that
        ended never blocks anyone, and something unreadable where a lease
        belongs counts as no lease and is overwritten. Ended leases are
        forgotten by :meth:`purge`, or by the server itself in a store that
        expires records itself.

        :param key: the session's store key.
        :param token: random URL-safe text the caller made for this lease.
        :param until: when the lease ends, Unix seconds.
        :param now: the caller's time, Unix seconds.
        :raises ValueError: if ``until`` is not a finite time after ``now``.

        .. versionadded:: 0.2
        """

    def unlock(self, key: str, token: str) -> bool:
        """Release the lease on ``key`` if ``token`` holds it; ``True`` if this
        call released it. Once another token has taken the lease, ``False``
        and no change: a holder whose lease ran out can never release its
        successor's. For a lease that ended and that nobody took since, the
        answer may be either (a store that expires leases itself may have
        forgotten it already); the lease is free afterwards in both cases.

        .. versionadded:: 0.2
        """

    def purge(self, now: float, limit: int = 500) -> int:
        """Remove up to ``limit`` records that expired before ``now``, or whose
        expiry is not a number; how many were removed. Leases that ended by
        ``now`` go too, up to ``limit`` of them and not counted (a store that
        expires records itself leaves them to its server).

        .. versionchanged:: 0.2
            Ended leases are removed too.
        """

    def scan(self, cursor: str, limit: int) -> tuple[list[Record], str]:
        """One batch of every record kept, live or not, for bulk work that
        must see them all (``flask sessions keys``, ``copy``); never on the
        request path. Start with ``cursor=""`` and pass each returned cursor
        back until it is ``""`` again. A batch holds at most about ``limit``
        records and may be empty before the end. Records kept throughout the
        walk are seen at least once (on Redis, where ``SCAN`` can repeat a
        key, possibly twice); records written or removed meanwhile may or may
        not be. Unreadable records are passed over; leases are not records.
        Callers filter with ``record.is_live(now)``.

        :param cursor: ``""``, or a cursor a previous call returned.
        :param limit: the batch size asked for, at least 1.
        :raises ValueError: for a cursor this store cannot read.

        .. versionadded:: 0.2
        """

    def stats(self, now: float) -> StoreStats:
        """How many records are live and how many are left for :meth:`purge`
        (leases are not counted)."""

    def close(self) -> None:
        """Release connections. The store may be used again afterwards."""
