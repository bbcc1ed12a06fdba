"""What a rotated-away id leaves behind: a short-lived tombstone, so a request
still carrying the old id is told "rotated", never "destroyed" or re-created.

A tombstone left by a move to the current key (a rotation that keeps the
identity and every privilege) points to its successor, sealed under the app's
key and bound to the old record, so the old cookie's other requests (other
tabs) follow it and go on as before. A tombstone left by a login or by
``regenerate()`` points nowhere: following it would hand whoever holds the
pre-login cookie (exactly what session fixation plants) the session it
became.

Blob layout: ``b""`` (0.1) or ``0x00`` alone, no successor; ``0x00 0x00``
and 15 random bytes, no successor (each rotation's tombstone its own, so a
store client that retried the write can tell it landed); ``0x00`` and a
sealed envelope of the successor's id, a successor.
"""

from __future__ import annotations

import secrets

from .. import sealing
from ..keys import Keyring
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
    ``pointer`` (:func:`pointer_to`, or ``b""`` for none)."""
    end = now + TOMBSTONE_SECONDS
    return Record(key=current.key, blob=_MARK + pointer, version=current.version + 1,
                  created=current.created, last_seen=now, expires=end, absolute_expires=end)


def pointer_to(keyring: Keyring, old_key: str, successor_sid: bytes) -> bytes:
    """The successor's id, sealed for the tombstone under ``old_key``."""
    return sealing.seal(keyring, successor_sid, old_key, purpose=_PURPOSE)


def nowhere() -> bytes:
    """A pointer to no successor, unlike any other tombstone's."""
    return _MARK + secrets.token_bytes(15)


def successor(keyring: Keyring, record: Record) -> bytes | None:
    """The successor's id a tombstone points to, or ``None``."""
    sealed = record.blob[1:]
    if not sealed or sealed[:1] == _MARK:
        return None
    try:
        return sealing.unseal(keyring, sealed, record.key, purpose=_PURPOSE)
    except sealing.InvalidSeal:
        return None
