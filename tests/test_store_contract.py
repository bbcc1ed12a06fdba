"""The store contract: every store passes the same suite.

:class:`StoreContract` holds the behaviour every store must have; it is not
collected itself. Each store runs it by subclassing it once and overriding the
``store`` fixture (the way itsdangerous and Django share one suite over many
backends): memory, SQLite, Redis and PostgreSQL here, the Redis Cluster in
``test_redis.py``, every store wrapped in a ``MeteredStore`` in
``test_metered_store.py``. A new store joins with one subclass::

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self) -> Iterator[Store]:
            yield MyStore(...)
"""

from __future__ import annotations

import math
import secrets
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from flask_strongbox.stores.base import Record, Store, StoreStats
from flask_strongbox.stores.memory import MemoryStore
from flask_strongbox.stores.sqlite import SQLiteStore

from .services import postgres_store, redis_store, redis_url

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


def walk(store: Store, limit: int) -> list[Record]:
    """Every batch of ``store.scan`` from ``cursor=""`` until the cursor is ``""`` again."""
    found, cursor, steps = [], "", 0
    while True:
        batch, cursor = store.scan(cursor, limit)
        assert len(batch) <= limit * 2, "a batch stays about the size asked for"
        found.extend(batch)
        steps += 1
        assert steps < 10_000, "the walk ends"
        if not cursor:
            return found


def run_threads(target: object, count: int) -> None:
    workers = [threading.Thread(target=target, args=(i,)) for i in range(count)]  # type: ignore[arg-type]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)


def token() -> str:
    return secrets.token_urlsafe(16)

