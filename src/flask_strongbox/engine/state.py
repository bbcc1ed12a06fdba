"""What one request learned from the store about its session."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..keys import KeySet
from ..stores.base import Record


@dataclass(slots=True)
class Loaded:
    """The load state a :class:`~flask_strongbox.StrongboxSession` carries.

    None of it appears in ``repr``: it holds the raw session id and the
    decrypted data.
    """

    sid: bytes = field(repr=False)
    keyset: KeySet = field(repr=False)
    key: str = field(repr=False)
    record: Record | None = field(repr=False)
    plaintext: bytes | None = field(default=None, repr=False)
    identity: Any = field(default=None, repr=False)
    #: The cookie named a session that no longer exists (expired, revoked,
    #: ended elsewhere, or rotated away).
    expired: bool = False
    #: It was rotated away (a login or ``regenerate()`` elsewhere).
    rotated: bool = False
    #: Something unreadable is stored under the key; the next write removes it.
    unreadable: bool = False
    #: The record is sealed under a fallback key or in an older envelope:
    #: its next request that is due a touch rewrites it under the primary key.
    stale: bool = False
    #: Tells the session apart in this process (the cookie's MAC, as sent).
    marker: str = field(default="", repr=False)
    #: The cookie's id was rotated away and this is its successor (the
    #: session a login or ``regenerate()`` in another tab moved it to).
    followed: bool = False
    #: The store keys this request holds leases on (an exclusive request),
    #: and its lease token.
    leases: list[str] = field(default_factory=list, repr=False)
    token: str = field(default="", repr=False)
    #: The record was moved to the current key from the id whose tombstone
    #: is under this store key, and its browser has not been seen with the
    #: new cookie yet (see :mod:`~flask_strongbox.engine.tombstones`).
    moved_from: str = field(default="", repr=False)
    #: The tombstone this request followed to its successor (``followed``).
    via: Record | None = field(default=None, repr=False)

    @property
    def moving(self) -> bool:
        """A key move of this session is not settled yet: its record still
        carries the mark, or the request came through the old id's tombstone."""
        return bool(self.moved_from) or self.via is not None
