"""The store contract: every store passes the same suite.

The ``store`` fixture (``conftest.py``) runs each test once per store: memory,
SQLite, Redis and PostgreSQL. A new store joins by adding one factory there.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import replace

from flask_strongbox.stores.base import Record, Store

NOW = 1_000_000.0


def make_record(
    key: str | None = None, *, version: int = 1, blob: bytes = b"sealed", user_hash: str | None = None,
    created: float = NOW, expires: float = NOW + 300, absolute: float = NOW + 3600,
    sealed_device: bytes | None = None,
) -> Record:
    return Record(
        key=key or secrets.token_hex(32), blob=blob, version=version, created=created,
        last_seen=created, expires=expires, absolute_expires=absolute, user_hash=user_hash,
        sealed_device=sealed_device,
    )


def test_is_a_store(store: Store) -> None:
    """Each store satisfies the runtime-checkable protocol and has a name."""
    assert isinstance(store, Store)
    assert store.name


def test_get_missing_is_none(store: Store) -> None:
    assert store.get(secrets.token_hex(32), NOW) is None


def test_create_then_get_round_trips_every_field(store: Store) -> None:
    record = make_record(blob=bytes(range(256)), user_hash="u" * 64, sealed_device=b"\x00\xffinfo")
    assert store.create(record)
    assert store.get(record.key, NOW) == record


def test_create_refuses_existing_key_and_keeps_original(store: Store) -> None:
    record = make_record()
    assert store.create(record)
    assert not store.create(replace(record, blob=b"other"))
    got = store.get(record.key, NOW)
    assert got is not None and got.blob == b"sealed"


def test_expired_record_is_not_returned_even_before_purge(store: Store) -> None:
    record = make_record(expires=NOW + 10)
    store.create(record)
    assert store.get(record.key, NOW + 9.5) is not None
    assert store.get(record.key, NOW + 10) is None


def test_replace_with_matching_version_bumps_and_keeps_created(store: Store) -> None:
    record = make_record()
    store.create(record)
    newer = replace(record, blob=b"v2", version=2, created=NOW + 99, last_seen=NOW + 5,
                    expires=NOW + 400, user_hash="someone")
    assert store.replace(newer, expected_version=1, now=NOW + 5)
    got = store.get(record.key, NOW + 5)
    assert got == replace(newer, created=NOW)


def test_replace_with_stale_version_changes_nothing(store: Store) -> None:
    record = make_record()
    store.create(record)
    assert store.replace(replace(record, blob=b"v2", version=2), 1, NOW)
    assert not store.replace(replace(record, blob=b"stale", version=2), 1, NOW)
    got = store.get(record.key, NOW)
    assert got is not None and (got.blob, got.version) == (b"v2", 2)


def test_replace_never_recreates_a_deleted_record(store: Store) -> None:
    record = make_record()
    store.create(record)
    assert store.delete(record.key)
    assert not store.replace(replace(record, version=2), 1, NOW)
    assert store.get(record.key, NOW) is None


def test_replace_of_expired_record_fails(store: Store) -> None:
    record = make_record(expires=NOW + 10)
    store.create(record)
    assert not store.replace(replace(record, version=2, expires=NOW + 500), 1, NOW + 11)
    assert store.get(record.key, NOW + 11) is None


def test_touch_moves_expiry_without_touching_data_or_version(store: Store) -> None:
    record = make_record(expires=NOW + 10)
    store.create(record)
    assert store.touch(record.key, expires=NOW + 309, now=NOW + 9)
    got = store.get(record.key, NOW + 100)
    assert got is not None
    assert (got.blob, got.version, got.last_seen, got.expires) == (b"sealed", 1, NOW + 9, NOW + 309)


def test_touch_of_missing_or_expired_record_creates_nothing(store: Store) -> None:
    ghost = secrets.token_hex(32)
    assert not store.touch(ghost, NOW + 300, NOW)
    assert store.get(ghost, NOW) is None
    record = make_record(expires=NOW + 10)
    store.create(record)
    assert not store.touch(record.key, NOW + 320, NOW + 20)
    assert store.get(record.key, NOW + 20) is None


def test_delete_reports_whether_there_was_a_record(store: Store) -> None:
    record = make_record()
    store.create(record)
    assert store.delete(record.key)
    assert not store.delete(record.key)
    assert store.get(record.key, NOW) is None


def test_sessions_of_lists_live_records_of_one_user_oldest_first(store: Store) -> None:
    user, other = secrets.token_hex(32), secrets.token_hex(32)
    newer = make_record(user_hash=user, created=NOW + 2)
    older = make_record(user_hash=user, created=NOW + 1)
    dead = make_record(user_hash=user, created=NOW, expires=NOW + 1)
    for record in (newer, older, dead, make_record(user_hash=other), make_record()):
        store.create(record)
    assert [r.key for r in store.sessions_of(user, NOW + 3)] == [older.key, newer.key]
    assert store.sessions_of(secrets.token_hex(32), NOW) == []


def test_user_index_follows_replace(store: Store) -> None:
    """A record that changes owner (login, logout) moves in the index."""
    alice, bob = secrets.token_hex(32), secrets.token_hex(32)
    record = make_record(user_hash=alice)
    store.create(record)
    store.replace(replace(record, version=2, user_hash=bob), 1, NOW)
    assert store.sessions_of(alice, NOW) == []
    assert [r.key for r in store.sessions_of(bob, NOW)] == [record.key]
    store.replace(replace(record, version=3, user_hash=None), 2, NOW)
    assert store.sessions_of(bob, NOW) == []


def test_user_index_forgets_deleted_records(store: Store) -> None:
    user = secrets.token_hex(32)
    record = make_record(user_hash=user)
    store.create(record)
    store.delete(record.key)
    assert store.sessions_of(user, NOW) == []


def test_delete_user_removes_all_but_the_kept_one(store: Store) -> None:
    user, other = secrets.token_hex(32), secrets.token_hex(32)
    mine = [make_record(user_hash=user, created=NOW + i) for i in range(3)]
    theirs = make_record(user_hash=other)
    for record in [*mine, theirs]:
        store.create(record)
    removed = store.delete_user(user, keep=mine[1].key)
    assert sorted(removed) == sorted([mine[0].key, mine[2].key])
    assert [r.key for r in store.sessions_of(user, NOW)] == [mine[1].key]
    assert store.get(theirs.key, NOW) is not None
    assert store.delete_user(user) == [mine[1].key]
    assert store.sessions_of(user, NOW) == []


def test_purge_removes_only_expired_records_in_batches(store: Store) -> None:
    dead = [make_record(expires=NOW + 1) for _ in range(7)]
    live = make_record(expires=NOW + 100)
    for record in [*dead, live]:
        store.create(record)
    assert store.stats(NOW + 2).expired >= 7
    assert store.purge(NOW + 2, limit=5) == 5
    assert store.purge(NOW + 2, limit=5) == 2
    assert store.purge(NOW + 2, limit=5) == 0
    assert store.get(live.key, NOW + 2) is not None


def test_stats_counts_live_and_expired(store: Store) -> None:
    for expires in (NOW + 1, NOW + 1, NOW + 100):
        store.create(make_record(expires=expires))
    stats = store.stats(NOW + 2)
    assert (stats.live, stats.expired) == (1, 2)


def test_store_is_usable_after_close(store: Store) -> None:
    record = make_record()
    store.create(record)
    store.close()
    assert store.get(record.key, NOW) == record


def test_concurrent_creates_of_one_key_have_exactly_one_winner(store: Store) -> None:
    key = secrets.token_hex(32)
    threads, barrier, wins = 8, threading.Barrier(8), []

    def attempt(i: int) -> None:
        barrier.wait()
        if store.create(make_record(key, blob=b"blob%d" % i)):
            wins.append(i)

    run_threads(attempt, threads)
    assert len(wins) == 1
    got = store.get(key, NOW)
    assert got is not None and got.blob == b"blob%d" % wins[0]


def test_compare_and_swap_has_exactly_one_winner_per_version(store: Store) -> None:
    """Barrier-synchronised writers racing on one version: one wins each
    round, the record holds the winner's blob whole, never a mix."""
    record = make_record()
    store.create(record)
    for round_ in range(20):
        barrier, wins = threading.Barrier(6), []
        version = round_ + 1

        def attempt(i: int, version: int = version, barrier: threading.Barrier = barrier) -> None:
            mine = replace(record, version=version + 1, blob=(b"%d-" % i) * 500)
            barrier.wait()
            if store.replace(mine, version, NOW):
                wins.append(i)

        run_threads(attempt, 6)
        assert len(wins) == 1, f"round {round_}: winners {wins}"
        got = store.get(record.key, NOW)
        assert got is not None
        assert (got.version, got.blob) == (version + 1, (b"%d-" % wins[0]) * 500)


def run_threads(target: object, count: int) -> None:
    workers = [threading.Thread(target=target, args=(i,)) for i in range(count)]  # type: ignore[arg-type]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