class StoreContract:
    """What every store does, written once: subclass it and override ``store``."""

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        """The store under test, fresh for each test; every subclass overrides it."""
        pytest.fail(f"{type(self).__name__} must override the store fixture")
        yield  # pragma: no cover - makes this a generator like the overrides

    def test_is_a_store(self, store: Store) -> None:
        """Each store satisfies the runtime-checkable protocol and has a name."""
        assert isinstance(store, Store)
        assert store.name

    def test_get_missing_is_none(self, store: Store) -> None:
        assert store.get(secrets.token_hex(32), NOW) is None

    def test_create_then_get_round_trips_every_field(self, store: Store) -> None:
        record = make_record(blob=bytes(range(256)), user_hash="u" * 64, sealed_device=b"\x00\xffinfo")
        assert store.create(record)
        assert store.get(record.key, NOW) == record

    def test_create_refuses_existing_key_and_keeps_original(self, store: Store) -> None:
        record = make_record()
        assert store.create(record)
        assert not store.create(replace(record, blob=b"other"))
        got = store.get(record.key, NOW)
        assert got is not None and got.blob == b"sealed"

    def test_expired_record_is_not_returned_even_before_purge(self, store: Store) -> None:
        record = make_record(expires=NOW + 10)
        store.create(record)
        assert store.get(record.key, NOW + 9.5) is not None
        assert store.get(record.key, NOW + 10) is None

    def test_replace_with_matching_version_bumps_and_keeps_created(self, store: Store) -> None:
        record = make_record()
        store.create(record)
        newer = replace(record, blob=b"v2", version=2, created=NOW + 99, last_seen=NOW + 5,
                        expires=NOW + 400, user_hash="someone")
        assert store.replace(newer, expected_version=1, now=NOW + 5)
        got = store.get(record.key, NOW + 5)
        assert got == replace(newer, created=NOW)

    def test_replace_with_stale_version_changes_nothing(self, store: Store) -> None:
        record = make_record()
        store.create(record)
        assert store.replace(replace(record, blob=b"v2", version=2), 1, NOW)
        assert not store.replace(replace(record, blob=b"stale", version=2), 1, NOW)
        got = store.get(record.key, NOW)
        assert got is not None and (got.blob, got.version) == (b"v2", 2)

    def test_replace_never_recreates_a_deleted_record(self, store: Store) -> None:
        record = make_record()
        store.create(record)
        assert store.delete(record.key)
        assert not store.replace(replace(record, version=2), 1, NOW)
        assert store.get(record.key, NOW) is None

    def test_replace_of_expired_record_fails(self, store: Store) -> None:
        record = make_record(expires=NOW + 10)
        store.create(record)
        assert not store.replace(replace(record, version=2, expires=NOW + 500), 1, NOW + 11)
        assert store.get(record.key, NOW + 11) is None

    def test_touch_moves_expiry_without_touching_data_or_version(self, store: Store) -> None:
        record = make_record(expires=NOW + 10)
        store.create(record)
        assert store.touch(record.key, expires=NOW + 309, now=NOW + 9)
        got = store.get(record.key, NOW + 100)
        assert got is not None
        assert (got.blob, got.version, got.last_seen, got.expires) == (b"sealed", 1, NOW + 9, NOW + 309)

    def test_touch_of_missing_or_expired_record_creates_nothing(self, store: Store) -> None:
        ghost = secrets.token_hex(32)
        assert not store.touch(ghost, NOW + 300, NOW)
        assert store.get(ghost, NOW) is None
        record = make_record(expires=NOW + 10)
        store.create(record)
        assert not store.touch(record.key, NOW + 320, NOW + 20)
        assert store.get(record.key, NOW + 20) is None

    def test_delete_reports_whether_there_was_a_record(self, store: Store) -> None:
        record = make_record()
        store.create(record)
        assert store.delete(record.key)
        assert not store.delete(record.key)
        assert store.get(record.key, NOW) is None

    def test_sessions_of_lists_live_records_of_one_user_oldest_first(self, store: Store) -> None:
        user, other = secrets.token_hex(32), secrets.token_hex(32)
        newer = make_record(user_hash=user, created=NOW + 2)
        older = make_record(user_hash=user, created=NOW + 1)
        dead = make_record(user_hash=user, created=NOW, expires=NOW + 1)
        for record in (newer, older, dead, make_record(user_hash=other), make_record()):
            store.create(record)
        assert [r.key for r in store.sessions_of(user, NOW + 3)] == [older.key, newer.key]
        assert store.sessions_of(secrets.token_hex(32), NOW) == []

    def test_user_index_follows_replace(self, store: Store) -> None:
        """A record that changes owner (login, logout) moves in the index."""
        alice, bob = secrets.token_hex(32), secrets.token_hex(32)
        record = make_record(user_hash=alice)
        store.create(record)
        store.replace(replace(record, version=2, user_hash=bob), 1, NOW)
        assert store.sessions_of(alice, NOW) == []
        assert [r.key for r in store.sessions_of(bob, NOW)] == [record.key]
        store.replace(replace(record, version=3, user_hash=None), 2, NOW)
        assert store.sessions_of(bob, NOW) == []

    def test_user_index_forgets_deleted_records(self, store: Store) -> None:
        user = secrets.token_hex(32)
        record = make_record(user_hash=user)
        store.create(record)
        store.delete(record.key)
        assert store.sessions_of(user, NOW) == []

    def test_delete_user_removes_all_but_the_kept_one(self, store: Store) -> None:
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

    def test_purge_removes_only_expired_records_in_batches(self, store: Store) -> None:
        dead = [make_record(expires=NOW + 1) for _ in range(7)]
        live = make_record(expires=NOW + 100)
        for record in [*dead, live]:
            store.create(record)
        assert store.stats(NOW + 2).expired >= 7
        assert store.purge(NOW + 2, limit=5) == 5
        assert store.purge(NOW + 2, limit=5) == 2
        assert store.purge(NOW + 2, limit=5) == 0
        assert store.get(live.key, NOW + 2) is not None

    def test_stats_counts_live_and_expired(self, store: Store) -> None:
        for expires in (NOW + 1, NOW + 1, NOW + 100):
            store.create(make_record(expires=expires))
        stats = store.stats(NOW + 2)
        assert (stats.live, stats.expired) == (1, 2)

    def test_store_is_usable_after_close(self, store: Store) -> None:
        record = make_record()
        store.create(record)
        store.close()
        assert store.get(record.key, NOW) == record

    def test_concurrent_creates_of_one_key_have_exactly_one_winner(self, store: Store) -> None:
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

    def test_compare_and_swap_has_exactly_one_winner_per_version(self, store: Store) -> None:
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

    # -- leases ------------------------------------------------------------------------

    def test_lock_takes_a_free_lease_and_refuses_every_other_token(self, store: Store) -> None:
        key, mine = secrets.token_hex(32), token()
        assert store.lock(key, mine, NOW + 10, NOW)
        assert not store.lock(key, token(), NOW + 10, NOW)
        assert not store.lock(key, token(), NOW + 20, NOW + 9.5)
        assert store.lock(secrets.token_hex(32), token(), NOW + 10, NOW), "other keys are not held"

    def test_lock_by_the_holder_renews_the_lease_to_its_new_end(self, store: Store) -> None:
        key, mine = secrets.token_hex(32), token()
        assert store.lock(key, mine, NOW + 10, NOW)
        assert store.lock(key, mine, NOW + 30, NOW + 5)
        assert not store.lock(key, token(), NOW + 40, NOW + 20), "held past its first end"
        assert store.lock(key, mine, NOW + 25, NOW + 21), "a renewal may also shorten it"
        assert store.lock(key, token(), NOW + 40, NOW + 25)

    def test_unlock_releases_the_lease_for_the_next_token(self, store: Store) -> None:
        key, first, second = secrets.token_hex(32), token(), token()
        assert store.lock(key, first, NOW + 10, NOW)
        assert store.unlock(key, first)
        assert not store.unlock(key, first), "released once only"
        assert store.lock(key, second, NOW + 10, NOW)

    def test_a_lease_that_ended_by_now_is_taken_by_another_token(self, store: Store) -> None:
        key, first, second = secrets.token_hex(32), token(), token()
        assert store.lock(key, first, NOW + 10, NOW)
        assert not store.lock(key, second, NOW + 20, NOW + 9.999)
        assert store.lock(key, second, NOW + 20, NOW + 10), "a lease ending at now has ended"
        assert not store.lock(key, first, NOW + 30, NOW + 11), "the old holder is refused now"

    def test_the_old_holder_can_never_release_its_successors_lease(self, store: Store) -> None:
        key, old, new = secrets.token_hex(32), token(), token()
        assert store.lock(key, old, NOW + 10, NOW)
        assert store.lock(key, new, NOW + 40, NOW + 15)
        assert not store.unlock(key, old)
        assert not store.lock(key, token(), NOW + 50, NOW + 20), "the successor still holds it"
        assert store.unlock(key, new)

    def test_unlock_by_a_token_that_never_held_the_lease_fails_and_keeps_it(self, store: Store) -> None:
        key, mine = secrets.token_hex(32), token()
        assert not store.unlock(key, mine), "nothing to release"
        assert store.lock(key, mine, NOW + 10, NOW)
        assert not store.unlock(key, token())
        assert not store.unlock(key, "")
        assert not store.lock(key, token(), NOW + 10, NOW)
        assert store.unlock(key, mine)

    @pytest.mark.parametrize(("until", "now"), [
        (NOW, NOW), (NOW - 1, NOW), (math.inf, NOW), (math.nan, NOW), (NOW + 10, math.nan),
    ])
    def test_a_lease_must_end_at_a_finite_time_after_now(
        self, store: Store, until: float, now: float
    ) -> None:
        key = secrets.token_hex(32)
        with pytest.raises(ValueError, match="after now"):
            store.lock(key, token(), until, now)
        assert store.lock(key, token(), NOW + 10, NOW), "nothing was taken"

    def test_a_lease_and_a_record_under_one_key_leave_each_other_alone(self, store: Store) -> None:
        """A lease may exist without a record (a first write) and the other way
        round; neither changes what the other's methods see."""
        record, holder = make_record(expires=NOW + 100), token()
        assert store.lock(record.key, holder, NOW + 200, NOW)
        assert store.create(record)
        assert store.get(record.key, NOW) == record
        newer = replace(record, version=2, blob=b"v2")
        assert store.replace(newer, 1, NOW + 1)
        assert store.touch(record.key, NOW + 150, NOW + 2)
        assert store.stats(NOW + 2) == StoreStats(live=1, expired=0)
        assert not store.lock(record.key, token(), NOW + 200, NOW + 2)
        assert store.unlock(record.key, holder)
        assert store.get(record.key, NOW + 2) == replace(newer, last_seen=NOW + 2, expires=NOW + 150)
        assert store.lock(record.key, holder, NOW + 200, NOW + 2)
        assert store.delete(record.key)
        assert not store.lock(record.key, token(), NOW + 200, NOW + 3), "delete leaves the lease"
        assert store.purge(NOW + 160) == 0 and store.stats(NOW + 160) == StoreStats(0, 0)
        assert not store.lock(record.key, token(), NOW + 200, NOW + 160), "purge leaves a held lease"
        assert store.unlock(record.key, holder)

    def test_purge_counts_records_only_and_forgets_ended_leases(self, store: Store) -> None:
        held, ended = secrets.token_hex(32), secrets.token_hex(32)
        holder, old = token(), token()
        for record in (make_record(expires=NOW + 1), make_record(expires=NOW + 1)):
            store.create(record)
        assert store.lock(held, holder, NOW + 100, NOW)
        assert store.lock(ended, old, NOW + 5, NOW)
        assert store.purge(NOW + 10) == 2
        assert store.purge(NOW + 10) == 0
        assert not store.lock(held, token(), NOW + 100, NOW + 10)
        assert store.unlock(held, holder)
        if not store.expires_records_itself:  # a TTL store leaves its ended leases to the server
            assert not store.unlock(ended, old), "the ended lease was removed"
        assert store.lock(ended, token(), NOW + 100, NOW + 10)

    def test_threads_racing_for_one_lease_have_exactly_one_winner_per_round(self, store: Store) -> None:
        """Barrier-synchronised takers on one key at one ``now``: one wins; once
        it releases, one of the next round wins."""
        key = secrets.token_hex(32)
        for round_ in range(10):
            barrier, wins = threading.Barrier(8), []
            tokens = [token() for _ in range(8)]

            def attempt(i: int, barrier: threading.Barrier = barrier, tokens: list[str] = tokens) -> None:
                barrier.wait()
                if store.lock(key, tokens[i], NOW + 30, NOW):
                    wins.append(i)

            run_threads(attempt, 8)
            assert len(wins) == 1, f"round {round_}: winners {wins}"
            assert all(not store.unlock(key, t) for i, t in enumerate(tokens) if i != wins[0])
            assert store.unlock(key, tokens[wins[0]])


    # -- scan: the walk over every record -------------------------------------------

    def test_scan_of_an_empty_store_ends_at_once(self, store: Store) -> None:
        assert walk(store, 10) == []

    def test_scan_sees_every_record_live_or_expired_with_every_field(self, store: Store) -> None:
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

    def test_scan_leaves_out_leases_and_removed_records(self, store: Store) -> None:
        kept, removed = make_record(), make_record()
        store.create(kept)
        store.create(removed)
        store.delete(removed.key)
        assert store.lock(secrets.token_hex(32), token(), NOW + 10, NOW)
        assert [r.key for r in walk(store, 100)] == [kept.key]


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> Iterator[Store]:
        yield MemoryStore()


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        store = SQLiteStore(tmp_path / "sessions.sqlite3")
        yield store
        store.close()


class TestRedisStore(StoreContract):
    @pytest.fixture
    def store(self) -> Iterator[Store]:
        yield from redis_store()


class TestRedisStoreWithCache(StoreContract):
    """The Redis store keeping records in memory (``STRONGBOX_REDIS_CACHE``)."""

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        yield from redis_store(cache=1000)


class TestRedisStoreOnValkeyClient(StoreContract):
    """The Redis store given a valkey-py client instead of a redis-py one."""

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        valkey = pytest.importorskip("valkey")
        yield from redis_store(valkey.Valkey.from_url(redis_url()))


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self) -> Iterator[Store]:
        yield from postgres_store()
