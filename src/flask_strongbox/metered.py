"""A store that reports how long each call took and whether it failed.

:class:`MeteredStore` wraps any :class:`~flask_strongbox.stores.base.Store`
and is one itself: every call goes to the wrapped store unchanged, timed, and
reported to a :class:`Meter` with its operation (the method's name) and
whether it raised :class:`~flask_strongbox.StoreUnavailable`. It knows
nothing of Prometheus: :mod:`flask_strongbox.metrics` is the meter
``STRONGBOX_METRICS`` installs.

The methods are listed one by one, since a typed wrapper cannot forward
whatever a protocol may gain later; the test suite fails when
:class:`~flask_strongbox.stores.base.Store` has a member this class lacks.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable
from time import perf_counter
from typing import Any, Literal, ParamSpec, Protocol, TypeVar, get_args

from .errors import StoreUnavailable
from .settings import Settings
from .stores import store_from_url
from .stores.base import Record, Store, StoreStats

#: The store calls a meter hears of: the methods of the store protocol.
Operation = Literal[
    "get", "create", "replace", "touch", "delete", "sessions_of", "delete_user", "purge", "scan", "stats",
    "init_db", "close", "lock", "unlock",
]
OPERATIONS: tuple[Operation, ...] = get_args(Operation)

P = ParamSpec("P")
T = TypeVar("T")

# What store_from_url needs that from_url's caller did not give: the settings' defaults.
_DEFAULT_OPTIONS = {"table": Settings.table, "prefix": Settings.key_prefix,
                    "timeout": Settings.store_timeout, "base_dir": "."}


class Meter(Protocol):
    """Hears of every call a :class:`MeteredStore` makes."""

    def observe(self, operation: Operation, seconds: float, failed: bool) -> None:
        """One call of ``operation`` took ``seconds``; ``failed`` if it raised
        :class:`~flask_strongbox.StoreUnavailable`. Called on the request's
        thread: it must be quick and must not raise."""


class MeteredStore:
    """``store``, with each call timed and reported to ``meter``.

    :param store: the store that does the work.
    :param meter: what hears of each call.

    .. versionadded:: 0.2
    """

    def __init__(self, store: Store, meter: Meter) -> None:
        self.store = store
        self.meter = meter
        self.name = store.name
        self.expires_records_itself = store.expires_records_itself

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MeteredStore:
        """The store a ``STRONGBOX_STORE`` URL names, metered by ``meter``.
        ``options`` are those the URL's store takes of ``table``, ``prefix``,
        ``timeout`` and ``base_dir`` (as from ``STRONGBOX_TABLE``,
        ``STRONGBOX_KEY_PREFIX``, ``STRONGBOX_STORE_TIMEOUT`` and the instance
        folder); a missing one takes the setting's default.

        :param options: with ``meter``, the :class:`Meter` that hears of each call.
        :raises TypeError: without ``meter``.
        :raises ConfigurationError: for a URL no store takes.
        """
        meter: Meter | None = options.pop("meter", None)
        if meter is None:
            raise TypeError("MeteredStore.from_url needs meter=, the Meter that hears of each call")
        return cls(store_from_url(url, ChainMap(options, _DEFAULT_OPTIONS)), meter)

    def __repr__(self) -> str:
        return f"MeteredStore({self.store!r})"

    def _call(self, operation: Operation, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        failed = False
        started = perf_counter()
        try:
            return call(*args, **kwargs)
        except StoreUnavailable:
            failed = True
            raise
        finally:
            self.meter.observe(operation, perf_counter() - started, failed)

    def init_db(self) -> None:
        self._call("init_db", self.store.init_db)

    def get(self, key: str, now: float) -> Record | None:
        return self._call("get", self.store.get, key, now)

    def create(self, record: Record) -> bool:
        return self._call("create", self.store.create, record)

    def replace(self, record: Record, expected_version: int, now: float) -> bool:
        return self._call("replace", self.store.replace, record, expected_version, now)

    def touch(self, key: str, expires: float, now: float) -> bool:
        return self._call("touch", self.store.touch, key, expires, now)

    def delete(self, key: str) -> bool:
        return self._call("delete", self.store.delete, key)

    def sessions_of(self, user_hash: str, now: float) -> list[Record]:
        return self._call("sessions_of", self.store.sessions_of, user_hash, now)

    def delete_user(self, user_hash: str, keep: str | None = None) -> list[str]:
        return self._call("delete_user", self.store.delete_user, user_hash, keep)

    def purge(self, now: float, limit: int = 500) -> int:
        return self._call("purge", self.store.purge, now, limit)

    def scan(self, cursor: str, limit: int) -> tuple[list[Record], str]:
        return self._call("scan", self.store.scan, cursor, limit)

    def stats(self, now: float) -> StoreStats:
        return self._call("stats", self.store.stats, now)

    def close(self) -> None:
        self._call("close", self.store.close)

    def lock(self, key: str, token: str, until: float, now: float) -> bool:
        return self._call("lock", self.store.lock, key, token, until, now)

    def unlock(self, key: str, token: str) -> bool:
        return self._call("unlock", self.store.unlock, key, token)
