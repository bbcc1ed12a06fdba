"""When this process last saw each session, so that activity on pages that
never read the session still slides its expiry, at most once per touch
interval per session and process, not on every request."""

from __future__ import annotations

import threading

#: Sessions remembered at most; past it, the oldest half is forgotten (a
#: forgotten session is only looked at again one request early).
MAX_REMEMBERED = 100_000


class ActivityLog:
    """Store keys and when this process last touched or loaded each.

    :param interval: seconds between two looks at one session.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def seen(self, key: str, now: float) -> None:
        """The session under ``key`` was loaded and saved at ``now``."""
        with self._lock:
            self._seen.pop(key, None)  # re-insert: dicts keep insertion order
            self._seen[key] = now
            if len(self._seen) > MAX_REMEMBERED:
                for old in list(self._seen)[: MAX_REMEMBERED // 2]:
                    del self._seen[old]

    def due(self, key: str, now: float) -> bool:
        """Whether the session under ``key`` is due a look at ``now``; if so,
        it counts as seen now, so concurrent requests do not all look."""
        with self._lock:
            last = self._seen.get(key)
            if last is not None and now - last < self.interval:
                return False
        self.seen(key, now)
        return True
