"""The per-user index: the sessions of one identity, under every key.

Records carry a keyed hash of their identity, never the identity. After a
``SECRET_KEY`` rotation, sessions made before it are indexed under the
fallback key's hash, so every lookup asks for each key's hash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import ids
from .keys import Keyring
from .stores.base import Record, Store


def identity_of(data: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    """The session's identity: the value of the first of ``keys``
    (``STRONGBOX_IDENTITY_KEYS``) that is set, or ``None``."""
    for name in keys:
        value = data.get(name)
        if value is not None:
            return value
    return None


def sessions_of(store: Store, keyring: Keyring, user: object, now: float) -> list[Record]:
    """The live records of ``user``, oldest first."""
    found = {
        record.key: record
        for keyset in keyring.sets
        for record in store.sessions_of(ids.identity_key(keyset, user), now)
    }
    return sorted(found.values(), key=lambda r: (r.created, r.key))


def delete_user(store: Store, keyring: Keyring, user: object, keep: str | None = None) -> list[str]:
    """Remove every record of ``user`` but ``keep``; the removed keys."""
    return [
        key for keyset in keyring.sets
        for key in store.delete_user(ids.identity_key(keyset, user), keep=keep)
    ]
