"""What a moved legacy session leaves in the engine's store, and under which
keys: no I/O here.

A *marker* claims the move of one legacy session: whichever request moves it
first creates the marker, which fails for everyone after, so the session is
moved at most once whichever app server sees the cookie. It lives until the
legacy cookie would have expired (or the migration window closes), so a replay
of the cookie gets a fresh, empty session. A *pointer* is what a bulk import
(:mod:`~flask_strongbox.migrate.importer`) leaves for a session it moved: it
leads the legacy cookie's first request to the new session.

Both are stored as tombstones (:mod:`~flask_strongbox.engine.tombstones`),
which every part of Strongbox already treats as "no session here": a marker
without a successor, a pointer with one. Their store keys are keyed hashes of
the legacy session's token, never the cookie. :mod:`~flask_strongbox.engine.adopt`
reads and writes them as requests bring legacy cookies.
"""

from __future__ import annotations

import hmac

from .. import sealing
from ..keys import Keyring, KeySet
from ..stores.base import Record
from . import tombstones

_MARKER_LABEL = b"flask-strongbox legacy marker"
#: A tombstone without a successor (see :mod:`~flask_strongbox.engine.tombstones`).
_MARKER_BLOB = b"\x00"


def marker_key(keyset: KeySet, source: str, token: str) -> str:
    """The store key that remembers a moved legacy session: a keyed hash of
    the source and ``token`` (64 hex digits), under a key derived from the
    app's secret, so the store holds nothing that is, or leads to, a cookie."""
    key = hmac.digest(keyset.lookup, _MARKER_LABEL, "sha256")
    return hmac.digest(key, f"{source}\x00{token}".encode(), "sha256").hex()


def import_key(keyset: KeySet, source: str, token: str) -> str:
    """The store key of the pointer a bulk import leaves for the legacy
    session ``token`` names (see :func:`marker_key`)."""
    return marker_key(keyset, f"{source} import", token)


def marker(key: str, now: float, until: float) -> Record:
    """The marker under ``key`` that claims a move at ``now``, kept until
    ``until``, when the legacy cookie is dead."""
    return Record(key=key, blob=_MARKER_BLOB, version=1, created=now, last_seen=now, expires=until,
                  absolute_expires=until)


def pointer(keyring: Keyring, key: str, token: str, sid: bytes, span: tuple[float, float]) -> Record:
    """The record a bulk import leaves under ``key`` (:func:`import_key`)
    for the legacy session ``token`` names: a tombstone pointing to session
    ``sid``, from ``span[0]`` until ``span[1]``. The pointer is sealed under
    a key derived from ``token``, which only the legacy cookie carries, so a
    store dump and the app's keys do not lead to the session."""
    now, until = span
    old = sealing.Binding(_token_id(token), key, now, None)
    blob = _MARKER_BLOB + tombstones.pointer_to(keyring, old, keyring.primary, sid)
    return Record(key=key, blob=blob, version=1, created=now, last_seen=now, expires=until,
                  absolute_expires=until)


def pointed_to(keyring: Keyring, found: Record, token: str) -> bytes | None:
    """The id of the session the pointer ``found`` leads to, for the legacy
    session ``token`` names; ``None`` if it leads nowhere (or is no pointer)."""
    return tombstones.successor(keyring, found, _token_id(token))


def _token_id(token: str) -> bytes:
    """The legacy session's id as the sealing derives keys from it."""
    return token.encode("utf-8", "surrogatepass")
