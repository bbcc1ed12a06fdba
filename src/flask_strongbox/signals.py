"""Blinker signals for the session lifecycle.

Each is sent with the app as sender and keyword arguments ``handle`` (the
session's opaque handle, as in :class:`SessionInfo`; ``None`` where there is
none) and ``reason`` (a short string)::

    from flask_strongbox import signals

    @signals.session_revoked.connect_via(app)
    def audit(app, handle, reason):
        ...
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: A new session was written for the first time.
session_created = _signals.signal("strongbox.session-created")
#: A session got a new id (login, ``regenerate()``, key rotation).
session_rotated = _signals.signal("strongbox.session-rotated")
#: The app emptied the session (such as a logout) and its record was deleted.
session_destroyed = _signals.signal("strongbox.session-destroyed")
#: A session was revoked through the API, the CLI or the per-user cap.
session_revoked = _signals.signal("strongbox.session-revoked")
#: A validly signed cookie named a session that no longer exists.
session_expired = _signals.signal("strongbox.session-expired")
#: A cookie or a stored blob was refused: malformed, forged or tampered.
session_rejected = _signals.signal("strongbox.session-rejected")
#: A save could not merge concurrent changes and answered 503
#: (:class:`~flask_strongbox.SaveConflict`); nothing was saved, and the
#: client's cookie was left alone. Also sent with ``endpoint``, the
#: request's Flask endpoint: the routes that conflict often are the ones to
#: mark ``@strongbox.exclusive``. ``reason`` is ``"contention"``, ``"rotated
#: away"`` or the conflicting key, such as ``session['cart']['a']``.
#:
#: .. versionadded:: 0.2
session_conflict = _signals.signal("strongbox.session-conflict")
