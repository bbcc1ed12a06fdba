"""A store in this process's memory: for tests and single-process development.

Records vanish when the process ends and are not shared between processes.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import replace as _with
from typing import Any

from .base import Record, StoreStats, check_lease


class MemoryStore:
    """Keeps records, and leases apart from them, in dicts behind a lock;
    selected with ``memory://``."""

    name = "memory"
    #: Expired records stay until purged: the session layer purges as it writes.
    expires_records_itself = False

    def __init__(self) -> None:
        self._records: dict[str, Record] = {}
        self._leases: dict[str, tuple[str, float]] = {}  # key: (token, until)
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MemoryStore:
        """The store for ``memory://``; it takes no options.

        :raises ValueError: for any other URL or an option.
        """
        if url != "memory://" or options:
            raise ValueError("a memory store's URL is just memory://, with no options")
        return cls()

    def __repr__(self) -> str:
        return f"<MemoryStore records={len(self._records)}>"

    def init_db(self) -> None:
        """Nothing to create."""

    def get(self, key: str, now: float) -> Record | None:
        record = self._records.get(key)
        return record if record is not None and record.is_live(now) else None

    def create(self, record: Record) -> bool:
        with self._lock:
            if record.key in self._records:
                return False
            self._records[record.key] = record
            return True

    def replace(self, record: Record, expected_version: int, now: float) -> bool:
        with self._lock:
            current = self._records.get(record.key)
            if current is None or current.version != expected_version or not current.is_live(now):
                return False
            self._records[record.key] = _with(record, created=current.created)
            return True

    def touch(self, key: str, expires: float, now: float) -> bool:
        with self._lock:
            current = self._records.get(key)
            if current is None or not current.is_live(now):
                return False
            self._records[key] = _with(current, last_seen=now, expires=expires)
            return True

    def delete(self, key: str) -> bool:
        with self._lock:
            return self._records.pop(key, None) is not None

    def sessions_of(self, user_hash: str, now: float) -> list[Record]:
        with self._lock:
            found = [r for r in self._records.values() if r.user_hash == user_hash and r.is_live(now)]
        return sorted(found, key=lambda r: (r.created, r.key))

    def delete_user(self, user_hash: str, keep: str | None = None) -> list[str]:
        with self._lock:
            doomed = [k for k, r in self._records.items() if r.user_hash == user_hash and k != keep]
            for key in doomed:
                del self._records[key]
        return doomed

    def lock(self, key: str, token: str, until: float, now: float) -> bool:
        check_lease(until, now)
        with self._lock:
            lease = self._leases.get(key)
            if lease is not None and lease[0] != token and lease[1] > now:
                return False
            self._leases[key] = (token, until)
            return True

    def unlock(self, key: str, token: str) -> bool:
        with self._lock:
            lease = self._leases.get(key)
            if lease is None or lease[0] != token:
                return False
            del self._leases[key]
            return True

    def purge(self, now: float, limit: int = 500) -> int:
        """Remove up to ``limit`` expired records, and up to ``limit`` ended
        leases; the number of records removed."""
        with self._lock:
            doomed = [k for k, r in self._records.items() if not r.is_live(now)][:limit]
            for key in doomed:
                del self._records[key]
            ended = [k for k, (_, until) in self._leases.items() if until <= now][:limit]
            for key in ended:
                del self._leases[key]
        return len(doomed)

    def scan(self, cursor: str, limit: int) -> tuple[list[Record], str]:
        """Records in key order, after the key ``cursor`` names."""
        with self._lock:
            keys = sorted(self._records)
            batch = keys[bisect.bisect_right(keys, cursor):][:max(limit, 1)]
            found = [self._records[key] for key in batch]
        return found, batch[-1] if len(batch) == max(limit, 1) else ""

    def stats(self, now: float) -> StoreStats:
        with self._lock:
            live = sum(1 for r in self._records.values() if r.is_live(now))
            return StoreStats(live=live, expired=len(self._records) - live)

    def close(self) -> None:
        """Nothing to release; records are kept."""
