"""The memory store, awaited: for tests and single-process development."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ..stores.memory import MemoryStore
from .base import ThreadedStore

T = TypeVar("T")


class AsyncMemoryStore(ThreadedStore):
    """A :class:`~flask_strongbox.MemoryStore` as an async store,
    selected with ``memory://``. Its calls never block, so they run on the
    event loop itself rather than in a thread.

    :param store: the memory store to serve; a new one if ``None``.

    .. versionadded:: 0.2
    """

    def __init__(self, store: MemoryStore | None = None) -> None:
        super().__init__(MemoryStore() if store is None else store)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> AsyncMemoryStore:
        """The store for ``memory://``; see ``MemoryStore.from_url``."""
        return cls(MemoryStore.from_url(url, **options))

    async def _call(self, method: Callable[..., T], *args: Any) -> T:
        return method(*args)
