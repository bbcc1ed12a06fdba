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
    #: Tells the session apart in this process (the cookie's MAC, as sent).
    marker: str = field(default="", repr=False)
