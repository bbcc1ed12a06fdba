"""A simulated store: the ``Store`` protocol with each real store's semantics,
on the simulator's clock, with faults injected per call.

=========  ==================================================================
model      semantics
=========  ==================================================================
memory     expired records stay until purged; leases kept apart from records
sqlite     as memory (the SQL stores check expiry against the caller's time,
postgres   keep the user as a column, leases in their own rows)
redis      the server expires records and leases itself, on its own clock,
           after the TTL computed from the caller's time; the per-user index
           is a separate set that may list keys that are gone; never purged
           from requests
=========  ==================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace as _with
from typing import Any

from flask_strongbox.errors import StoreUnavailable
from flask_strongbox.stores.base import Record, StoreStats, check_lease

MODELS = ("memory", "sqlite", "postgres", "redis")
#: The calls that change stored session data (not leases).
WRITES = frozenset({"create", "replace", "touch", "delete", "delete_user"})


@dataclass(slots=True)
class _Entry:
    record: Record
    dies: float = float("inf")  # server time the TTL runs out (redis)


@dataclass(slots=True)
class _Lease:
    token: str
    until: float
    dies: float = float("inf")


class SimStore:
    """One store model (:data:`MODELS`) on the server clock ``server_now``.

    :param model: which real store it behaves like.
    :param server_now: the server's clock (the simulator's true time).
    """

    expires_records_itself = False

    def __init__(self, model: str, server_now: Callable[[], float]) -> None:
        if model not in MODELS:
            raise ValueError(f"unknown store model {model!r}; one of {', '.join(MODELS)}")
        self.name = model
        self.ttl = model == "redis"
        self.expires_records_itself = self.ttl
        self.server_now = server_now
        self.records: dict[str, _Entry] = {}
        self.leases: dict[str, _Lease] = {}
        self.index: dict[str, set[str]] = {}

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SimStore:
        raise ValueError("a simulated store is built by the simulator, never from a URL")

    def init_db(self) -> None:
        """Nothing to create."""

    def close(self) -> None:
        """Nothing to release."""

    # -- the server's own expiry ----------------------------------------------

    def _dies(self, expires: float, now: float) -> float:
        return self.server_now() + (expires - now) if self.ttl else float("inf")

    def _entry(self, key: str) -> _Entry | None:
        entry = self.records.get(key)
        if entry is not None and entry.dies <= self.server_now():
            del self.records[key]  # the server's TTL ran out
            return None
        return entry

    def _lease(self, key: str) -> _Lease | None:
        lease = self.leases.get(key)
        if lease is not None and lease.dies <= self.server_now():
            del self.leases[key]
            return None
        return lease

    def _indexed(self, record: Record) -> None:
        if record.user_hash is not None:
            self.index.setdefault(record.user_hash, set()).add(record.key)

    # -- the protocol ------------------------------------------------------------

    def get(self, key: str, now: float) -> Record | None:
        entry = self._entry(key)
        return entry.record if entry is not None and entry.record.is_live(now) else None

    def create(self, record: Record) -> bool:
        if self._entry(record.key) is not None:
            return False
        dies = self._dies(record.expires, record.last_seen)
        if dies <= self.server_now():
            return True  # dead on arrival: redis writes nothing
        self.records[record.key] = _Entry(record, dies)
        self._indexed(record)
        return True

    def replace(self, record: Record, expected_version: int, now: float) -> bool:
        entry = self._entry(record.key)
        if entry is None or entry.record.version != expected_version or not entry.record.is_live(now):
            return False
        self.records[record.key] = _Entry(_with(record, created=entry.record.created),
                                          self._dies(record.expires, now))
        self._indexed(record)
        return True

    def touch(self, key: str, expires: float, now: float) -> bool:
        entry = self._entry(key)
        if entry is None or not entry.record.is_live(now):
            return False
        self.records[key] = _Entry(_with(entry.record, last_seen=now, expires=expires),
                                   self._dies(expires, now))
        return True

    def delete(self, key: str) -> bool:
        return self.records.pop(key, None) is not None

    def sessions_of(self, user_hash: str, now: float) -> list[Record]:
        keys = self.index.get(user_hash, set()) if self.ttl else set(self.records)
        found = [entry.record for entry in map(self._entry, sorted(keys))
                 if entry is not None and entry.record.user_hash == user_hash and entry.record.is_live(now)]
        return sorted(found, key=lambda r: (r.created, r.key))

    def delete_user(self, user_hash: str, keep: str | None = None) -> list[str]:
        keys = self.index.pop(user_hash, set()) if self.ttl else set(self.records)
        doomed = [k for k in sorted(keys) if k != keep and (entry := self._entry(k)) is not None
                  and entry.record.user_hash == user_hash]
        for key in doomed:
            del self.records[key]
        if self.ttl and keep in keys:
            self.index[user_hash] = {keep} if keep is not None else set()
        return doomed

    def lock(self, key: str, token: str, until: float, now: float) -> bool:
        check_lease(until, now)
        lease = self._lease(key)
        if lease is not None and lease.token != token and lease.until > now:
            return False
        self.leases[key] = _Lease(token, until, self._dies(until, now))
        return True

    def unlock(self, key: str, token: str) -> bool:
        lease = self._lease(key)
        if lease is None or lease.token != token:
            return False
        del self.leases[key]
        return True

    def purge(self, now: float, limit: int = 500) -> int:
        doomed = [k for k, e in self.records.items() if not e.record.is_live(now)][:limit]
        for key in doomed:
            del self.records[key]
        for key in [k for k, lease in self.leases.items() if lease.until <= now][:limit]:
            del self.leases[key]
        return len(doomed)

    def scan(self, cursor: str, limit: int) -> tuple[list[Record], str]:
        """Every record kept (the server's TTL applied), in key order after ``cursor``."""
        keys = sorted(k for k in list(self.records) if self._entry(k) is not None)
        batch = [k for k in keys if k > cursor][:max(limit, 1)]
        found = [self.records[k].record for k in batch]
        return found, batch[-1] if len(batch) == max(limit, 1) else ""

    def stats(self, now: float) -> StoreStats:
        live = sum(1 for e in self.records.values() if e.record.is_live(now))
        return StoreStats(live=live, expired=len(self.records) - live)

    # -- faults ------------------------------------------------------------------

    def call(self, method: str, args: tuple[Any, ...], fault: str | None) -> Any:
        """``self.<method>(*args)`` under ``fault``: ``"drop"`` raises before
        anything happens, ``"timeout"`` after the call took effect, and
        ``"retried"`` makes the call twice (a client such as redis-py that
        retries after a timeout), answering the second."""
        if fault == "drop":
            raise StoreUnavailable(self.name, "connection dropped (simulated)")
        result = getattr(self, method)(*args)
        if fault == "retried":  # the answer was lost and the client sent the call again
            result = getattr(self, method)(*args)
        if fault == "timeout":
            raise StoreUnavailable(self.name, "timed out after the call took effect (simulated)")
        return result

    def forget_lease(self, pick: Callable[[list[str]], str]) -> str | None:
        """Lose one lease, as a restarted or evicting server does; its key."""
        if not self.leases:
            return None
        key = pick(sorted(self.leases))
        del self.leases[key]
        return key
