"""A deadline for a blocking network call that has no timeout of its own.

psycopg's synchronous connections wait for an answer as long as it takes, and
a server that is stopped (SIGSTOP, a frozen VM) still has its kernel
acknowledge every packet, so neither the server's own timeouts nor TCP
keepalives ever end the wait. One thread per process watches the calls in
progress and shuts down the socket of any that runs past its deadline; the
blocked call then fails at once with a connection error, and the caller
discards the connection.
"""

from __future__ import annotations

import os
import socket
import threading
import time


class Watch:
    """One call being watched for ``seconds``, as a ``with`` block. ``expired``
    is true once its socket was shut down for running past that."""

    __slots__ = ("_watchdog", "deadline", "expired", "fileno", "seconds")

    def __init__(self, watchdog: Watchdog, fileno: int, seconds: float) -> None:
        self._watchdog = watchdog
        self.fileno = fileno
        self.seconds = seconds
        self.deadline = 0.0
        self.expired = False

    def __enter__(self) -> Watch:
        self.deadline = time.monotonic() + self.seconds
        self._watchdog._add(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self._watchdog._remove(self)


class Watchdog:
    """Shuts down the sockets of calls that outlive their deadline.

    The hot path is a lock, a dict insert and a dict delete per call; the
    thread wakes only when the earliest deadline comes, so under steady load it
    wakes about once per timeout, not once per call.
    """

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # Also run in a forked child, where the thread no longer exists.
        self._cond = threading.Condition(threading.Lock())
        self._watches: dict[int, Watch] = {}
        self._wake_at = float("inf")
        self._thread: threading.Thread | None = None

    def watch(self, fileno: int, seconds: float) -> Watch:
        """``with watchdog.watch(fileno, seconds):`` shuts down socket
        ``fileno`` if the block is still running ``seconds`` after it began."""
        return Watch(self, fileno, seconds)

    def _add(self, watch: Watch) -> None:
        with self._cond:
            self._watches[id(watch)] = watch
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="strongbox-watchdog", daemon=True)
                self._thread.start()
            elif watch.deadline < self._wake_at:
                self._cond.notify()

    def _remove(self, watch: Watch) -> None:
        with self._cond:
            del self._watches[id(watch)]

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for watch in self._watches.values():
                    if not watch.expired and watch.deadline <= now:
                        watch.expired = True
                        _shut_down(watch.fileno)
                pending = [w.deadline for w in self._watches.values() if not w.expired]
                self._wake_at = min(pending, default=float("inf"))
                self._cond.wait(None if not pending else self._wake_at - now)


def _shut_down(fileno: int) -> None:
    """End every read and write on the socket, without closing the descriptor
    its owner still holds (closing it under a blocked call could let the
    number be reused by another file)."""
    try:
        sock = socket.socket(fileno=os.dup(fileno))
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()


#: The one watchdog of this process.
watchdog = Watchdog()
