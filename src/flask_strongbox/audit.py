"""Operator log lines: loud, but never a session id, cookie or key.

Rejections (forged or malformed cookies, unreadable blobs) are counted and
reported at most once per interval, so a flood of bad cookies is one line, not
thousands.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

logger = logging.getLogger("flask_strongbox")


class RejectionLog:
    """Aggregates rejections and logs a summary at most once per ``interval``.

    :param interval: seconds between two summary lines.
    """

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._counts: Counter[str] = Counter()
        self._since: float | None = None
        self._lock = threading.Lock()

    def record(self, reason: str, now: float) -> None:
        with self._lock:
            self._counts[reason] += 1
            if self._since is None:
                self._since = now
                self._emit(now)
            elif now - self._since >= self.interval:
                self._emit(now)

    def _emit(self, now: float) -> None:
        total = sum(self._counts.values())
        detail = ", ".join(f"{reason}: {n}" for reason, n in sorted(self._counts.items()))
        logger.warning("rejected %d session cookie(s) or record(s) (%s)", total, detail)
        self._counts.clear()
        self._since = now
