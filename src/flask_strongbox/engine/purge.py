"""Expired records removed in rested batches, off the request path.

A write that finds a purge due wakes one background thread per process; it
removes batches until a batch comes back short (the backlog is gone), resting
after each batch for as long as it took, so live requests get the store at
least half of the time and none of them waits for a purge. A store whose
server expires records by itself (Redis TTL) is never purged from requests;
``flask sessions purge`` still tidies any store.
"""

from __future__ import annotations

import os
import threading
import time

from ..audit import logger
from ..errors import StoreUnavailable
from ..stores.base import Store

#: Longest rest between two batches, in seconds.
MAX_REST = 0.5


def purge_in_batches(store: Store, now: float, batch: int) -> int:
    """Purge until nothing expired is left, resting after each batch for as
    long as it took (at most :data:`MAX_REST`); the number removed."""
    total = 0
    while True:
        started = time.monotonic()
        removed = store.purge(now, batch)
        total += removed
        if removed < batch:
            return total
        time.sleep(min(time.monotonic() - started, MAX_REST))


class Purger:
    """Runs :func:`purge_in_batches` in the background, at most once per
    ``interval`` seconds and one run at a time per process.

    :param store: the store to purge.
    :param interval: seconds between two runs.
    :param batch: records removed per batch.
    """

    def __init__(self, store: Store, interval: float, batch: int) -> None:
        self.store = store
        self.interval = interval
        self.batch = batch
        self._next = 0.0
        self._lock = threading.Lock()
        self._running: threading.Thread | None = None
        self._pid = os.getpid()

    def maybe_start(self, now: float) -> bool:
        """Start a background run if one is due and none is running; whether
        one started. Never blocks the caller on the store."""
        if now < self._next or self.store.expires_records_itself:
            return False
        with self._lock:
            if self._pid != os.getpid():  # a forked worker: the parent's thread is not here
                self._running, self._pid = None, os.getpid()
            if now < self._next or (self._running is not None and self._running.is_alive()):
                return False
            self._next = now + self.interval
            self._running = threading.Thread(
                target=self._run, args=(now,), name="strongbox-purge", daemon=True
            )
            self._running.start()
        return True

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the current run, if any, to finish."""
        running = self._running
        if running is not None:
            running.join(timeout)

    def _run(self, now: float) -> None:
        try:
            removed = purge_in_batches(self.store, now, self.batch)
        except StoreUnavailable as exc:
            logger.warning("purge stopped: %s", exc)
            return
        if removed:
            logger.info("purged %d expired session(s)", removed)
