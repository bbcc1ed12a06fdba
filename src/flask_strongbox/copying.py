"""Copying every live record from one store to another, exactly as stored,
while the app keeps serving from the first: ``flask sessions copy``.

Records are moved as they are: sealed blobs (never opened: the copy needs no
key), versions, times, the per-user index entry and the sealed device hint,
and with them the tombstones, migration markers and import pointers, which
are records too. Leases are not copied: they last seconds.

A record is written to the target only if the target lacks it or holds an
older version of it (:func:`put_exact`), so a pass can be repeated, resumed
from any cursor, or run against a target that already holds part of the data,
and it never overwrites a newer write. Each pass after the first copies only
what changed meanwhile; :meth:`Copier.until_settled` runs passes until one
finds nothing to copy, which is the verification that every record live in the
source at that moment is in the target.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from .stores.base import Record, Store

#: What :func:`put_exact` did with one record.
Put = Literal["created", "updated", "unchanged"]


def put_exact(target: Store, record: Record, now: float) -> Put:
    """Write ``record`` to ``target`` as it is, unless ``target`` holds the
    same or a newer version of it.

    Uses only :meth:`~flask_strongbox.Store.create` and
    :meth:`~flask_strongbox.Store.replace` (whose ``created`` is kept from the
    stored record, which is the same record's). A race with another writer of
    the target is settled by the versions: the higher wins.
    """
    for _ in range(3):
        present = target.get(record.key, now)
        if present is None:
            if target.create(record):
                return "created"
            # A record expired but not purged yet holds the key: clear it.
            if target.get(record.key, now) is None:
                target.delete(record.key)
            continue
        if present.version >= record.version:
            return "unchanged"
        if target.replace(record, present.version, now):
            return "updated"
    return "unchanged"  # another writer kept winning: it wrote a newer version


@dataclass(frozen=True)
class Batch:
    """One batch of a pass: what happened to its records, and the cursor that
    resumes the pass after it (``""``: the pass is complete)."""

    counts: dict[str, int]
    cursor: str


@dataclass(frozen=True)
class CopySummary:
    """What ``flask sessions copy`` did: totals over every pass.

    :param passes: walks made; the last copied nothing (``settled``), unless
        ``max_passes`` ran out first.
    :param copied: records created in the target.
    :param updated: records replaced by a newer version.
    :param unchanged: records the target already held in that version.
    :param expired: records not copied because they had expired.
    :param live_source: live records in the source after the last pass.
    :param settled: the last pass found nothing left to copy.

    .. versionadded:: 0.2
    """

    passes: int
    copied: int
    updated: int
    unchanged: int
    expired: int
    live_source: int
    settled: bool


class Copier:
    """Copies ``source``'s records to ``target``.

    :param clock: Unix seconds; a record is copied if live when read.
    :param limit: records per :meth:`~flask_strongbox.Store.scan` batch.

    .. versionadded:: 0.2
    """

    def __init__(self, source: Store, target: Store, clock: Callable[[], float], limit: int = 200) -> None:
        self.source = source
        self.target = target
        self.clock = clock
        self.limit = limit
        #: The version of each record this copier knows the target holds, so
        #: a later pass asks the target only about records that changed.
        self.known: dict[str, int] = {}

    def _put(self, record: Record, now: float) -> Put:
        if self.known.get(record.key) == record.version:
            return "unchanged"
        done = put_exact(self.target, record, now)
        self.known[record.key] = record.version
        return done

    def walk(self, cursor: str = "") -> Iterator[Batch]:
        """One pass over the source from ``cursor``, copying each record live
        at the moment it is read; a :class:`Batch` after each round trip.
        Counts: ``created``, ``updated``, ``unchanged``, ``expired`` (not copied).

        :raises StoreUnavailable: either store cannot answer; resume from the
            last batch's cursor.
        """
        while True:
            records, cursor = self.source.scan(cursor, self.limit)
            counts: Counter[str] = Counter()
            now = self.clock()
            for record in records:
                counts[self._put(record, now) if record.is_live(now) else "expired"] += 1
            yield Batch(counts, cursor)
            if not cursor:
                return

    def until_settled(
        self, on_batch: Callable[[Batch], None], max_passes: int | None = 5, cursor: str = "",
    ) -> CopySummary:
        """Passes until one copies nothing (or ``max_passes``; ``None``: no
        limit, which follows the source until writes to it stop). The first
        starts at ``cursor`` (resuming a stopped run); later ones start over."""
        totals: Counter[str] = Counter()
        passes, settled = 0, False
        while (max_passes is None or passes < max_passes) and not settled:
            moved = 0
            for batch in self.walk(cursor):
                on_batch(batch)
                totals.update(batch.counts)
                moved += batch.counts.get("created", 0) + batch.counts.get("updated", 0)
            passes, cursor = passes + 1, ""
            settled = moved == 0
        return CopySummary(passes, totals["created"], totals["updated"], totals["unchanged"],
                           totals["expired"], self.source.stats(self.clock()).live, settled)
