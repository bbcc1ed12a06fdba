"""The SQLite store, awaited through a bounded pool of threads."""

from __future__ import annotations

import os
from typing import Any

from ..stores.sqlite import SQLiteStore
from .base import ThreadedStore


class AsyncSQLiteStore(ThreadedStore):
    """A :class:`~flask_strongbox.SQLiteStore` as an async store,
    selected with ``sqlite:///file``. SQLite has no async API: each call runs
    in a worker thread, at most ``max_threads`` at once (with as many pooled
    connections kept idle), so the event loop never waits on the file.

    :param store: the SQLite store to serve.
    :param max_threads: calls in flight at once.

    .. versionadded:: 0.2
    """

    def __init__(self, store: SQLiteStore, *, max_threads: int = 4) -> None:
        super().__init__(store, max_threads=max_threads)

    @classmethod
    def from_url(
        cls, url: str, *, base_dir: str | os.PathLike[str] = ".", max_threads: int = 4, **options: Any,
    ) -> AsyncSQLiteStore:
        """The store for a ``sqlite://`` URL; see ``SQLiteStore.from_url``.
        The file's pool keeps ``max_threads`` idle connections."""
        options.setdefault("pool_size", max_threads)
        return cls(SQLiteStore.from_url(url, base_dir=base_dir, **options), max_threads=max_threads)
