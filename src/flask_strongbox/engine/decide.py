"""What a save must do: a pure function of what the request loaded and what
it leaves, tested without a store.

=========  ============================================================
action     when
=========  ============================================================
NONE       nothing to keep and nothing stored: no store call
DELETE     the session is empty: delete its record (a logout) or the
           unreadable one the request wrote over, and clear the cookie
TOUCH      content unchanged: slide the expiry (throttled) and re-send
           the cookie if it must be (:func:`resend_on_touch`)
CREATE     no record yet: a new id and record
ROTATE     a login, ``regenerate()``, or a write to a session under a
           fallback key (or a read of one that is due a touch): a new id
           for the data, a tombstone for the old
UPDATE     content changed, or a record sealed in an older envelope is
           due a touch: compare-and-swap the record
DROP       a write that carries an id a login or ``regenerate()`` rotated
           away: nothing is saved and the request answers 503 with
           ``Retry-After``, so the browser retries with its new cookie
=========  ============================================================

Rewriting what a read finds under an old key or envelope, as often as a touch
at most, is what makes a key rotation finish: every active session is on the
current key within one touch interval, the rest by their absolute lifetime
(``flask sessions keys`` shows how far it got).

A login (or ``regenerate()``) from a rotated-away id, or from the session a
key move led to, creates a session of its own: it never takes over the one
another tab's login made.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .state import Loaded


class Action(enum.Enum):
    NONE = "none"
    DELETE = "delete"
    TOUCH = "touch"
    CREATE = "create"
    ROTATE = "rotate"
    UPDATE = "update"
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class Change:
    """What the request did, as far as the decision needs to know.

    :param empty: nothing but markers (``_permanent``) is left.
    :param written: the app set ``session.modified`` or assigned a key.
    :param content_changed: the serialized data differs from what was loaded.
    :param identity_changed: the identity key (``session["user"]``) changed.
    :param regenerate: ``session.regenerate()`` was called.
    :param under_fallback: the cookie was signed with a fallback key.
    :param reseal_due: the record is sealed under a fallback key or in an
        older envelope, and a touch of it is due (the sliding expiry moved
        by the touch throttle).
    """

    empty: bool
    written: bool
    content_changed: bool
    identity_changed: bool
    regenerate: bool
    under_fallback: bool
    reseal_due: bool = False


def decide(state: Loaded | None, change: Change) -> Action:
    """The action for a request that loaded ``state`` (``None``: it came
    without a valid cookie) and did ``change``."""
    if change.empty:
        if state is None:
            return Action.NONE
        if state.record is not None or (state.unreadable and change.written):
            return Action.DELETE
        # A cookie naming a session that ended is cleared, unless the id was
        # rotated away: the browser holds (or is about to get) the new cookie.
        return Action.DELETE if state.expired and not state.rotated else Action.NONE
    login = change.identity_changed or change.regenerate
    if state is not None and state.rotated:
        return Action.CREATE if login else Action.DROP
    if state is None or state.record is None or (state.followed and login):
        return Action.CREATE
    rewrite = change.content_changed or change.reseal_due
    if login or (change.under_fallback and rewrite):
        return Action.ROTATE
    return Action.UPDATE if rewrite else Action.TOUCH


def resend_on_touch(permanent: bool, moved: bool, written: bool, followed: bool) -> bool:
    """Whether an unchanged session's response carries its cookie.

    A permanent session's cookie is re-sent only when its server-side expiry
    moved (a throttled touch), not on every read: its browser expiry is kept
    ahead of the server's by :func:`cookie_expires`' slack, so between two
    touches the browser's cookie outlives the record. ``written`` (the app set
    ``session.modified``) re-sends it as Flask does, and so does a session the
    request ``followed`` to its successor: the browser moves on to it.
    """
    return written or followed or (permanent and moved)


def cookie_expires(expires: float, slack: float, absolute: float) -> float:
    """The browser expiry of a permanent session's cookie whose record
    expires at ``expires``: later by ``slack`` (the touch throttle), so it
    never dies in the browser first, even when the browser's clock runs a
    little ahead, but never past the record's ``absolute`` deadline, which
    no touch can move."""
    later = expires + slack
    return later if later < absolute else absolute
