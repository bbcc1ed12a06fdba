"""Test doubles: a clock moved by hand and a spy that counts store calls.

Neither fakes a fault: the clock replaces sleeping, the spy wraps a real store.
"""

from __future__ import annotations

import time
from collections import Counter

from flask_strongbox.stores.base import Store


class FakeClock:
    """A clock the test moves by hand. It starts at the real time so the test
    client, which checks cookie expiry against the real clock, keeps cookies."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingStore:
    """Wraps a real store and counts calls per method: a spy, not a fake."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: Counter[str] = Counter()

    def __getattr__(self, method: str):  # type: ignore[no-untyped-def]
        target = getattr(self.inner, method)
        if not callable(target):
            return target

        def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
            self.calls[method] += 1
            return target(*args, **kwargs)

        return counted

    @property
    def writes(self) -> int:
        return sum(self.calls[m] for m in ("create", "replace", "touch", "delete", "delete_user"))
