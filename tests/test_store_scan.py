"""``Store.scan``: the walk over every record that bulk commands rely on.

Runs once per store through conftest's ``store`` fixture (memory, SQLite,
Redis, PostgreSQL); ``test_redis.py`` walks a Cluster's primaries.
"""

from __future__ import annotations

from flask_strongbox.stores.base import Record, Store

from .test_store_contract import NOW, make_record


def walk(store: Store, limit: int) -> list[Record]:
    """Every batch from ``cursor=""`` until the cursor is ``""`` again."""
    found, cursor, steps = [], "", 0
    while True:
        batch, cursor = store.scan(cursor, limit)
        assert len(batch) <= limit * 2, "a batch stays about the size asked for"
        found.extend(batch)
        steps += 1
        assert steps < 10_000, "the walk ends"
        if not cursor:
            return found


def test_scan_of_an_empty_store_ends_at_once(store: Store) -> None:
    assert walk(store, 10) == []


def test_scan_sees_every_record_live_or_expired_with_every_field(store: Store) -> None:
    """Small batches, many records: each record is seen (Redis may repeat
    one), exactly as ``get`` would return it, expired ones included."""
    live = [make_record(user_hash=f"{i % 3}" * 64, sealed_device=b"d") for i in range(23)]
    dead = [make_record(expires=NOW + 1) for _ in range(4)]
    for record in live + dead:
        assert store.create(record)
    seen = {record.key: record for record in walk(store, 5)}
    assert set(seen) == {r.key for r in live + dead}
    assert all(seen[r.key] == r for r in live + dead)
    assert sum(r.is_live(NOW + 10) for r in seen.values()) == len(live)


def test_scan_leaves_out_leases_and_removed_records(store: Store) -> None:
    kept, removed = make_record(), make_record()
    store.create(kept)
    store.create(removed)
    store.delete(removed.key)
    assert store.lock("lease-only", "token", NOW + 10, NOW)
    assert [r.key for r in walk(store, 100)] == [kept.key]
