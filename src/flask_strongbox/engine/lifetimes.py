"""Deadlines: idle, permanent and absolute lifetimes, and the touch throttle.

A session dies at the earliest of what its record says and what today's
settings allow since it was last seen, so a lifetime shortened after a record
was written applies to it on its next request.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..stores.base import Record


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """The lifetimes in force for one request, in seconds.

    :param permanent: a permanent session's (Flask's
        ``PERMANENT_SESSION_LIFETIME``), from its last request.
    :param idle: a non-permanent session's (``STRONGBOX_IDLE_TIMEOUT``).
    :param absolute: from creation, whatever happens
        (``STRONGBOX_ABSOLUTE_LIFETIME``).
    :param touch_interval: how often a sliding expiry is written at most
        (``STRONGBOX_TOUCH_INTERVAL``).
    """

    permanent: float
    idle: float
    absolute: float
    touch_interval: float

    def ttl(self, permanent: bool) -> float:
        """How long a session lives after a request."""
        return self.permanent if permanent else self.idle

    def throttle(self, permanent: bool) -> float:
        """How far the expiry must move before it is written: the touch
        interval, or a tenth of a short lifetime."""
        return min(self.touch_interval, self.ttl(permanent) / 10)

    def new(self, now: float, created: float, permanent: bool) -> tuple[float, float]:
        """``(expires, absolute_expires)`` of a record written at ``now``."""
        absolute = created + self.absolute
        return min(now + self.ttl(permanent), absolute), absolute

    def absolute_of(self, record: Record) -> float:
        """The record's absolute deadline, under today's lifetime if shorter."""
        capped = record.created + self.absolute
        return record.absolute_expires if record.absolute_expires < capped else capped

    def deadline(self, record: Record, permanent: bool) -> float:
        """When the record dies if nothing touches it again."""
        idle = record.last_seen + (self.permanent if permanent else self.idle)
        return min(record.expires, idle, self.absolute_of(record))

    def slide(self, record: Record, now: float, permanent: bool) -> tuple[bool, float]:
        """Whether a request at ``now`` must write a new expiry (it moved by
        the throttle or more, either way), and the expiry the session then has."""
        ttl = self.permanent if permanent else self.idle
        absolute = self.absolute_of(record)
        expires = now + ttl if now + ttl < absolute else absolute
        throttle = ttl / 10 if ttl / 10 < self.touch_interval else self.touch_interval
        if abs(expires - record.expires) >= throttle:
            return True, expires
        idle = record.last_seen + ttl
        return False, min(record.expires, idle, absolute)
