"""When this process last saw each session, so that activity on pages that
never read the session still slides its expiry, at most once per touch
interval per session and process, not on every request."""

from __future__ import annotations

import threading

#: Sessions remembered at most; past it, the first-seen half is forgotten (a
#: forgotten session is only looked at again one request early).
MAX_REMEMBERED = 100_000


class ActivityLog:
    """Sessions, by a marker that is never usable as a cookie (the cookie's
    MAC), and when this process last touched or loaded each.

    :param interval: seconds between two looks at one session.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def seen(self, key: str, now: float) -> None:
        """The session marked ``key`` was loaded and saved at ``now``."""
        # One dict assignment is atomic; the order kept is that of first
        # sight, which is all the forgetting below needs.
        self._seen[key] = now
        if len(self._seen) > MAX_REMEMBERED:
            with self._lock:
                for old in list(self._seen)[: MAX_REMEMBERED // 2]:
                    self._seen.pop(old, None)

    def due(self, key: str, now: float) -> bool:
        """Whether the session marked ``key`` is due a look at ``now``; if so,
        it counts as seen now, so concurrent requests do not all look."""
        with self._lock:
            last = self._seen.get(key)
            if last is not None and now - last < self.interval:
                return False
            self._seen[key] = now
        return True
