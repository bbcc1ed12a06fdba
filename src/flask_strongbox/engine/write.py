"""Carrying out a save's decision against the store.

Every write of an existing record, an update and a rotation alike, is a
compare-and-swap in the one retry loop of :mod:`~flask_strongbox.engine.swap`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .. import devices, ids, sealing, serialization, signals, users
from ..audit import logger
from ..errors import SaveConflict, SessionTooLarge, StoreUnavailable, UnreadableRecord
from ..settings import Settings
from ..stores.base import Record
from . import merge, moves, ops, swap, tombstones
from .activity import ActivityLog
from .context import CLEAR, MARKERS, NOTHING, Context, Outcome, Save
from .decide import Action, cookie_expires, resend_on_touch
from .ops import Call, Steps
from .purge import Purger
from .state import Loaded
from .swap import Gone, Swapped


class Writer:
    """Carries out one :class:`~flask_strongbox.engine.decide.Action`, as
    steps a driver runs against the store (:mod:`~flask_strongbox.engine.ops`).

    :param settings: the app's Strongbox settings.
    :param purger: started by writes that create records.
    :param activity: when this process last saw each session.
    """

    def __init__(self, settings: Settings, purger: Purger, activity: ActivityLog) -> None:
        self.settings = settings
        self.purger = purger
        self.activity = activity

    def carry_out(self, action: Action, save: Save) -> Steps[Outcome]:
        if action is Action.CREATE:
            if save.state is not None and save.state.unreadable:
                yield from ops.delete(save.state.key)  # replaced by the fresh session
            assert save.plaintext is not None
            return (yield from self.create(save, save.data, save.plaintext, created=save.ctx.now))[1]
        if action is Action.DROP:
            raise SaveConflict(1, (
                "the session's id was rotated away (a login or regenerate() in another request); "
                "nothing was saved: retry the request with the new cookie"
            ), reason="rotated away")
        if action is Action.TOUCH:
            return (yield from self.touch(save.ctx, save.state, save.permanent, save.written))
        if action is Action.UPDATE:
            outcome = yield from self.update(save)
        elif action is Action.ROTATE:
            outcome = yield from self.rotate(save)
        elif action is Action.DELETE:
            outcome = yield from self.delete(save)
        else:
            return NOTHING
        if save.state is not None and save.state.moving:
            yield from moves.after_write(save.ctx, save.state, outcome.clear, self.late(save.ctx))
        return outcome

    # -- the actions -----------------------------------------------------------

    def create(
        self, save: Save, data: dict[str, Any], plaintext: bytes, created: float, sid: bytes | None = None,
    ) -> Steps[tuple[Record, Outcome]]:
        """A new id (``sid``, or a fresh one) and record for ``data``; the
        record and the cookie to send."""
        ctx = save.ctx
        sid = sid or ids.new_id()
        key = ids.store_key(ctx.keyring.primary, sid)
        identity = users.identity_of(data, self.settings.identity_keys)
        user_hash = None if identity is None else ids.identity_key(ctx.keyring.primary, identity)
        permanent = bool(data.get("_permanent"))
        expires, absolute = ctx.lifetimes.new(ctx.now, created, permanent)
        record = Record(
            key=key, blob=self.seal(save, plaintext, sealing.Binding(sid, key, created, user_hash)),
            version=1, created=created, last_seen=ctx.now, expires=expires, absolute_expires=absolute,
            user_hash=user_hash, sealed_device=self._device(save, key),
        )
        if not (yield from ops.create(record)) and (yield from self._collided(record, ctx.now)):
            raise RuntimeError("a fresh 256-bit session id collided; the CSPRNG is broken")
        ctx.events.announce(signals.session_created, key, "new")
        cookie = ids.sign(ctx.keyring, sid)
        self.activity.seen(cookie.rpartition(".")[2], ctx.now)
        yield from self._enforce_cap(save, record)
        self.purger.maybe_start(ctx.now)
        return record, _cookie(ctx, cookie, permanent, record.expires, absolute)

    def update(self, save: Save) -> Steps[Outcome]:
        """Compare-and-swap the record with this request's data."""
        state = save.state
        assert state is not None
        save = moves.keep_mark(save)

        def build(current: Record, data: dict[str, Any], plaintext: bytes, sid: bytes) -> Record:
            return self._rewritten(save, current, data, self._sealed_for(save, current, plaintext, sid))

        result = yield from swap.swap(save, build, True, self.settings.save_attempts)
        if isinstance(result, Gone):
            return CLEAR  # ended meanwhile (logout, revocation, expiry): never resurrect
        if state.via is not None:
            yield from moves.stretch(save.ctx, state, result.new.expires)
        if state.moved_from and moves.only_unmarked(save, result):
            return NOTHING
        return self._kept(save, result)

    def _rewritten(self, save: Save, current: Record, data: dict[str, Any], blob: bytes) -> Record:
        """``current`` holding ``data``, sealed as ``blob``, now; its expiry slid."""
        ctx = save.ctx
        absolute = ctx.lifetimes.absolute_of(current)
        expires = min(ctx.now + ctx.lifetimes.ttl(bool(data.get("_permanent"))), absolute)
        return Record(current.key, blob, current.version + 1, current.created, ctx.now, expires,
                      absolute, current.user_hash, current.sealed_device)

    def _sealed_for(self, save: Save, current: Record, plaintext: bytes, sid: bytes) -> bytes:
        """``plaintext`` sealed for the record ``current`` of session ``sid``."""
        binding = sealing.Binding(sid, current.key, current.created, current.user_hash)
        return self.seal(save, plaintext, binding)

    def _kept(self, save: Save, result: Swapped) -> Outcome:
        """The cookie of a session saved by a compare-and-swap, signed with
        the key set its record is under (a followed move's: the current one)."""
        state = save.state
        assert state is not None
        self.activity.seen(state.marker, save.ctx.now)
        permanent = bool(result.data.get("_permanent"))
        keyset = state.keyset if result.sid == state.sid else save.ctx.keyring.primary
        return _cookie(save.ctx, ids.sign_with(keyset, result.sid), permanent, result.new.expires,
                       result.new.absolute_expires)

    def rotate(self, save: Save) -> Steps[Outcome]:
        """New id, same data; the old record becomes a short-lived tombstone
        (compare-and-swap, so a concurrent change is merged, not lost)."""
        ctx, state = save.ctx, save.state
        assert state is not None and state.record is not None
        login = save.identity != state.identity
        if not login and not save.regenerate:
            return (yield from moves.move(self, save))
        successor, nowhere = ids.new_id(), tombstones.nowhere()

        def tombstone(current: Record, _data: dict[str, Any], _plaintext: bytes, _sid: bytes) -> Record:
            return tombstones.tombstone(current, self.late(ctx), nowhere)

        result = yield from swap.swap(save, tombstone, False, self.settings.save_attempts)
        if isinstance(result, Gone):
            # Ended or rotated meanwhile: this one stands alone, holding only what
            # this request changed (what it loaded moved on, or was ended).
            data = self._own_changes(save)
            if data.keys() <= MARKERS:
                return NOTHING if result.found is not None else CLEAR
            return (yield from self.create(save, data, serialization.dumps(data), created=ctx.now))[1]
        created = ctx.now if login else result.old.created
        try:
            record, outcome = yield from self.create(save, result.data, result.plaintext, created, successor)
        except Exception:
            yield from self._restore(save, result)
            raise
        ctx.events.announce(signals.session_rotated, record.key, "login" if login else "regenerate")
        return outcome

    def touch(self, ctx: Context, state: Loaded | None, permanent: bool, written: bool) -> Steps[Outcome]:
        """Unchanged data: slide the expiry with a throttled metadata touch,
        under whichever key the session came with. The cookie is re-sent when
        a permanent session's expiry moved, and whenever the app set
        ``session.modified`` (Flask's way to push changed ``SESSION_COOKIE_*``
        settings): see :func:`~flask_strongbox.engine.decide.resend_on_touch`."""
        assert state is not None and state.record is not None
        self.activity.seen(state.marker, ctx.now)
        if permanent and not ctx.refresh_each_request and not written:
            return NOTHING
        record = state.record
        due, expires = ctx.lifetimes.slide(record, ctx.now, permanent)
        if due and not (yield Call("touch", (state.key, expires, ctx.now))):  # ops.touch, inline
            return CLEAR  # it ended meanwhile
        if due and state.via is not None:
            yield from moves.stretch(ctx, state, expires)
        if not resend_on_touch(permanent, due, written, state.followed):
            return NOTHING
        return _cookie(ctx, ids.sign_with(state.keyset, state.sid), permanent, expires,
                       ctx.lifetimes.absolute_of(record))

    def untouched(self, ctx: Context, state: Loaded, permanent: bool) -> bool:
        """Whether :meth:`touch` of an unwritten session would neither call
        the store nor send a cookie (it would only note the visit)."""
        assert state.record is not None
        if state.followed:
            return False
        if permanent and not ctx.refresh_each_request:
            return True
        due, _ = ctx.lifetimes.slide(state.record, ctx.now, permanent)
        return not due and not resend_on_touch(permanent, due, False, state.followed)

    def delete(self, save: Save) -> Steps[Outcome]:
        """The session is empty: end its record, or delete the unreadable one.

        Ending is a compare-and-swap (to a tombstone, then deleted): a change
        another request saved since this one loaded is merged first, and if
        any of it is left the session is kept with it. A request empties the
        session it saw, never changes it did not see.
        """
        state = save.state
        assert state is not None
        if state.record is None:
            if state.unreadable:
                yield from ops.delete(state.key)
            return CLEAR
        ctx, nowhere = save.ctx, tombstones.nowhere()

        def ended(current: Record, data: dict[str, Any], plaintext: bytes, sid: bytes) -> Record:
            if data.keys() <= MARKERS:
                return tombstones.tombstone(current, self.late(ctx), nowhere)
            return self._rewritten(save, current, data, self._sealed_for(save, current, plaintext, sid))

        emptied = replace(save, plaintext=serialization.dumps(save.data))
        result = yield from swap.swap(emptied, ended, False, self.settings.save_attempts)
        if isinstance(result, Gone):
            return CLEAR  # ended meanwhile
        if not tombstones.is_tombstone(result.new):
            return self._kept(save, result)  # another request's change is left in it
        yield from ops.delete(state.key)
        ctx.events.announce(signals.session_destroyed, state.key, "emptied")
        return CLEAR

    def _own_changes(self, save: Save) -> dict[str, Any]:
        """What this request changed in the session it loaded, on its own
        (merged onto an empty session)."""
        assert save.state is not None
        base = serialization.loads(save.state.plaintext or b"{}")
        return merge.merge(base, save.data, {}, None if save.reads is None else frozenset(save.reads))

    def late(self, ctx: Context) -> float:
        """The time a tombstone is written at (:func:`~.tombstones.written_at`)."""
        return tombstones.written_at(ctx.now, self.settings.clock)

    def _collided(self, record: Record, now: float) -> Steps[bool]:
        """Whether a create refused because its key exists found another
        record there. A store client that retried the create after a timeout
        (redis-py does) finds its own first attempt instead, or nothing if it
        ended since."""
        try:
            found = yield from ops.get(record.key, now)
        except UnreadableRecord:
            return True
        return found is not None and not swap.same_write(found, record)

    def _restore(self, save: Save, swapped: Swapped) -> Steps[None]:
        """Put back a record whose id was being rotated away when writing its
        successor failed: the client is told to retry, so its session must
        still be there."""
        old, tombstone = swapped.old, swapped.new
        try:
            restored = replace(old, version=tombstone.version + 1)
            yield from ops.replace(restored, tombstone.version, save.ctx.now)
        except StoreUnavailable as exc:
            logger.error("rotated-away session %s not restored: %s",
                         save.ctx.events.fingerprint(old.key), exc)

    # -- pieces ------------------------------------------------------------------

    def _enforce_cap(self, save: Save, written: Record) -> Steps[None]:
        """Revoke the oldest sessions of ``written``'s identity beyond
        ``STRONGBOX_MAX_SESSIONS_PER_USER``.

        The newest by (created, key) stay, an order every process sees alike:
        two logins racing each revoke only what is older than both, never each
        other's. ``written``, the session just written, is never revoked here
        (if it is not listed, a newer login has revoked it already).
        """
        cap = self.settings.max_sessions_per_user
        if cap is None or written.user_hash is None:
            return
        records = yield from ops.sessions_of(written.user_hash, written.last_seen)
        for record in records[: max(0, len(records) - cap)]:
            if record.key != written.key and (yield from ops.delete(record.key)):
                save.ctx.events.announce(signals.session_revoked, record.key, "session cap")

    def seal(self, save: Save, plaintext: bytes, binding: sealing.Binding) -> bytes:
        blob = sealing.seal_record(save.ctx.keyring, plaintext, binding)
        if len(blob) > self.settings.max_size:
            raise SessionTooLarge(len(blob), self.settings.max_size)
        return blob

    def _device(self, save: Save, key: str) -> bytes | None:
        if not self.settings.device_hints:
            return None
        return devices.seal_hint(save.ctx.keyring, save.ctx.user_agent, key)


def _cookie(ctx: Context, value: str, permanent: bool, expires: float, absolute: float) -> Outcome:
    """Send ``value``; a permanent session's cookie expires with its record
    (``expires``), plus the touch throttle as slack, never past ``absolute``
    (:func:`~flask_strongbox.engine.decide.cookie_expires`)."""
    if not permanent:
        return Outcome(cookie=value)
    slack = ctx.lifetimes.throttle(permanent)
    return Outcome(cookie=value, expires=cookie_expires(expires, slack, absolute))
