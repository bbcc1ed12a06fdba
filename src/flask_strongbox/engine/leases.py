"""Exclusive sessions: a lease per session, so that the requests of one
session run one at a time (``@strongbox.exclusive``).

The lease is taken when the session is first loaded, before it is read, and
released when it is saved or the request ends. A waiting request pauses
between attempts (a few milliseconds, doubling), never spinning; after
``STRONGBOX_EXCLUSIVE_WAIT`` of pauses it gives up with
:class:`~flask_strongbox.SessionBusy`. The lease ends by itself after
``STRONGBOX_EXCLUSIVE_LEASE``, whether its holder crashed or hangs, and a
holder whose lease ended can never release its successor's (the token).
"""

from __future__ import annotations

import secrets

from ..audit import logger
from ..errors import SessionBusy, StoreUnavailable
from ..settings import Settings
from .ops import Call, Pause, Steps
from .state import Loaded

_FIRST_PAUSE = 0.002
_LONGEST_PAUSE = 0.05


def take(state: Loaded, key: str, settings: Settings) -> Steps[None]:
    """Hold the lease on ``key`` for this request (recorded in ``state``).

    :raises SessionBusy: it stayed taken for ``STRONGBOX_EXCLUSIVE_WAIT``.
    """
    if not state.token:
        state.token = secrets.token_urlsafe(16)
    lease = settings.exclusive_lease.total_seconds()
    wait = settings.exclusive_wait.total_seconds()
    waited, pause = 0.0, _FIRST_PAUSE
    while True:
        now = settings.clock()
        if (yield Call("lock", (key, state.token, now + lease, now))):
            state.leases.append(key)
            return
        if waited >= wait:
            busy = SessionBusy(wait)
            busy.retry_after = settings.retry_after
            raise busy
        yield Pause(pause)
        waited += pause
        pause = min(pause * 2, _LONGEST_PAUSE, max(wait - waited, _FIRST_PAUSE))


def release(state: Loaded) -> Steps[None]:
    """Give back every lease ``state`` holds. A store that cannot answer
    now loses nothing: the lease ends by itself."""
    while state.leases:
        key = state.leases.pop()
        try:
            yield Call("unlock", (key, state.token))
        except StoreUnavailable as exc:
            logger.warning("session lease not released (it ends by itself): %s", exc)
