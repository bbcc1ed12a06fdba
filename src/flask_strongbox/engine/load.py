"""From a cookie to the session data: verify the signature (no I/O), then,
on first use, fetch the record, open its seal, decode it and check it is
still alive under today's lifetimes."""

from __future__ import annotations

from typing import Any, NamedTuple

from .. import ids, sealing, serialization, signals
from ..audit import logger
from ..errors import StoreUnavailable, UnreadableRecord
from ..keys import Keyring, KeySet
from ..settings import Settings
from ..stores.base import Record
from ..users import identity_of
from . import leases, tombstones
from .context import Context
from .ops import Call, Steps
from .state import Loaded


class Verified(NamedTuple):
    """A validly signed session cookie: the id, the key set that signed it,
    and a marker that tells sessions apart in this process without being
    usable as a cookie (its MAC, as sent)."""

    sid: bytes
    keyset: KeySet
    marker: str


def verify(keyring: Keyring, cookies: list[str]) -> tuple[Verified | None, str | None]:
    """The request's session cookie, checked before any I/O: ``(verified,
    None)`` for one validly signed cookie, ``(None, reason)`` for a refused
    one, ``(None, None)`` for none."""
    if not cookies:
        return None, None
    if len(cookies) > 1:
        # A second cookie of the same name is a cookie-tossing attempt or a
        # stale path/domain; neither is allowed to pick the session.
        return None, "duplicate cookie"
    verified = ids.unsign(keyring, cookies[0])
    if verified is None:
        return None, "bad cookie"
    sid, keyset = verified
    return Verified(sid, keyset, cookies[0][ids.MAC_AT:]), None


def load(ctx: Context, cookie: Verified, settings: Settings) -> Steps[tuple[dict[str, Any], Loaded]]:
    """Fetch, open and check the record the cookie names; what it holds, and
    what the load learned. An exclusive request first takes the session's
    lease (and gives it back if the load fails).

    :raises StoreUnavailable: the store cannot answer (not "no session"); its
        ``retry_after`` is ``STRONGBOX_RETRY_AFTER``.
    :raises SessionBusy: an exclusive request waited for the lease in vain.
    """
    state = Loaded(cookie.sid, cookie.keyset, ids.store_key(cookie.keyset, cookie.sid), None,
                   marker=cookie.marker)
    try:
        if ctx.exclusive:
            yield from leases.take(state, state.key, settings)
        record = yield from _fetch(ctx, state, settings)
        if record is not None and tombstones.is_tombstone(record):
            if tombstones.ended(record, ctx.now):
                return _open(ctx, state, None, settings)
            followed = yield from _follow(ctx, state, record, settings)
            if followed is not None:
                return followed
            return {}, _gone(ctx, state, rotated=True)
        return _open(ctx, state, record, settings)
    except Exception:
        yield from leases.release(state)
        raise


def _fetch(ctx: Context, state: Loaded, settings: Settings) -> Steps[Record | None]:
    try:
        record: Record | None = yield Call("get", (state.key, ctx.now))  # ops.get, inline: the hot path
    except UnreadableRecord as exc:
        _unreadable(ctx, state, exc.reason)
        return None
    except StoreUnavailable as exc:
        exc.retry_after = settings.retry_after
        logger.error("session not loaded: %s", exc)
        raise
    return record


def _open(
    ctx: Context, state: Loaded, record: Record | None, settings: Settings,
) -> tuple[dict[str, Any], Loaded]:
    """The data of ``record``, checked; ``{}`` for none or a bad one."""
    if record is None:
        return {}, state if state.unreadable else _gone(ctx, state, rotated=False)
    try:
        binding = sealing.Binding(state.sid, state.key, record.created, record.user_hash)
        plaintext = sealing.open_record(ctx.keyring, record.blob, binding)
        data = serialization.loads(plaintext)
    except (sealing.InvalidSeal, ValueError) as exc:
        reason = exc.reason if isinstance(exc, sealing.InvalidSeal) else "undecodable"
        return {}, _unreadable(ctx, state, reason)
    if ctx.now >= ctx.lifetimes.deadline(record, bool(data.get("_permanent"))):
        # Expired under today's settings: a lifetime shortened since the
        # record was written applies to it too.
        return {}, _gone(ctx, state, rotated=False)
    state.record, state.plaintext = record, plaintext
    state.stale = not sealing.is_current(ctx.keyring, record.blob)
    if tombstones.MOVED_FROM in data:
        _moved(state, data)
    state.identity = identity_of(data, settings.identity_keys)
    return data, state


def _follow(
    ctx: Context, state: Loaded, tombstone: Record, settings: Settings,
) -> Steps[tuple[dict[str, Any], Loaded] | None]:
    """The session a key-migration tombstone points to, as this request's
    (see :mod:`~flask_strongbox.engine.tombstones`), or ``None`` if it has
    no successor or the successor was rotated on (a login or
    ``regenerate()``). A successor that ended (revoked, logged out, expired)
    ends this session too: the cookie is cleared, as for any ended session,
    instead of being told for as long as the tombstone lives that its id
    was rotated away.

    The successor is under the key that was current where the move ran:
    this process's current key, or, while a new key is being rolled out
    (first as a fallback everywhere), one of its fallbacks."""
    sid = tombstones.successor(ctx.keyring, tombstone, state.sid)
    if sid is None:
        return None
    for keyset in ctx.keyring.sets:
        moved = Loaded(sid, keyset, ids.store_key(keyset, sid), None,
                       marker=state.marker, followed=True, leases=state.leases, token=state.token,
                       via=tombstone)
        if ctx.exclusive:
            yield from leases.take(moved, moved.key, settings)
        record = yield from _fetch(ctx, moved, settings)
        if record is not None or moved.unreadable:
            break
    if record is not None and tombstones.is_tombstone(record):
        if not tombstones.ended(record, ctx.now):
            return None
        record = None
    return _open(ctx, moved, record, settings)


def _moved(state: Loaded, data: dict[str, Any]) -> None:
    """A session moved to the current key, its old id's tombstone still
    waiting for the browser to come back with the new cookie. The mark is
    the engine's, never the app's. A request with the new cookie is the
    sign: its save rewrites the record without the mark (``stale``) and cuts
    the tombstone short. A request that followed the tombstone compares
    what it leaves with the data alone, so that reading writes nothing."""
    state.moved_from = str(data.pop(tombstones.MOVED_FROM))
    if state.followed:
        state.plaintext = serialization.dumps(data)
    else:
        state.stale = True


def _gone(ctx: Context, state: Loaded, rotated: bool) -> Loaded:
    reason = "rotated away" if rotated else "expired or unknown"
    ctx.events.announce(signals.session_expired, state.key, reason)
    state.expired, state.rotated = True, rotated
    return state


def _unreadable(ctx: Context, state: Loaded, reason: str) -> Loaded:
    logger.warning("unreadable session record %s: %s", ctx.events.fingerprint(state.key), reason)
    ctx.events.reject("unreadable record", ctx.now, handle=state.key)
    state.unreadable = True
    return state
