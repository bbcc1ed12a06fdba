"""Moving a session of the system an app used before Strongbox into a sealed
record, on the first request that brings its cookie: no web framework here.

A :class:`LegacySource` reads such a cookie (Flask's signed cookie, or a
Flask-Session id looked up in its old store). :class:`Adopter` gives the
request that session's data as a new session's, and its save writes it
through the engine's own write path (:meth:`Engine.save_steps
<flask_strongbox.engine.Engine.save_steps>`), so a moved session is an
ordinary one from its first response: sealed as any other, in the per-user
index, under today's lifetimes, and rotated at its next login.

A legacy cookie is moved at most once, whichever app server sees it: the move
is claimed by :meth:`Store.create <flask_strongbox.stores.base.Store.create>`
of a *marker*, which fails for everyone after the first, and a replay of the
cookie gets a fresh, empty session. The markers, the pointers a bulk import
leaves, and their store keys are in :mod:`~flask_strongbox.engine.markers`.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .. import ids, serialization
from ..audit import logger
from ..errors import SaveConflict, StoreUnavailable, UnreadableRecord
from ..migrate.results import LegacyResult, Loaded, Refused
from . import load as loading
from . import ops
from .context import CLEAR, MARKERS, NOTHING, Context, Outcome
from .load import Verified
from .markers import import_key, marker, marker_key, pointed_to
from .ops import Steps
from .state import Loaded as LoadState

if TYPE_CHECKING:
    from .core import Engine
    from .session import LazySession


class LegacySource(Protocol):
    """Reads the sessions of one legacy system.

    ``read`` and ``forget`` may do blocking I/O on the old store (Flask-Session's
    Redis, SQL or files); an async adapter runs them in a worker thread.
    """

    #: ``"flask-cookie"`` or ``"flask-session"``, for logs and markers.
    name: str
    #: Whether sessions may have been moved up front by a bulk import
    #: (:mod:`~flask_strongbox.migrate.importer`), so a request looks for the
    #: import's pointer in the engine's store before reading the old system.
    imports: bool

    def read(self, cookie: str, now: float) -> LegacyResult:
        """The session the legacy ``cookie`` names, as the old system would
        load it at ``now``. Never raises for the cookie's content.

        :raises StoreUnavailable: the old store cannot answer.
        """

    def token(self, cookie: str) -> str | None:
        """Text that names the legacy session whatever spelling of the cookie
        is sent, kept only as a keyed hash; ``None`` if the cookie can be told
        to be invalid without I/O."""

    def forget(self, cookie: str) -> None:
        """Remove what the old system kept of the session, once it is moved."""


@dataclass(slots=True)
class Adoption:
    """One request's legacy cookie, and what loading it found.

    :param cookie: the cookie value (never in ``repr``).
    """

    cookie: str = field(repr=False)
    #: The store key of the move's marker, once the cookie was read as a
    #: session not moved yet; ``None`` if there is nothing to move.
    marker: str | None = field(default=None, repr=False)
    #: When the marker may be forgotten: the legacy cookie is dead by then.
    until: float = 0.0
    #: The session was found moved by a bulk import: it is an ordinary
    #: session now, and the response must carry its cookie.
    imported: bool = False


class Adopter:
    """Moves legacy sessions into the engine's store, until ``until``.

    :param engine: the engine whose store and write path take the sessions.
    :param source: reads the legacy cookies.
    :param until: ``STRONGBOX_MIGRATE_UNTIL``, Unix seconds: later, legacy
        cookies are ignored (a fresh session, as for any unknown cookie).
    """

    def __init__(self, engine: Engine, source: LegacySource, until: float) -> None:
        self.engine = engine
        self.source = source
        self.until = until
        #: How many legacy sessions were ``moved``, found ``replayed`` or
        #: ``raced`` (moved by a concurrent request), refused (by
        #: :data:`~flask_strongbox.migrate.RefusalKind`), or ``invalid``
        #: (forged, expired, unknown), in this process.
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Adopter {self.source.name} until={self.until}>"

    def adoption(self, cookies: list[str], now: float) -> Adoption | None:
        """The request's cookies as a legacy cookie to try (no I/O), or
        ``None``: none, several (as for Strongbox's own, never trusted), or
        the migration window is closed."""
        if len(cookies) != 1 or not cookies[0] or now >= self.until:
            return None
        return Adoption(cookies[0])

    # -- load ------------------------------------------------------------------

    def load(self, ctx: Context, adoption: Adoption) -> tuple[dict[str, Any], LoadState | None]:
        """:meth:`load_steps`, run against the engine's store."""
        return ops.run(self.load_steps(ctx, adoption), self.engine.store)

    def load_steps(self, ctx: Context, adoption: Adoption) -> Steps[tuple[dict[str, Any], LoadState | None]]:
        """The legacy session's data for a new session (no load state: until
        its save, the session has no record), or ``{}`` if the cookie names
        none, a refused one, or one already moved. A session a bulk import
        moved comes with the load state of its record.

        :raises StoreUnavailable: the old store or the engine's cannot answer.
        """
        token = self.source.token(adoption.cookie)
        if token is not None and self.source.imports:
            imported = yield from self._imported(ctx, token)
            if imported is not None:
                adoption.imported = imported[1] is not None
                return imported
        found = self.source.read(adoption.cookie, ctx.now) if token is not None else None
        if isinstance(found, Refused):
            return self._refused(found)
        if not isinstance(found, Loaded) or token is None:
            self._count("invalid")
            ctx.events.reject(f"{self.source.name} cookie not valid", ctx.now)
            return {}, None
        markers = [marker_key(keyset, self.source.name, token) for keyset in ctx.keyring.sets]
        for key in markers:
            if (yield from _present(key, ctx.now)):
                return self._replayed(ctx, key)
        try:
            # As every later request will see it: Strongbox keeps datetimes
            # to the second, in UTC, as Flask's own cookie session does.
            data = serialization.loads(serialization.dumps(found.data))
        except (TypeError, ValueError):  # SessionTooDeep is a ValueError
            return self._refused(Refused("unstorable", "holds a value Strongbox cannot store"))
        adoption.marker = markers[0]
        adoption.until = min(found.expires or self.until, self.until)
        return data, None

    def _imported(self, ctx: Context, token: str) -> Steps[tuple[dict[str, Any], LoadState | None] | None]:
        """The session a bulk import made for the legacy session ``token``
        names, taken (its pointer deleted, so a replay finds nothing), or
        ``None`` if there is no pointer."""
        for keyset in ctx.keyring.sets:
            key = import_key(keyset, self.source.name, token)
            try:
                pointer = yield from ops.get(key, ctx.now)
            except UnreadableRecord:
                continue
            if pointer is None:
                continue
            sid = pointed_to(ctx.keyring, pointer, token)
            if sid is None or not (yield from ops.delete(key)):
                return self._replayed(ctx, key)  # taken by a concurrent request
            cookie = ids.sign(ctx.keyring, sid)
            verified = Verified(sid, ctx.keyring.primary, cookie.rpartition(".")[2])
            data, state = yield from loading.load(ctx, verified, self.engine.settings)
            state.followed = True  # the browser moves on to the session's own cookie
            self._count("moved")
            logger.info("legacy %s session %s taken from its import",
                        self.source.name, ctx.events.fingerprint(key))
            return data, state
        return None

    def _refused(self, found: Refused) -> tuple[dict[str, Any], None]:
        self._count(found.kind)
        logger.warning("legacy %s session not migrated: %s (%d refused as %s in this process); "
                       "the user starts a fresh session",
                       self.source.name, found.reason, self.counts[found.kind], found.kind)
        return {}, None

    def _replayed(self, ctx: Context, key: str) -> tuple[dict[str, Any], None]:
        # Counted into the rejection summary, so a flood of replays is one line.
        self._count("replayed")
        ctx.events.reject(f"{self.source.name} cookie replayed", ctx.now)
        logger.info("legacy %s session %s was migrated already; the replayed cookie gets a "
                    "fresh session", self.source.name, ctx.events.fingerprint(key))
        return {}, None

    # -- save ------------------------------------------------------------------

    def save(self, ctx: Context, session: LazySession, adoption: Adoption) -> Outcome:
        """:meth:`save_steps`, run against the engine's store."""
        return ops.run(self.save_steps(ctx, session, adoption), self.engine.store)

    def save_steps(self, ctx: Context, session: LazySession, adoption: Adoption) -> Steps[Outcome]:
        """Write a loaded legacy session as a new record and answer with its
        cookie; the legacy cookie is cleared if nothing is left to keep.

        :raises SaveConflict: a concurrent request moved the same legacy
            session first and this one changed it: nothing was saved, the
            client retries (with the cookie the other response set).
        """
        if adoption.imported:
            session.modified = True  # the cookie is sent, whatever the refresh policy
            return (yield from self.engine.save_steps(ctx, session))
        empty = session.data.keys() <= MARKERS
        if adoption.marker is None:
            # Nothing moved: a fresh session, kept if the view wrote to it.
            return CLEAR if empty else (yield from self.engine.save_steps(ctx, session))
        if empty:
            return CLEAR  # a legacy session with nothing in it, or logged out at once: nothing written
        if not (yield from ops.create(marker(adoption.marker, ctx.now, adoption.until))):
            self._count("raced")
            if session.modified:
                raise SaveConflict(1, "a concurrent request migrated this legacy session first; nothing "
                                      "was saved: retry the request with the new cookie", reason="migrated")
            return NOTHING  # the browser keeps the cookie the other response sets
        try:
            outcome = yield from self.engine.save_steps(ctx, session)
        except Exception:
            yield from _unclaim(adoption.marker)  # so the client's retry can move it
            raise
        self.source.forget(adoption.cookie)
        self._count("moved")
        logger.info("legacy %s session %s migrated",
                    self.source.name, ctx.events.fingerprint(adoption.marker))
        return outcome

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1


def _present(key: str, now: float) -> Steps[bool]:
    try:
        return (yield from ops.get(key, now)) is not None
    except UnreadableRecord:
        return True  # something is there; never move twice on a doubt


def _unclaim(marker: str) -> Steps[None]:
    try:
        yield from ops.delete(marker)
    except StoreUnavailable as exc:
        logger.error("migration marker not released (the user will start a fresh session): %s", exc)
