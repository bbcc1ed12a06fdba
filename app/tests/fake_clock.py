"""A clock the tests move by hand."""

from __future__ import annotations

import time


class FakeClock:
    """A ``STRONGBOX_CLOCK`` that only moves when told to. It starts at the real
    time so cookie expiry dates stay meaningful to a real browser."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
