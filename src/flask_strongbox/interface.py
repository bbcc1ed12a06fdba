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
from .audit import RejectionLog, announce, logger
from .changes import Changes, changes_of, immutable
from .errors import SaveConflict, SessionTooLarge, StoreUnavailable
from .keys import Keyring, KeySet, check_production_secrets
from .session import StrongboxSession
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
        self._keyring: tuple[tuple[Any, ...], Keyring] | None = None
        self._next_purge = 0.0

    # -- keys ----------------------------------------------------------------

    def keyring(self, app: Flask) -> Keyring | None:
        """The keys for the app's current ``SECRET_KEY`` and fallbacks, derived
        once and re-derived only when the configuration changes."""
        config = app.config
        listed = config.get("SECRET_KEY_FALLBACKS")
        source = (config["SECRET_KEY"], tuple(listed) if listed else (),
                  bool(config["DEBUG"] or config["TESTING"]))
        cached = self._keyring
        if cached is not None and cached[0] == source:
            return cached[1]
        secret, fallbacks, relaxed = source
        if not relaxed:
            check_production_secrets(secret, fallbacks)
        if not secret:
            return None
        keyring = Keyring(secret, fallbacks)
        self._keyring = (source, keyring)
        return keyring

    # -- open ------------------------------------------------------------------

    def open_session(self, app: Flask, request: Request) -> StrongboxSession | None:
        keyring = self.keyring(app)
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
        return StrongboxSession(lambda: self._load(app, keyring, sid, keyset))

    def _load(
        self, app: Flask, keyring: Keyring, sid: bytes, keyset: KeySet
    ) -> tuple[dict[str, Any], Loaded]:
        key = ids.store_key(keyset, sid)
        try:
            record = self.store.get(key, self.clock())
        except StoreUnavailable as exc:
            exc.retry_after = self.settings.retry_after
            logger.error("session not loaded: %s", exc)
            raise
        if record is None or not record.blob:
            reason = "rotated away" if record is not None else "expired or unknown"
            announce(app, signals.session_expired, key, reason)
            return {}, Loaded(sid, keyset, key, None, expired=True, rotated=record is not None)
        try:
            plaintext = sealing.unseal(keyring, record.blob, key)
            data = serialization.loads(plaintext)
        except (sealing.InvalidSeal, ValueError) as exc:
            reason = exc.reason if isinstance(exc, sealing.InvalidSeal) else "undecodable"
            logger.warning("unreadable session record %s: %s", keyring.fingerprint(key), reason)
            self._reject(app, "unreadable record", handle=key)
            return {}, Loaded(sid, keyset, key, None)
        return data, Loaded(sid, keyset, key, record, plaintext, self._identity(data))

    # -- save ------------------------------------------------------------------

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, StrongboxSession):
            return  # open_session failed (say, a refused SECRET_KEY): nothing to save
        if session.accessed:
            cookies.vary_on_cookie(response)
        if session.failed or not session.loaded:
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

    def _save(self, app: Flask, session: StrongboxSession, response: Response) -> None:
        keyring = self.keyring(app)
        assert keyring is not None
        state = session.state
        data = session.data
        if data.keys() <= _MARKERS:
            if state is not None and state.record is not None:
                self.store.delete(state.key)
                announce(app, signals.session_destroyed, state.key, "emptied")
                cookies.delete_session_cookie(self, app, response)
            elif state is not None and state.expired and not state.rotated:
                cookies.delete_session_cookie(self, app, response)
            return
        if (
            state is not None and state.record is not None and not session.modified
            and state.keyset is keyring.primary and immutable(data)
        ):
            # Nothing was assigned and nothing can change in place: skip the
            # serialization that would only prove the content unchanged.
            self._refresh(app, session, response, keyring, state, self.clock())
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
            self._create(app, session, response, keyring, data, plaintext, now, created=now)
        elif (
            session.regenerate_requested
            or self._identity(data) != state.identity
            # A session under a fallback key moves to the primary key on its
            # next write; a read leaves it be, writing nothing.
            or (state.keyset is not keyring.primary and plaintext != state.plaintext)
        ):
            self._rotate(app, session, response, keyring, state, data, plaintext, now)
        elif plaintext == state.plaintext:
            self._refresh(app, session, response, keyring, state, now)
        else:
            self._update(app, session, response, keyring, state, data, plaintext, now)

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
        cookies.set_session_cookie(self, app, response, keyring, sid, bool(data.get("_permanent")), expires)
        if record.user is not None:
            users.enforce_cap(app, self.store, self.settings.max_sessions_per_user, record.user, key, now)
        self._maybe_purge(now)
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
            expires, _ = self._expiry(app, now, current.created, permanent)
            expires = min(expires, current.absolute_expires)
            record = Record(
                key=state.key, blob=self._seal(keyring, plaintext, state.key),
                version=current.version + 1, created=current.created, last_seen=now,
                expires=expires, absolute_expires=current.absolute_expires,
                user=current.user, info=current.info,
            )
            if self.store.replace(record, current.version, now):
                cookies.set_session_cookie(self, app, response, keyring, state.sid, permanent, expires)
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
        state: Loaded, now: float,
    ) -> None:
        """Unchanged data: slide the expiry with a throttled metadata touch."""
        assert state.record is not None
        record = state.record
        permanent = bool(session.get("_permanent"))
        if permanent and not app.config["SESSION_REFRESH_EACH_REQUEST"]:
            return
        if state.keyset is not keyring.primary:
            return
        ttl = self._ttl(app, permanent)
        expires = min(now + ttl, record.absolute_expires)
        throttle = min(self.settings.touch_interval.total_seconds(), ttl / 10)
        if expires - record.expires >= throttle:
            if not self.store.touch(state.key, now, expires, now):
                cookies.delete_session_cookie(self, app, response)
                return
        else:
            expires = record.expires
        if permanent:
            cookies.set_session_cookie(self, app, response, keyring, state.sid, permanent, expires)

    # -- pieces ----------------------------------------------------------------

    def _ttl(self, app: Flask, permanent: bool) -> float:
        if permanent:
            return app.permanent_session_lifetime.total_seconds()
        return self.settings.idle_timeout.total_seconds()

    def _expiry(self, app: Flask, now: float, created: float, permanent: bool) -> tuple[float, float]:
        absolute = created + self.settings.absolute_lifetime.total_seconds()
        return min(now + self._ttl(app, permanent), absolute), absolute

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

    def _maybe_purge(self, now: float) -> None:
        # A store whose server expires records itself (Redis TTL) needs no
        # purge on the request path; ``flask sessions purge`` still tidies it.
        if now < self._next_purge or getattr(self.store, "expires_records_itself", False):
            return
        self._next_purge = now + self.settings.purge_interval.total_seconds()
        try:
            removed = self.store.purge(now, self.settings.purge_batch)
        except StoreUnavailable as exc:
            logger.warning("purge skipped: %s", exc)
            return
        if removed:
            logger.info("purged %d expired session(s)", removed)

    def _reject(self, app: Flask, reason: str, handle: str | None = None) -> None:
        self.rejections.record(reason, self.clock())
        signals.session_rejected.send(app, handle=handle, reason=reason)


def _back_off(attempt: int) -> None:
    """A short random pause before re-reading a record another request just
    wrote, so that writers racing on one session spread out instead of
    colliding again on every attempt."""
    time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))  # noqa: S311 - jitter, not a secret
