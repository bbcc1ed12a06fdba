"""The per-user index: the sessions of one identity, under every key.

Records carry a keyed hash of their identity, never the identity. After a
``SECRET_KEY`` rotation, sessions made before it are indexed under the
fallback key's hash, so every lookup asks for each key's hash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import ids, signals
from .keys import Keyring
from .stores.base import Record, Store

if TYPE_CHECKING:
    from .engine.events import Events


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


def enforce_cap(events: Events, store: Store, cap: int | None, user_hash: str, keep: str, now: float) -> None:
    """Revoke the oldest sessions of the identity hash ``user_hash`` beyond ``cap``.

    The newest ``cap`` by (created, key) stay, an order every process sees
    alike: two logins racing each revoke only what is older than both, never
    each other's. ``keep``, the session just written, is never revoked here (if
    it is not listed, a newer login has revoked it already).
    """
    if cap is None:
        return
    records = store.sessions_of(user_hash, now)
    for record in records[: max(0, len(records) - cap)]:
        if record.key != keep and store.delete(record.key):
            events.announce(signals.session_revoked, record.key, "session cap")
