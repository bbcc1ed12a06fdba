"""Test doubles: a spy that counts store calls (it wraps a real store, it
fakes no fault). The clock moved by hand is the test kit's
:class:`flask_strongbox.testing.Clock`, also importable here as ``FakeClock``."""

from __future__ import annotations

from collections import Counter

from flask_strongbox.stores.base import Store
from flask_strongbox.testing import Clock as FakeClock  # noqa: F401 - the name tests used before


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
