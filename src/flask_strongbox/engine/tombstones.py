"""What a rotated-away id leaves behind: a short-lived tombstone, so a request
still carrying the old id is told "rotated", never "destroyed" or re-created.

A tombstone left by a move to the current key (a rotation that keeps the
identity and every privilege) points to its successor. The pointer is sealed
(a version 2 envelope, :mod:`~flask_strongbox.sealing`) under a key derived
from the *old* id and the key set that id was made under, and bound to the
tombstone: only a request carrying the old cookie can follow it (its other
tabs), and a store dump with every secret of the app cannot. A tombstone
left by a login or by ``regenerate()`` points nowhere: following it would
hand whoever holds the pre-login cookie (exactly what session fixation
plants) the session it became.

Blob layout: ``b""`` (0.1) or ``0x00`` alone, no successor; ``0x00`` and a
sealed envelope of the successor's id, a successor.
"""

from __future__ import annotations

from .. import sealing
from ..keys import Keyring, KeySet
from ..stores.base import Record

#: How long the record of a rotated-away id lingers.
TOMBSTONE_SECONDS = 60.0
_MARK = b"\x00"
_PURPOSE = b"|successor"


def is_tombstone(record: Record) -> bool:
    """Whether the record is a rotated-away id's, not a session's."""
    return not record.blob or record.blob[:1] == _MARK


def tombstone(current: Record, now: float, pointer: bytes) -> Record:
    """The tombstone that replaces ``current`` (one version later), holding
    ``pointer`` (:func:`pointer_to`, or ``b""`` for none). It keeps
    ``current``'s creation time, to which the pointer is bound."""
    end = now + TOMBSTONE_SECONDS
    return Record(key=current.key, blob=_MARK + pointer, version=current.version + 1,
                  created=current.created, last_seen=now, expires=end, absolute_expires=end)


def pointer_to(keyring: Keyring, old: sealing.Binding, keyset: KeySet, successor_sid: bytes) -> bytes:
    """The successor's id, sealed for the tombstone of ``old`` (its id, store
    key and creation time; no user hash) under ``keyset``, the key set the
    old id was made under."""
    return sealing.seal_record(keyring, successor_sid, old, purpose=_PURPOSE, keyset=keyset)


def successor(keyring: Keyring, record: Record, sid: bytes) -> bytes | None:
    """The successor's id the tombstone ``record`` of ``sid`` points to, or
    ``None``."""
    sealed = record.blob[1:]
    if not sealed or sealed[0] != sealing.VERSION:
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
