"""The session engine: what a request does to its session, with no web
framework in sight. An adapter (Flask's session interface) reads the cookie,
builds a :class:`~flask_strongbox.engine.context.Context`, calls
:meth:`Engine.open`, :meth:`Engine.load` and :meth:`Engine.save`, and writes
the :class:`~flask_strongbox.engine.context.Outcome` onto its response.
"""

from __future__ import annotations

from typing import Any

from .. import serialization
from ..audit import RejectionLog, logger
from ..errors import StoreUnavailable
from ..keys import Keyring
from ..settings import Settings
from ..stores.base import Store
from ..users import identity_of
from . import load as loading
from . import ops
from .activity import ActivityLog
from .changes import is_immutable
from .context import MARKERS, NOTHING, Context, Outcome, Save
from .decide import Change, decide
from .ops import Steps
from .purge import Purger
from .session import LazySession
from .state import Loaded
from .write import Writer


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

    def open(self, keyring: Keyring, cookies: list[str]) -> tuple[Loaded | None, str | None]:
        """Check the request's session cookies (no I/O): the load state of a
        validly signed one, or the reason one was refused."""
        return loading.verify(keyring, cookies)

    def load(self, ctx: Context, state: Loaded) -> tuple[dict[str, Any], Loaded]:
        """The session's data, on its first use in the request.

        :raises StoreUnavailable: the store cannot answer; its
            ``retry_after`` is ``STRONGBOX_RETRY_AFTER``.
        """
        return ops.run(self.load_steps(ctx, state), self.store)

    def load_steps(self, ctx: Context, state: Loaded) -> Steps[tuple[dict[str, Any], Loaded]]:
        """:meth:`load`, as steps for another driver (async, the simulator)."""
        return loading.load(ctx, state, self.settings)

    def save(self, ctx: Context, session: LazySession) -> Outcome:
        """Write what the request did to a loaded session, and say what the
        response must carry.

        :raises StoreUnavailable: the store cannot answer, or
            :class:`~flask_strongbox.SaveConflict`: concurrent changes could
            not be merged. Nothing was saved; the client should retry.
        """
        return ops.run(self.save_steps(ctx, session), self.store)

    def save_steps(self, ctx: Context, session: LazySession) -> Steps[Outcome]:
        """:meth:`save`, as steps for another driver. ``session`` must be
        loaded (or new)."""
        data = session.data
        state = session.state
        record = None if state is None else state.record
        empty = data.keys() <= MARKERS
        unchanged = (
            # Nothing was assigned and nothing can change in place: skip the
            # serialization that would only prove the content unchanged.
            record is not None and not session.modified
            and state is not None and state.keyset is ctx.keyring.primary and is_immutable(data)
        )
        plaintext = None if empty or unchanged else serialization.dumps(data)
        identity = identity_of(data, self.settings.identity_keys)
        loaded = state if record is not None else None
        change = Change(
            empty=empty, written=session.modified,
            content_changed=plaintext is not None and (loaded is None or plaintext != loaded.plaintext),
            identity_changed=loaded is not None and identity != loaded.identity,
            regenerate=session.regenerate_requested,
            under_fallback=state is not None and state.keyset is not ctx.keyring.primary,
        )
        reads = None if session.reads is None else frozenset(session.reads)
        job = Save(ctx, state, data, plaintext, reads, written=session.modified,
                   regenerate=session.regenerate_requested, identity=identity)
        return (yield from self.writer.carry_out(decide(state, change), job))

    def count_activity(self, ctx: Context, session: LazySession) -> Outcome:
        """A request with a valid cookie whose view never read the session is
        still activity: at most once per touch interval per session and
        process, load it and slide its expiry as a read would. A store that
        cannot answer fails nothing here: the view did not need the session."""
        key = session.store_key
        if key is None or not self.activity.due(key, ctx.now):
            return NOTHING
        try:
            session.data  # noqa: B018 - the lazy load
            return NOTHING if session.failed else self.save(ctx, session)
        except StoreUnavailable as exc:
            session.failed = True
            logger.warning("session activity not recorded: %s", exc)
            return NOTHING
