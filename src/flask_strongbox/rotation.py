"""How far a key rotation got: for the current key and each fallback, the
live records that still depend on it, for ``flask sessions keys``.

A session depends on the key set it was made under: its cookie is signed
with it, its store key and user hash are keyed with it and its envelope
names it (:func:`~flask_strongbox.sealing.kid_of`). Such a session moves to
the current key on its next request that is due a touch (see
:mod:`~flask_strongbox.engine.decide`); until then, removing its key logs it
out. The tombstone a move leaves depends on it too: it leads the old
cookie's requests to the moved session, until the browser is back with the
new cookie and for a minute after (see
:mod:`~flask_strongbox.engine.tombstones`). A fallback on which
nothing live depends can be removed with nobody logged out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from . import sealing
from .engine import tombstones
from .keys import Keyring
from .stores.base import Record, Store

#: Records asked of the store per call.
BATCH = 500
_APP_KEY_ENVELOPE = bytes([sealing.APP_KEY_VERSION])


@dataclass(frozen=True)
class KeyUse:
    """What depends on one key of the keyring.

    :param setting: where the key comes from, e.g. ``"SECRET_KEY_FALLBACKS[0]"``.
    :param fingerprint: its key id in hex, as in every envelope's header;
        it reveals nothing about the key.
    :param current: whether it is the primary key, which signs and seals.
    """

    setting: str
    fingerprint: str
    current: bool
    #: Live sessions made under it.
    sessions: int = 0
    #: Of those, how many are still in the 0.1 envelope, sealed under the
    #: app's key alone (rewritten on their next request due a touch).
    app_key_only: int = 0
    #: Live tombstones of ids moved away from it, whose browsers may still
    #: hold the old cookie.
    moving: int = 0
    #: The latest absolute deadline among them, Unix seconds.
    last_ends: float | None = None

    @property
    def removable(self) -> bool:
        """A fallback nothing live depends on: removing it logs nobody out."""
        return not self.current and not self.sessions and not self.moving


@dataclass(frozen=True)
class Usage:
    """Every key's :class:`KeyUse`, current key first, and the live records
    under a key that is no longer configured (they open as new, empty
    sessions, and go when they expire)."""

    keys: list[KeyUse]
    unknown: int


@dataclass
class _Tally:
    sessions: int = 0
    app_key_only: int = 0
    moving: int = 0
    last_ends: float | None = None

    def add(self, record: Record, moving: bool, ends: float) -> None:
        if moving:
            self.moving += 1
        else:
            self.sessions += 1
            self.app_key_only += record.blob[:1] == _APP_KEY_ENVELOPE
        self.last_ends = ends if self.last_ends is None else max(self.last_ends, ends)


def usage(store: Store, keyring: Keyring, absolute_lifetime: float, now: float) -> Usage:
    """Walk every record of ``store`` once and count what depends on each key.

    :param absolute_lifetime: ``STRONGBOX_ABSOLUTE_LIFETIME`` in seconds:
        no record lives past its creation plus that, whatever it says.
    """
    tallies = {ks.kid: _Tally() for ks in reversed(keyring.sets)}  # the first of equal keys counts
    seen: set[str] = set()
    unknown = 0
    for record in _live(store, now, absolute_lifetime):
        if record.key in seen:
            continue  # Redis's SCAN may return a key twice
        seen.add(record.key)
        moving = tombstones.is_tombstone(record)
        kid = tombstones.pointer_kid(record) if moving else sealing.kid_of(record.blob)
        if moving and kid is None:
            continue  # a login's tombstone leads nowhere: nothing depends on it
        tally = tallies.get(kid) if kid is not None else None
        if tally is None:
            unknown += 1
        else:
            tally.add(record, moving, _deadline(record, absolute_lifetime))
    keys: list[KeyUse] = []
    counted: set[bytes] = set()
    for name, keyset in zip(keyring.names, keyring.sets, strict=True):
        tally = tallies[keyset.kid] if keyset.kid not in counted else _Tally()
        counted.add(keyset.kid)
        keys.append(KeyUse(name, keyset.kid.hex(), not keys, tally.sessions, tally.app_key_only,
                           tally.moving, tally.last_ends))
    return Usage(keys, unknown)


def _deadline(record: Record, absolute_lifetime: float) -> float:
    # As the engine's Lifetimes.absolute_of: the stored deadline, never
    # later than creation plus today's absolute lifetime.
    return min(record.absolute_expires, record.created + absolute_lifetime)


def _live(store: Store, now: float, absolute_lifetime: float) -> Iterator[Record]:
    cursor = ""
    while True:
        batch, cursor = store.scan(cursor, BATCH)
        yield from (r for r in batch if r.is_live(now) and now < _deadline(r, absolute_lifetime))
        if not cursor:
            return
