"""The one compare-and-swap loop every write of an existing record goes
through: on a lost race the record is read again and this request's changes
are merged onto it (:mod:`~flask_strongbox.engine.merge`), so concurrent
requests of one session lose nothing, and a record that ended meanwhile
(logout, revocation, expiry) is never brought back.
"""

from __future__ import annotations

import hmac
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import ids, sealing, serialization
from ..errors import SaveConflict, UnreadableRecord
from ..stores.base import Record
from . import merge, ops, tombstones
from .context import Context, Save
from .ops import Call, Steps

#: Builds the record that replaces ``current``, from the data to save, its
#: serialization and the session id ``current`` is under.
Build = Callable[[Record, dict[str, Any], bytes, bytes], Record]


@dataclass(frozen=True, slots=True)
class Swapped:
    """A compare-and-swap that landed: ``old`` was replaced by ``new``,
    holding ``data`` (this request's, merged onto concurrent changes), under
    the id ``sid`` (the successor's, if a key move happened meanwhile)."""

    old: Record
    new: Record
    data: dict[str, Any]
    plaintext: bytes
    sid: bytes


@dataclass(frozen=True, slots=True)
class Gone:
    """The record ended while this request ran: ``None`` if it was deleted,
    else the tombstone of a rotation."""

    found: Record | None


def swap(save: Save, build: Build, follow: bool, attempts: int) -> Steps[Swapped | Gone]:
    """Replace the loaded record with ``build(current, data, plaintext, sid)``;
    on a lost race, read it again and merge this request's changes onto
    it (:mod:`~flask_strongbox.engine.merge`), up to ``attempts``
    (``STRONGBOX_SAVE_ATTEMPTS``) times. With ``follow``, a key move that
    happened meanwhile is followed to its successor.

    :raises SaveConflict: the races kept being lost, concurrent changes
        could not be merged, or a login rotated the id away meanwhile.
    """
    state, ctx = save.state, save.ctx
    assert state is not None and state.record is not None and save.plaintext is not None
    current, data, plaintext, sid = state.record, save.data, save.plaintext, state.sid
    base: dict[str, Any] | None = None
    for attempt in range(attempts):
        new = build(current, data, plaintext, sid)
        if (yield Call("replace", (new, current.version, ctx.now))):  # ops.replace, inline: the hot path
            return Swapped(current, new, data, plaintext, sid)
        yield from ops.pause(back_off(attempt))
        found = yield from reread(ctx, current.key)
        if found is not None and same_write(found, new):
            return Swapped(current, new, data, plaintext, sid)  # it landed: a client retried it
        if found is not None and tombstones.is_tombstone(found) and follow:
            sid, found = yield from _successor(ctx, found, sid)
        if found is None or tombstones.is_tombstone(found):
            return Gone(found)
        base = base if base is not None else serialization.loads(state.plaintext or b"{}")
        data = merged(save, base, found, sid)
        current, plaintext = found, serialization.dumps(data)
    raise SaveConflict(attempts)


def merged(save: Save, base: dict[str, Any], found: Record, sid: bytes) -> dict[str, Any]:
    """This request's changes (from ``base``, what it loaded) merged onto
    ``found``, the record of session ``sid`` another request saved since."""
    binding = sealing.Binding(sid, found.key, found.created, found.user_hash)
    theirs = serialization.loads(sealing.open_record(save.ctx.keyring, found.blob, binding))
    return merge.merge(base, save.data, theirs, None if save.reads is None else frozenset(save.reads))


def reread(ctx: Context, key: str) -> Steps[Record | None]:
    """The record under ``key`` now; ``None`` if it is gone, unreadable, or
    a tombstone past its end (:func:`~flask_strongbox.engine.tombstones.ended`)."""
    try:
        found = yield from ops.get(key, ctx.now)
    except UnreadableRecord:
        return None  # spoilt meanwhile: nothing left to merge onto
    return None if found is not None and tombstones.ended(found, ctx.now) else found

def _successor(ctx: Context, tombstone: Record, sid: bytes) -> Steps[tuple[bytes, Record | None]]:
    """The id and record a tombstone points to; a tombstone without a
    successor (a login or ``regenerate()`` rotated the id away) is a
    conflict: the request must be retried with the new cookie."""
    successor = tombstones.successor(ctx.keyring, tombstone, sid)
    if successor is None:
        raise SaveConflict(1, (
            "another request rotated this session's id away (a login or regenerate()) while "
            "this one ran; nothing was saved: retry the request with the new cookie"
        ), reason="rotated away")
    record = yield from reread(ctx, ids.store_key(ctx.keyring.primary, successor))
    if record is None and len(ctx.keyring.sets) > 1 and (yield from _under_a_fallback(ctx, successor)):
        raise SaveConflict(1, (
            "another process moved this session to a key this one has as a fallback (a key "
            "rotation being rolled out) while this request ran; nothing was saved: retry the request"
        ), reason="moved under another key")
    return successor, record


def _under_a_fallback(ctx: Context, sid: bytes) -> Steps[bool]:
    for keyset in ctx.keyring.sets[1:]:
        if (yield from reread(ctx, ids.store_key(keyset, sid))) is not None:
            return True
    return False


def same_write(stored: Record, written: Record) -> bool:
    """Whether ``stored`` is ``written`` itself: every seal, and every
    tombstone, has fresh random bytes, so equal blobs at one version are one
    write (only a 0.1 tombstone is a lone byte that any rotation writes)."""
    return (stored.version == written.version and len(written.blob) > 1
            and hmac.compare_digest(stored.blob, written.blob))


def back_off(attempt: int) -> float:
    """A short random pause before re-reading a record another request just
    wrote, so that writers racing on one session spread out instead of
    colliding again on every attempt."""
    return random.uniform(0, min(0.05, 0.001 * 2**attempt))  # noqa: S311 - jitter, not a secret
