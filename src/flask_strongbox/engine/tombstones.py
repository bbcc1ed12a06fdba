"""What a rotated-away id leaves behind: a tombstone, so a request still
carrying the old id is told "rotated", never "destroyed" or re-created.

A tombstone left by a move to the current key (a rotation that keeps the
identity and every privilege) points to its successor. It lives as long as
the successor would if nobody came back, and a request that follows it
stretches it as it slides the successor: a browser whose answer to the move
was lost still holds the old cookie, and must find its session whenever it
comes back. The successor holds the tombstone's key (under
:data:`MOVED_FROM`, sealed with the data, never shown to the app) until a
request comes with the successor's own cookie: the browser has the new
cookie, so the tombstone is cut to :data:`TOMBSTONE_SECONDS` (for requests
already on their way with the old one) and the successor rewritten without
the mark. Any other tombstone lives :data:`TOMBSTONE_SECONDS`.

The pointer is sealed
(a version 2 envelope, :mod:`~flask_strongbox.sealing`) under a key derived
from the *old* id and the key set that id was made under, and bound to the
tombstone: only a request carrying the old cookie can follow it (its other
tabs), and a store dump with every secret of the app cannot. A tombstone
left by a login or by ``regenerate()`` points nowhere: following it would
hand whoever holds the pre-login cookie (exactly what session fixation
plants) the session it became.

Blob layout: ``b""`` (0.1) or ``0x00`` alone, no successor; ``0x00 0x00``
and 15 random bytes, no successor (each rotation's tombstone its own, so a
store client that retried the write can tell it landed); ``0x00`` and a
sealed envelope of the successor's id, a successor.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from .. import sealing
from ..keys import Keyring, KeySet
from ..stores.base import Record

#: How long the record of a rotated-away id lingers once its browser has
#: the new cookie (a login's, ``regenerate()``'s, or a move's that the
#: browser came back with).
TOMBSTONE_SECONDS = 60.0
#: The key, in a moved session's data, of its tombstone's store key, until
#: the browser comes back with the successor's cookie.
MOVED_FROM = "_strongbox_moved_from"
_MARK = b"\x00"
_PURPOSE = b"|successor"


def is_tombstone(record: Record) -> bool:
    """Whether the record is a rotated-away id's, not a session's."""
    return not record.blob or record.blob[:1] == _MARK


def written_at(now: float, clock: Callable[[], float]) -> float:
    """The time a tombstone is written at: the ``clock``'s now, not the
    request's start (``now``), which may be longer ago than a tombstone
    lives (a slow store, a paused machine), leaving one dead on arrival."""
    return max(now, clock())


def ended(record: Record, now: float) -> bool:
    """Whether ``record`` is a tombstone past its end. A request that loaded
    the session before it became a tombstone may still touch its key, which
    slides only the expiry (the sliding expiry of the session it loaded);
    the absolute deadline, which no touch moves, is the tombstone's end."""
    return now >= record.absolute_expires and is_tombstone(record)


def tombstone(current: Record, now: float, pointer: bytes, until: Record | None = None) -> Record:
    """The tombstone that replaces ``current`` (one version later), holding
    ``pointer`` (:func:`pointer_to`, or ``b""`` for none). It keeps
    ``current``'s creation time, to which the pointer is bound. It lives
    :data:`TOMBSTONE_SECONDS`, or, for a move, as long as ``until``, the
    successor (its expiry, and its absolute deadline as the limit of any
    stretch)."""
    end = now + TOMBSTONE_SECONDS
    expires, absolute = end, end
    if until is not None:
        expires, absolute = max(end, until.expires), max(end, until.absolute_expires)
    return Record(key=current.key, blob=_MARK + pointer, version=current.version + 1,
                  created=current.created, last_seen=now, expires=expires, absolute_expires=absolute)


def pointer_to(keyring: Keyring, old: sealing.Binding, keyset: KeySet, successor_sid: bytes) -> bytes:
    """The successor's id, sealed for the tombstone of ``old`` (its id, store
    key and creation time; no user hash) under ``keyset``, the key set the
    old id was made under."""
    return sealing.seal_record(keyring, successor_sid, old, purpose=_PURPOSE, keyset=keyset)


def nowhere() -> bytes:
    """A pointer to no successor, unlike any other tombstone's."""
    return _MARK + secrets.token_bytes(15)


def successor(keyring: Keyring, record: Record, sid: bytes) -> bytes | None:
    """The successor's id the tombstone ``record`` of ``sid`` points to, or
    ``None``."""
    sealed = record.blob[1:]
    if not sealed or sealed[:1] == _MARK or sealed[0] != sealing.VERSION:
        return None
    binding = sealing.Binding(sid, record.key, record.created, record.user_hash)
    try:
        return sealing.open_record(keyring, sealed, binding, purpose=_PURPOSE)
    except sealing.InvalidSeal:
        return None


def pointer_kid(record: Record) -> bytes | None:
    """The key id a tombstone's pointer is sealed under (the key its old
    cookie needs), or ``None`` for a tombstone that points nowhere."""
    return sealing.kid_of(record.blob[1:])
