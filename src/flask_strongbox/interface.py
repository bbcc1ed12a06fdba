"""Flask's two-method session contract, on a store, a sealer and signed ids.

``open_session`` only checks the cookie's signature (no I/O); the session
loads itself from the store on first use. ``save_session`` writes only what
changed: nothing for a read, a metadata touch (throttled) for sliding expiry,
a compare-and-swap for a change, a new id for a login.
"""

from __future__ import annotations

import random
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin

from . import cookies, devices, ids, sealing, serialization, signals, users
from .activity import ActivityLog
from .audit import RejectionLog, announce, logger
from .changes import Changes, changes_of, immutable
from .errors import ConfigurationError, SaveConflict, SessionTooLarge, StoreUnavailable, UnreadableRecord
from .keys import Keyring, check_production_secrets, fallbacks_of
from .purge import Purger
from .session import RefusedSession, StrongboxSession
from .state import Loaded
from .stores.base import Record

if TYPE_CHECKING:
    from .settings import Settings
    from .stores.base import Store

#: How long the record of a rotated-away id lingers, so that a request still
#: carrying the old id is told "rotated" rather than "destroyed".
TOMBSTONE_SECONDS = 60.0
#: Keys that say how to keep a session, not what it holds: a session with only
#: these is empty, so the tutorial's ``session.pop("user")`` is a full logout.
_MARKERS = frozenset({"_permanent"})


