"""A key move: a session opened under a ``SECRET_KEY_FALLBACKS`` key goes
to the current key (a new id, sealed and signed under it), and the old id's
tombstone leads the old cookie to it until the browser is back with the new
cookie (see :mod:`~flask_strongbox.engine.tombstones`).

The moved session carries its tombstone's key in its data
(:data:`~flask_strongbox.engine.tombstones.MOVED_FROM`), which the load
takes out before the app sees it: requests with the old cookie keep it and
stretch the tombstone as they slide the session (:func:`keep_mark`,
:func:`stretch`); the first save with the new cookie drops it and cuts the
tombstone to a minute (:func:`settle`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .. import ids, sealing, serialization, signals
from ..audit import logger
from ..errors import SaveConflict, StoreUnavailable
from . import ops, swap, tombstones
from .context import CLEAR, Context, Outcome, Save
from .decide import resend_on_touch
from .ops import Steps
from .state import Loaded
from .swap import Swapped

if TYPE_CHECKING:
    from .write import Writer


def move(writer: Writer, save: Save) -> Steps[Outcome]:
    """The same session under the current key and a new id (it was read
    under a fallback key and changed, or is due a touch). Only such a move
    keeps identity and every privilege, so its tombstone points to the
    successor and leads the old cookie on (see tombstones).

    The successor is written first, then the old record swapped for the
    tombstone: the old id always leads to the session, even when the
    store fails between the two writes or another tab follows it at once.
    On a lost race the successor is dropped and the move starts again
    from the newer record, with this request's changes merged onto it.

    The successor is marked with the tombstone's key
    (:data:`~flask_strongbox.engine.tombstones.MOVED_FROM`), and the
    tombstone lives as long as it: the answer may be lost, and the
    browser come back with the old cookie at any time.
    """
    assert save.state is not None and save.state.record is not None and save.plaintext is not None
    ctx, state = save.ctx, save.state
    current = save.state.record
    data = save.data
    base = serialization.loads(state.plaintext or b"{}")
    for attempt in range(writer.settings.save_attempts):
        successor, marked = ids.new_id(), serialization.dumps({**data, tombstones.MOVED_FROM: state.key})
        record, outcome = yield from writer.create(save, data, marked, current.created, successor)
        old = sealing.Binding(state.sid, state.key, current.created)  # the tombstone's
        pointer = tombstones.pointer_to(ctx.keyring, old, state.keyset, successor)
        moved = tombstones.tombstone(current, writer.late(ctx), pointer, until=record)
        landed = yield from ops.replace(moved, current.version, ctx.now)
        reread = None if landed else (yield from swap.reread(ctx, state.key))
        if landed or (reread is not None and swap.same_write(reread, moved)):
            ctx.events.announce(signals.session_rotated, record.key, "regenerate")
            return outcome
        yield from ops.delete(record.key)  # it holds what lost the race
        yield from ops.pause(swap.back_off(attempt))
        reread = yield from swap.reread(ctx, state.key)
        if reread is None:
            return CLEAR  # ended meanwhile
        if tombstones.is_tombstone(reread):
            return (yield from writer.update(save))  # moved by another request: follow it, merge there
        data = swap.merged(save, base, reread, state.sid)
        data.pop(tombstones.MOVED_FROM, None)  # an earlier move's mark: this one's replaces it
        current = reread
    raise SaveConflict(writer.settings.save_attempts)


def keep_mark(save: Save) -> Save:
    """``save`` as a request that followed the tombstone must write it: with
    the mark, since the browser came with the old cookie and may not have
    the new one yet."""
    state = save.state
    if state is None or not state.followed or not state.moved_from:
        return save
    marked = {**save.data, tombstones.MOVED_FROM: state.moved_from}
    return replace(save, data=marked, plaintext=serialization.dumps(marked))


def only_unmarked(save: Save, swapped: Swapped) -> bool:
    """Whether ``save`` came with the moved session's own cookie, assigned
    nothing, stayed on its id, and wrote only to drop the mark: its answer
    then carries no cookie unless a touch's would (the expiry of a permanent
    session moved), so a late read never hands the browser this cookie back
    over a newer one another tab's login gave it."""
    state = save.state
    if state is None or not state.moved_from or state.followed or save.written or swapped.sid != state.sid:
        return False
    permanent = bool(swapped.data.get("_permanent"))
    moved, _ = save.ctx.lifetimes.slide(swapped.old, save.ctx.now, permanent)
    return not resend_on_touch(permanent, moved, False, False)


def after_write(ctx: Context, state: Loaded, ended: bool, now: float) -> Steps[None]:
    """After a save that wrote the session ``state`` loaded (``ended``: and
    cleared its cookie): :func:`settle` the old id's tombstone if the
    browser is back with the new cookie (the write dropped the mark), or if
    the request followed the tombstone and ended the session it leads to."""
    if state.moved_from and not state.followed:
        yield from settle(ctx, state.moved_from, now)
    elif ended and state.via is not None:
        yield from settle(ctx, state.via.key, now)


def settle(ctx: Context, tombstone_key: str, now: float) -> Steps[None]:
    """The browser came back with a moved session's own cookie, and the
    mark is gone from the record (or the session ended): cut the old id's
    tombstone to :data:`~flask_strongbox.engine.tombstones.TOMBSTONE_SECONDS`
    from ``now`` (the time it is written at), for the requests still on
    their way with the old cookie. Best effort: if the store fails now, the
    tombstone just lives on to its own end."""
    try:
        yield from ops.touch(tombstone_key, now + tombstones.TOMBSTONE_SECONDS, ctx.now)
    except StoreUnavailable as exc:
        fingerprint = ctx.events.fingerprint(tombstone_key)
        logger.warning("moved session's old id %s not cut short: %s", fingerprint, exc)


def stretch(ctx: Context, state: Loaded, expires: float) -> Steps[None]:
    """A request that followed a move's tombstone slid the successor's
    expiry to ``expires``: the tombstone, which the browser's cookie
    still needs, lives as long (never past its absolute deadline). Best
    effort, like :func:`settle`."""
    via = state.via
    if via is None or not state.moved_from or expires <= via.expires:
        return
    try:
        yield from ops.touch(via.key, min(expires, via.absolute_expires), ctx.now)
    except StoreUnavailable as exc:
        logger.warning("moved session's old id %s not kept on: %s", ctx.events.fingerprint(via.key), exc)
