"""The session engine: what a request does to its session, with no web
framework in sight. An adapter (Flask's session interface) reads the cookie,
builds a :class:`~flask_strongbox.engine.context.Context`, calls
:meth:`Engine.open`, :meth:`Engine.load` and :meth:`Engine.save`, and writes
the :class:`~flask_strongbox.engine.context.Outcome` onto its response.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .. import serialization
from ..audit import RejectionLog, logger
from ..errors import StoreUnavailable
from ..keys import Keyring
from ..settings import Settings
from ..stores.base import Store
from ..users import identity_of
from . import leases, ops
from . import load as loading
from .activity import ActivityLog
from .context import MARKERS, NOTHING, Context, Outcome, Save
from .decide import Change, decide
from .load import Verified
from .ops import Steps
from .purge import Purger
from .session import LazySession
from .state import Loaded
from .write import Writer

_SCALARS = frozenset({str, int, float, bool, type(None), bytes})


def is_immutable(data: dict[str, Any]) -> bool:
    """Whether every value is a scalar, so nothing can change in place."""
    return _SCALARS.issuperset(map(type, dict.values(data)))


class Engine:
    """Sessions on one store, under one app's settings.

    :param settings: the app's Strongbox settings.
    :param store: where the sealed records are kept.
    """

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.clock = settings.clock
        self.rejections = RejectionLog()
        self.purger = Purger(store, settings.purge_interval.total_seconds(), settings.purge_batch)
        self.activity = ActivityLog(settings.touch_interval.total_seconds())
        self.writer = Writer(settings, self.purger, self.activity)

    def open(self, keyring: Keyring, cookies: list[str]) -> tuple[Verified | None, str | None]:
        """Check the request's session cookies (no I/O): a validly signed
        one, or the reason one was refused."""
        return loading.verify(keyring, cookies)

    def load(self, ctx: Context, cookie: Verified) -> tuple[dict[str, Any], Loaded]:
        """The session's data, on its first use in the request.

        :raises StoreUnavailable: the store cannot answer; its
            ``retry_after`` is ``STRONGBOX_RETRY_AFTER``.
        """
        return ops.run(self.load_steps(ctx, cookie), self.store)

    def load_steps(self, ctx: Context, cookie: Verified) -> Steps[tuple[dict[str, Any], Loaded]]:
        """:meth:`load`, as steps for another driver (async, the simulator)."""
        return loading.load(ctx, cookie, self.settings)

    def save(self, ctx: Context, session: LazySession) -> Outcome:
        """Write what the request did to a loaded session, and say what the
        response must carry.

        :raises StoreUnavailable: the store cannot answer, or
            :class:`~flask_strongbox.SaveConflict`: concurrent changes could
            not be merged. Nothing was saved; the client should retry.
        """
        state = session.state
        if self._common_read(ctx, session) and state is not None and not state.leases:
            permanent = bool(session.data.get("_permanent"))
            if self.writer.untouched(ctx, state, permanent):
                # What the steps would do, without running them: note the visit.
                self.activity.seen(state.marker, ctx.now)
                return NOTHING
        return ops.run(self.save_steps(ctx, session), self.store)

    def save_steps(self, ctx: Context, session: LazySession) -> Steps[Outcome]:
        """:meth:`save`, as steps for another driver. ``session`` must be
        loaded (or new). The leases of an exclusive request are given back,
        saved or not."""
        state = session.state
        try:
            outcome = yield from self._write(ctx, session)
        except Exception:
            if state is not None:
                yield from leases.release(state)
            raise
        if state is not None and state.leases:
            yield from leases.release(state)
        return outcome

    def make_exclusive(self, ctx: Context, session: LazySession) -> None:
        """Hold an already loaded session alone from now on: take its lease
        and, if the request changed nothing yet, load it again (another
        request may have saved it meanwhile).

        :raises SessionBusy: the lease stayed taken for ``STRONGBOX_EXCLUSIVE_WAIT``.
        """
        state = session.state
        if state is None or state.leases:
            return  # a new session (nobody else can hold it), or held already
        if session.modified:
            ops.run(leases.take(state, state.key, self.settings), self.store)
            return
        again = Verified(state.sid, state.keyset, state.marker)
        steps = loading.load(replace(ctx, exclusive=True), again, self.settings)
        session.reloaded(*ops.run(steps, self.store))

    def release(self, session: LazySession) -> None:
        """Give back the leases an exclusive request still holds (its save
        never ran: the request failed first)."""
        if session.state is not None and session.state.leases:
            ops.run(leases.release(session.state), self.store)

    @staticmethod
    def _common_read(ctx: Context, session: LazySession) -> bool:
        """The common read: nothing was assigned and nothing can change in
        place, sealed as new records are. decide() says TOUCH; the
        serialization that would only prove the content unchanged is skipped."""
        data, state = session.data, session.state
        return (
            state is not None and state.record is not None and not session.modified
            and state.keyset is ctx.keyring.primary and not state.stale
            and is_immutable(data) and not data.keys() <= MARKERS
        )

    def _write(self, ctx: Context, session: LazySession) -> Steps[Outcome]:
        data = session.data
        state = session.state
        if self._common_read(ctx, session):
            assert state is not None
            return (yield from self.writer.touch(ctx, state, bool(data.get("_permanent")), False))
        empty = data.keys() <= MARKERS
        plaintext = None if empty else serialization.dumps(data)
        identity = identity_of(data, self.settings.identity_keys)
        loaded = state if state is not None and state.record is not None else None
        change = Change(
            empty=empty, written=session.modified,
            content_changed=plaintext is not None and (loaded is None or plaintext != loaded.plaintext),
            identity_changed=identity != (None if loaded is None else loaded.identity),
            regenerate=session.regenerate_requested,
            under_fallback=state is not None and state.keyset is not ctx.keyring.primary,
            reseal_due=loaded is not None and loaded.stale and _touch_due(ctx, loaded, data),
        )
        job = Save(ctx, state, data, plaintext, session.reads, written=session.modified,
                   regenerate=session.regenerate_requested, identity=identity)
        return (yield from self.writer.carry_out(decide(state, change), job))

    def activity_due(self, session: LazySession) -> bool:
        """Whether a request with a valid cookie whose view never read the
        session should still count as activity: at most once per touch
        interval per session and process."""
        marker = session.activity_key
        return marker is not None and self.activity.due(marker, self.clock())

    def count_activity(self, ctx: Context, session: LazySession) -> Outcome:
        """Load an unread session and slide its expiry as a read would (when
        :meth:`activity_due`). A store that cannot answer fails nothing here:
        the view did not need the session."""
        try:
            session.data  # noqa: B018 - the lazy load
            return NOTHING if session.failed else self.save(ctx, session)
        except StoreUnavailable as exc:
            session.failed = True
            logger.warning("session activity not recorded: %s", exc)
            return NOTHING


def _touch_due(ctx: Context, state: Loaded, data: dict[str, Any]) -> bool:
    """Whether a touch of the loaded record is due now (its expiry would
    move by the throttle): a stale record is rewritten as often, no more."""
    assert state.record is not None
    return ctx.lifetimes.slide(state.record, ctx.now, bool(data.get("_permanent")))[0]