class StrongboxSessionInterface(SessionInterface):
    """Server-side sessions. Installed by :class:`~flask_strongbox.Strongbox`."""

    session_class = StrongboxSession

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.clock = settings.clock
        self.rejections = RejectionLog()
        self.purger = Purger(store, settings.purge_interval.total_seconds(), settings.purge_batch)
        self.activity = ActivityLog(settings.touch_interval.total_seconds())
        self._keyring: tuple[tuple[Any, ...], Keyring | ConfigurationError | None] | None = None

    # -- keys ----------------------------------------------------------------

    def keyring(self, app: Flask) -> Keyring | None:
        """The keys for the app's current secret key and fallbacks, derived
        once and re-derived only when they change. Read as Flask reads them:
        ``app.secret_key``, ``SECRET_KEY_FALLBACKS``, ``app.debug`` and
        ``app.testing`` (a Flask subclass may set those as class attributes).

        :raises ConfigurationError: a key is unsafe outside debug and testing.
        """
        source = (app.secret_key, app.config.get("SECRET_KEY_FALLBACKS"), bool(app.debug or app.testing))
        cached = self._keyring
        if cached is None or cached[0] != source:
            cached = self._keyring = (source, _derive(*source))
        if isinstance(cached[1], ConfigurationError):
            raise cached[1]
        return cached[1]

    # -- open ------------------------------------------------------------------

    def open_session(self, app: Flask, request: Request) -> StrongboxSession | None:
        try:
            keyring = self.keyring(app)
        except ConfigurationError as exc:
            # Refuse as Flask refuses a missing key: pages that never touch the
            # session are served, touching it raises the error.
            return RefusedSession(exc)
        if keyring is None:
            return None  # Flask's NullSession then explains that SECRET_KEY is missing
        cookies = request.cookies.getlist(self.get_cookie_name(app))
        if not cookies:
            return StrongboxSession()
        if len(cookies) > 1:
            # A second cookie of the same name is a cookie-tossing attempt or a
            # stale path/domain; neither is allowed to pick the session.
            self._reject(app, "duplicate cookie")
            return StrongboxSession()
        verified = ids.unsign(keyring, cookies[0])
        if verified is None:
            self._reject(app, "bad cookie")
            return StrongboxSession()
        sid, keyset = verified
        state = Loaded(sid, keyset, ids.store_key(keyset, sid), None)
        return StrongboxSession(lambda: self._load(app, keyring, state), store_key=state.key)

    def _load(self, app: Flask, keyring: Keyring, state: Loaded) -> tuple[dict[str, Any], Loaded]:
        """Fetch, open and check the record ``state`` names; fill ``state`` in."""
        key, now = state.key, self.clock()
        try:
            record = self.store.get(key, now)
        except StoreUnavailable as exc:
            exc.retry_after = self.settings.retry_after
            logger.error("session not loaded: %s", exc)
            raise
        except UnreadableRecord as exc:
            return {}, self._unreadable(app, keyring, state, exc.reason)
        if record is None or not record.blob:
            return {}, self._gone(app, state, rotated=record is not None)
        try:
            plaintext = sealing.unseal(keyring, record.blob, key)
            data = serialization.loads(plaintext)
        except (sealing.InvalidSeal, ValueError) as exc:
            reason = exc.reason if isinstance(exc, sealing.InvalidSeal) else "undecodable"
            return {}, self._unreadable(app, keyring, state, reason)
        if now >= self._deadline(app, record, bool(data.get("_permanent"))):
            # Expired under today's settings: a lifetime shortened since the
            # record was written applies to it too.
            return {}, self._gone(app, state, rotated=False)
        state.record, state.plaintext, state.identity = record, plaintext, self._identity(data)
        return data, state

    def _gone(self, app: Flask, state: Loaded, rotated: bool) -> Loaded:
        announce(app, signals.session_expired, state.key, "rotated away" if rotated else "expired or unknown")
        state.expired, state.rotated = True, rotated
        return state

    def _unreadable(self, app: Flask, keyring: Keyring, state: Loaded, reason: str) -> Loaded:
        logger.warning("unreadable session record %s: %s", keyring.fingerprint(state.key), reason)
        self._reject(app, "unreadable record", handle=state.key)
        state.unreadable = True
        return state

    # -- save ------------------------------------------------------------------

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, StrongboxSession):
            return  # Flask's NullSession: no SECRET_KEY, nothing to save
        if session.accessed:
            cookies.vary_on_cookie(response)
        if session.failed:
            return
        if not session.loaded and not session.modified:
            self._count_activity(app, session, response)
            return
        try:
            self._save(app, session, response)
        except StoreUnavailable as exc:  # SaveConflict included: both are a 503
            session.failed = True
            exc.retry_after = self.settings.retry_after
            if isinstance(exc, SaveConflict):
                logger.warning("session not saved: %s", exc.detail)
            else:
                logger.error("session not saved: %s", exc)
            cookies.become_error(app, response, exc)
        except Exception:
            session.failed = True  # Flask calls save again for its error page: don't
            raise

    def _count_activity(self, app: Flask, session: StrongboxSession, response: Response) -> None:
        """A request with a valid cookie whose view never read the session is
        still activity: at most once per touch interval per session and
        process, load it and slide its expiry as a read would (Flask's own
        session refreshes on every such request). A store that cannot answer
        fails nothing here: the view did not need the session."""
        key = session.store_key
        if key is None or not self.activity.due(key, self.clock()):
            return
        try:
            session.data  # noqa: B018 - the lazy load
            if not session.failed:
                self._save(app, session, response)
        except StoreUnavailable as exc:
            session.failed = True
            logger.warning("session activity not recorded: %s", exc)

    def _save(self, app: Flask, session: StrongboxSession, response: Response) -> None:
        keyring = self.keyring(app)
        assert keyring is not None
        data = session.data  # loads, if the view set ``modified`` without reading
        state = session.state
        if data.keys() <= _MARKERS:
            self._empty(app, response, state, written=session.modified)
            return
        if (
            state is not None and state.record is not None and not session.modified
            and state.keyset is keyring.primary and immutable(data)
        ):
            # Nothing was assigned and nothing can change in place: skip the
            # serialization that would only prove the content unchanged.
            self._refresh(app, session, response, keyring)
            return
        plaintext = serialization.dumps(data)
        now = self.clock()
        if state is not None and state.rotated:
            # The cookie names an id rotated away (login, regenerate) after the
            # browser sent this request: the browser holds, or is about to get,
            # the new cookie. A fresh session here would replace that cookie and
            # sign the user out, so this request's changes are dropped, as when
            # the rotation lands between its load and its save.
            return
        if state is None or state.record is None:
            if state is not None and state.unreadable:
                self.store.delete(state.key)  # replaced by the fresh session below
            self._create(app, session, response, keyring, data, plaintext, now, created=now)
        elif (
            session.regenerate_requested
            or self._identity(data) != state.identity
            # A session under a fallback key moves to the primary key on its
            # next write; a read only slides it, under the key it came with.
            or (state.keyset is not keyring.primary and plaintext != state.plaintext)
        ):
            self._rotate(app, session, response, keyring, state, data, plaintext, now)
        elif plaintext == state.plaintext:
            self._refresh(app, session, response, keyring)
        else:
            self._update(app, session, response, keyring, state, data, plaintext, now)

    def _empty(self, app: Flask, response: Response, state: Loaded | None, written: bool) -> None:
        """The session holds nothing: delete its record (a logout), or the
        unreadable one in its place if the request wrote (a read leaves
        what is stored alone), and clear a cookie that names nothing."""
        if state is None:
            return
        if state.record is not None or (state.unreadable and written):
            self.store.delete(state.key)
            if state.record is not None:
                announce(app, signals.session_destroyed, state.key, "emptied")
            cookies.delete_session_cookie(self, app, response)
        elif state.expired and not state.rotated:
            cookies.delete_session_cookie(self, app, response)

    def _create(
        self, app: Flask, session: StrongboxSession, response: Response, keyring: Keyring,
        data: dict[str, Any], plaintext: bytes, now: float, created: float,
    ) -> str:
        sid = ids.new_id()
        key = ids.store_key(keyring.primary, sid)
        identity = self._identity(data)
        expires, absolute = self._expiry(app, now, created, bool(data.get("_permanent")))
        record = Record(
            key=key, blob=self._seal(keyring, plaintext, key), version=1, created=created,
            last_seen=now, expires=expires, absolute_expires=absolute,
            user=None if identity is None else ids.identity_key(keyring.primary, identity),
            info=self._device_info(keyring, key),
        )
        if not self.store.create(record):
            raise RuntimeError("a fresh 256-bit session id collided; the CSPRNG is broken")
        announce(app, signals.session_created, key, "new")
        self.activity.seen(key, now)
        permanent = bool(data.get("_permanent"))
        cookies.set_session_cookie(self, app, response, ids.sign(keyring, sid), permanent, expires)
        if record.user is not None:
            users.enforce_cap(app, self.store, self.settings.max_sessions_per_user, record.user, key, now)
        self.purger.maybe_start(now)
        return key

    def _rotate(
        self, app: Flask, session: StrongboxSession, response: Response, keyring: Keyring,
        state: Loaded, data: dict[str, Any], plaintext: bytes, now: float,
    ) -> None:
        """New id, same data; the old record becomes a short-lived tombstone
        (compare-and-swap, so a concurrent change is merged, not lost)."""
        assert state.record is not None
        login = self._identity(data) != state.identity
        current, changes = state.record, None
        for attempt in range(self.settings.save_attempts):
            tombstone = Record(
                key=state.key, blob=b"", version=current.version + 1, created=current.created,
                last_seen=now, expires=now + TOMBSTONE_SECONDS,
                absolute_expires=now + TOMBSTONE_SECONDS,
            )
            if self.store.replace(tombstone, current.version, now):
                created = now if login else current.created
                try:
                    new_key = self._create(app, session, response, keyring, data, plaintext, now, created)
                except Exception:
                    self._restore(keyring, current, tombstone.version, now)
                    raise
                announce(app, signals.session_rotated, new_key, "login" if login else "regenerate")
                return
            _back_off(attempt)
            reread = self.store.get(state.key, now)
            if reread is None or not reread.blob:
                if login:  # the old session ended meanwhile; the login still stands
                    self._create(app, session, response, keyring, data, plaintext, now, created=now)
                elif reread is None:
                    cookies.delete_session_cookie(self, app, response)
                return
            changes = changes or self._changes(state, session, data)
            current, data, plaintext = self._merge(keyring, reread, changes)
        raise SaveConflict(self.settings.save_attempts)

    def _restore(self, keyring: Keyring, record: Record, tombstone_version: int, now: float) -> None:
        """Put back a record whose id was being rotated away when writing its
        successor failed: the client is told to retry, so its session must
        still be there."""
        try:
            self.store.replace(replace(record, version=tombstone_version + 1), tombstone_version, now)
        except StoreUnavailable as exc:
            logger.error("rotated-away session %s not restored: %s",
                         keyring.fingerprint(record.key), exc)

    def _update(
        self, app: Flask, session: StrongboxSession, response: Response, keyring: Keyring,
        state: Loaded, data: dict[str, Any], plaintext: bytes, now: float,
    ) -> None:
        """Compare-and-swap; on conflict, re-read and re-apply only this
        request's changes, so concurrent requests on one session lose nothing."""
        assert state.record is not None
        current, changes = state.record, None
        for attempt in range(self.settings.save_attempts):
            permanent = bool(data.get("_permanent"))
            absolute = self._absolute(current)
            expires = min(now + self._ttl(app, permanent), absolute)
            record = Record(
                key=state.key, blob=self._seal(keyring, plaintext, state.key),
                version=current.version + 1, created=current.created, last_seen=now,
                expires=expires, absolute_expires=absolute,
                user=current.user, info=current.info,
            )
            if self.store.replace(record, current.version, now):
                self.activity.seen(state.key, now)
                cookie = ids.sign(keyring, state.sid)
                cookies.set_session_cookie(self, app, response, cookie, permanent, expires)
                return
            _back_off(attempt)
            reread = self.store.get(state.key, now)
            if reread is None or not reread.blob:
                # Destroyed (logout, revoke, expiry) or rotated after we loaded
                # it: never resurrect it.
                if reread is None:
                    cookies.delete_session_cookie(self, app, response)
                return
            changes = changes or self._changes(state, session, data)
            current, data, plaintext = self._merge(keyring, reread, changes)
        raise SaveConflict(self.settings.save_attempts)

    def _changes(self, state: Loaded, session: StrongboxSession, data: dict[str, Any]) -> Changes:
        assert state.plaintext is not None
        reads = None if session.reads is None else frozenset(session.reads)
        return changes_of(state.plaintext, data, reads)

    def _merge(
        self, keyring: Keyring, record: Record, changes: Changes
    ) -> tuple[Record, dict[str, Any], bytes]:
        merged = serialization.loads(sealing.unseal(keyring, record.blob, record.key))
        changes.check_no_lost_update(merged)
        for name in changes.deletions:
            merged.pop(name, None)
        merged.update(changes.updates)
        return record, merged, serialization.dumps(merged)

    def _refresh(
        self, app: Flask, session: StrongboxSession, response: Response, keyring: Keyring,
    ) -> None:
        """Unchanged data: slide the expiry with a throttled metadata touch,
        under whichever key the session came with. The cookie is re-sent for a
        permanent session, and whenever the app set ``session.modified``
        (Flask's way to push changed ``SESSION_COOKIE_*`` settings)."""
        state = session.state
        assert state is not None and state.record is not None
        record, now = state.record, self.clock()
        permanent = bool(session.get("_permanent"))
        self.activity.seen(state.key, now)
        if permanent and not app.config["SESSION_REFRESH_EACH_REQUEST"] and not session.modified:
            return
        ttl = self._ttl(app, permanent)
        expires = min(now + ttl, self._absolute(record))
        throttle = min(self.settings.touch_interval.total_seconds(), ttl / 10)
        if abs(expires - record.expires) >= throttle:
            # Due, or the settings now allow less than the record says.
            if not self.store.touch(state.key, now, expires, now):
                cookies.delete_session_cookie(self, app, response)
                return
        else:
            expires = min(record.expires, self._deadline(app, record, permanent))
        if permanent or session.modified:
            cookie = ids.sign_with(state.keyset, state.sid)
            cookies.set_session_cookie(self, app, response, cookie, permanent, expires)

    # -- pieces ----------------------------------------------------------------

    def _ttl(self, app: Flask, permanent: bool) -> float:
        if permanent:
            return app.permanent_session_lifetime.total_seconds()
        return self.settings.idle_timeout.total_seconds()

    def _expiry(self, app: Flask, now: float, created: float, permanent: bool) -> tuple[float, float]:
        absolute = created + self.settings.absolute_lifetime.total_seconds()
        return min(now + self._ttl(app, permanent), absolute), absolute

    def _absolute(self, record: Record) -> float:
        """The record's absolute deadline under today's
        ``STRONGBOX_ABSOLUTE_LIFETIME``, if that is shorter than when it was
        written."""
        return min(record.absolute_expires, record.created + self.settings.absolute_lifetime.total_seconds())

    def _deadline(self, app: Flask, record: Record, permanent: bool) -> float:
        """When the record dies: the earliest of what is stored and what
        today's lifetimes allow since it was last seen."""
        return min(record.expires, record.last_seen + self._ttl(app, permanent), self._absolute(record))

    def _identity(self, data: dict[str, Any]) -> Any:
        for name in self.settings.identity_keys:
            value = data.get(name)
            if value is not None:
                return value
        return None

    def _seal(self, keyring: Keyring, plaintext: bytes, key: str) -> bytes:
        blob = sealing.seal(keyring, plaintext, key)
        if len(blob) > self.settings.max_size:
            raise SessionTooLarge(len(blob), self.settings.max_size)
        return blob

    def _device_info(self, keyring: Keyring, key: str) -> bytes | None:
        if not self.settings.device_hints:
            return None
        from flask import request

        hint = devices.describe(request.headers.get("User-Agent"))
        return sealing.seal(keyring, hint.encode(), key, purpose=b"|info")

    def _reject(self, app: Flask, reason: str, handle: str | None = None) -> None:
        self.rejections.record(reason, self.clock())
        signals.session_rejected.send(app, handle=handle, reason=reason)


def _derive(secret: Any, fallbacks: Any, relaxed: bool) -> Keyring | ConfigurationError | None:
    """The keyring for these settings, or the reason it is refused."""
    try:
        listed = fallbacks_of(fallbacks)
        if not relaxed:
            check_production_secrets(secret, listed)
    except ConfigurationError as exc:
        return exc
    return Keyring(secret, listed) if secret else None


def _back_off(attempt: int) -> None:
    """A short random pause before re-reading a record another request just
    wrote, so that writers racing on one session spread out instead of
    colliding again on every attempt."""
    time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))  # noqa: S311 - jitter, not a secret
