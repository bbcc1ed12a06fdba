"""The Redis store on real servers: Cluster, outages and recovery, eviction, TTLs.

Every server here is a throwaway one started by the test (see ``services.py``),
never the machine's own. The whole store contract runs a second time in this
module, against a three-node Redis Cluster (:class:`TestRedisCluster`).
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from flask_strongbox.errors import StoreUnavailable
from flask_strongbox.stores.base import StoreStats
from flask_strongbox.stores.memory import MemoryStore
from flask_strongbox.stores.redis import RedisStore

from .conftest import DEFAULTS
from .services import RedisServer, free_port, redis_cluster, redis_store
from .test_store_contract import NOW, StoreContract, make_record

T = TypeVar("T")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RedisServer]]:
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as nodes:
        yield nodes


@pytest.fixture
def cluster_store(cluster: list[RedisServer]) -> Iterator[RedisStore]:
    """A store on the module's cluster, with a prefix of its own."""
    store = RedisStore.from_url(
        f"redis+cluster://127.0.0.1:{cluster[0].port}", prefix=f"t{secrets.token_hex(4)}:"
    )
    yield store
    store.close()


class TestRedisCluster(StoreContract):
    """The whole store contract once more, on a three-node Redis Cluster."""

    @pytest.fixture
    def store(self, cluster_store: RedisStore) -> Iterator[RedisStore]:
        yield cluster_store


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def plain(server: RedisServer) -> Iterator[RedisStore]:
    """A store on a throwaway standalone server, with a prefix of its own."""
    store = RedisStore.from_url(server.url, prefix=f"p{secrets.token_hex(4)}:")
    yield store
    store.close()


def test_cluster_spreads_records_over_every_node_and_agrees_with_memory(
    cluster_store: RedisStore, cluster: list[RedisServer]
) -> None:
    """Many keys hit every node's slots; each operation answers exactly as
    MemoryStore does for the same calls."""
    store, model = cluster_store, MemoryStore()
    users = [secrets.token_hex(32) for _ in range(4)]
    records = [make_record(user_hash=users[i % 4], created=NOW + i) for i in range(40)]
    for record in records:
        assert store.create(record) == model.create(record) is True
    holders = [n for n in cluster if any(n.client().scan_iter(match=f"{store.prefix}s:*"))]
    assert len(holders) == 3

    now = NOW + 50
    for i, record in enumerate(records):
        if i % 3 == 0:
            moved = replace(record, version=2, blob=b"v2", user_hash=users[(i + 1) % 4], last_seen=now)
            assert store.replace(moved, 1, now) == model.replace(moved, 1, now) is True
        elif i % 3 == 1:
            assert store.touch(record.key, now + 600, now) == model.touch(
                record.key, now + 600, now) is True
        elif i % 5 == 0:
            assert store.delete(record.key) == model.delete(record.key) is True
    for record in records:
        assert store.get(record.key, now) == model.get(record.key, now)
    for user in users:
        assert store.sessions_of(user, now) == model.sessions_of(user, now)
    keep = store.sessions_of(users[0], now)[0].key
    assert sorted(store.delete_user(users[0], keep)) == sorted(
        model.delete_user(users[0], keep))
    assert store.sessions_of(users[0], now) == model.sessions_of(users[0], now)
    assert store.stats(now + 400) == model.stats(now + 400)


@pytest.mark.slow
def test_a_crashed_cluster_node_is_unavailable_then_recovers(tmp_path: Path) -> None:
    """Keys on a killed node raise StoreUnavailable; once the node is back the
    same store object works again."""
    with redis_cluster(tmp_path) as nodes:
        store = RedisStore.from_url(f"redis+cluster://127.0.0.1:{nodes[0].port}")
        records = [make_record() for _ in range(30)]
        for record in records:
            store.create(record)
        nodes[1].kill()
        with pytest.raises(StoreUnavailable):
            for record in records:
                store.get(record.key, NOW)
        nodes[1].start()
        fresh = make_record()
        assert _eventually(lambda: store.create(fresh), seconds=15)
        found = _eventually(lambda: [store.get(r.key, NOW) for r in [fresh, *records]], 15)
        assert found[0] == fresh
        assert all(got in (r, None) for got, r in zip(found[1:], records))  # the node kept none


def _eventually(call: Callable[[], T], seconds: float) -> T:
    """``call()``'s result once it stops raising StoreUnavailable."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return call()
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_killed_server_is_unavailable_then_the_same_store_recovers(tmp_path: Path) -> None:
    """A crash gives StoreUnavailable naming host and port; after a restart on
    the same port the store works again, and writes acknowledged before the
    crash (fsync'd to the append-only file) are still there."""
    server = RedisServer("--appendonly", "yes", "--appendfsync", "always", "--dir", str(tmp_path))
    with server:
        store = RedisStore.from_url(server.url)
        user = secrets.token_hex(32)
        kept = make_record(user_hash=user)
        assert store.create(kept)
        server.kill()
        for call in (lambda: store.get(kept.key, NOW), lambda: store.create(make_record()),
                     lambda: store.sessions_of(user, NOW)):
            with pytest.raises(StoreUnavailable) as caught:
                call()
            assert f"127.0.0.1:{server.port}" in str(caught.value)
        server.start()
        assert store.get(kept.key, NOW) == kept
        assert store.sessions_of(user, NOW) == [kept]
        assert store.replace(replace(kept, version=2, blob=b"after"), 1, NOW)


def test_flushed_keys_are_simply_gone(plain: RedisStore, server: RedisServer) -> None:
    """After FLUSHALL every operation answers "no such record", none raises."""
    user = secrets.token_hex(32)
    record = make_record(user_hash=user)
    plain.create(record)
    server.client().flushall()
    assert plain.get(record.key, NOW) is None
    assert not plain.replace(replace(record, version=2), 1, NOW)
    assert not plain.touch(record.key, NOW + 300, NOW)
    assert not plain.delete(record.key)
    assert plain.sessions_of(user, NOW) == []
    assert plain.delete_user(user) == []
    assert plain.purge(NOW) == 0
    assert plain.stats(NOW) == StoreStats(live=0, expired=0)


def test_evicted_records_read_as_missing() -> None:
    """Under maxmemory with an evicting policy, records and indexes vanish;
    reads return None or the whole record, never a crash or a torn record."""
    with RedisServer("--maxmemory-policy", "allkeys-random") as server:
        client = server.client()
        client.config_set("maxmemory", client.info("memory")["used_memory"] + 300_000)
        store = RedisStore.from_url(server.url)
        user = secrets.token_hex(32)
        records = [make_record(user_hash=user, blob=secrets.token_bytes(1024)) for _ in range(1000)]
        for record in records:
            store.create(record)
        assert client.info("stats")["evicted_keys"] > 0
        found = [store.get(r.key, NOW) for r in records]
        assert {f for f in found if f is not None} <= set(records)
        assert None in found
        assert set(store.sessions_of(user, NOW)) <= set(records)
        assert store.stats(NOW).live < len(records)


def test_out_of_memory_without_eviction_is_unavailable() -> None:
    with RedisServer("--maxmemory-policy", "noeviction") as server:
        client = server.client()
        client.config_set("maxmemory", client.info("memory")["used_memory"] + 100_000)
        store = RedisStore.from_url(server.url)
        with pytest.raises(StoreUnavailable, match="maxmemory"):
            for _ in range(1000):
                store.create(make_record(blob=secrets.token_bytes(1024)))


def test_records_and_indexes_carry_a_positive_ttl_from_expires(
    plain: RedisStore, server: RedisServer
) -> None:
    """The server's TTL follows ``expires - now`` through create, touch and
    replace; the user index lives at least as long as its records."""
    client = server.client()
    user = secrets.token_hex(32)
    record = make_record(user_hash=user, expires=NOW + 300, absolute=NOW + 3600)
    plain.create(record)
    key, index = f"{plain.prefix}s:{record.key}", f"{plain.prefix}u:{user}"
    assert 299_000 < client.pttl(key) <= 300_000
    assert 3_599_000 < client.pttl(index) <= 3_600_000
    plain.touch(record.key, NOW + 605, NOW + 5)
    assert 599_000 < client.pttl(key) <= 600_000
    plain.replace(replace(record, version=2, expires=NOW + 100), 1, NOW)
    assert 99_000 < client.pttl(key) <= 100_000
    plain.touch(record.key, NOW + 7200, NOW)  # beyond absolute: the index follows
    assert client.pttl(index) > 7_199_000
    for raw in client.scan_iter(match=f"{plain.prefix}*"):
        assert client.pttl(raw) > 0


def test_dead_records_are_never_sent_with_a_non_positive_ttl(
    plain: RedisStore, server: RedisServer
) -> None:
    """Writing a record already expired at ``now`` issues no PEXPIRE at all
    (and so never a zero or negative one): the record is just not there."""
    client = server.client()
    user = secrets.token_hex(32)
    live, touched = make_record(user_hash=user), make_record(user_hash=user)
    plain.create(live)
    plain.create(touched)
    client.config_resetstat()
    dead = make_record(user_hash=user, expires=NOW)
    assert plain.create(dead)
    assert not plain.create(replace(live, expires=NOW))  # the key exists: still refused
    assert plain.replace(replace(live, version=2, expires=NOW - 5), 1, NOW)
    assert plain.touch(touched.key, NOW, NOW)
    assert "cmdstat_pexpire" not in client.info("commandstats")
    for record in (dead, live, touched):
        assert not client.exists(f"{plain.prefix}s:{record.key}")
    assert plain.sessions_of(user, NOW) == []


def test_a_lease_key_carries_a_ttl_of_until_minus_now_and_vanishes_by_itself(
    plain: RedisStore, server: RedisServer
) -> None:
    """A holder that never releases (crashed) leaves nothing behind: the
    server drops the lease key when its TTL runs out, and every take and
    renewal sets that TTL from ``until - now``."""
    client = server.client()
    key = secrets.token_hex(32)
    lease = f"{plain.prefix}l:{key}"
    assert plain.lock(key, "holder", NOW + 60, NOW)
    assert 59_000 < client.pttl(lease) <= 60_000
    assert plain.lock(key, "holder", NOW + 605, NOW + 5)
    assert 599_000 < client.pttl(lease) <= 600_000
    assert plain.lock(key, "holder", NOW + 5.25, NOW + 5)
    assert 150 < client.pttl(lease) <= 250
    deadline = time.monotonic() + 1  # the server's clock: a real wait, well under a second
    while client.exists(lease) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not client.exists(lease)
    assert not plain.unlock(key, "holder")
    assert plain.lock(key, "next", NOW + 60, NOW)


def test_a_lease_ends_at_its_until_by_the_callers_clock_even_without_a_ttl(
    plain: RedisStore, server: RedisServer
) -> None:
    """The end is stored with the token and compared with the caller's
    ``now``, as a record's expiry is; the TTL only lets the server forget it."""
    client = server.client()
    key = secrets.token_hex(32)
    assert plain.lock(key, "holder", NOW + 10, NOW)
    client.persist(f"{plain.prefix}l:{key}")
    assert not plain.lock(key, "next", NOW + 20, NOW + 9)
    assert plain.lock(key, "next", NOW + 20, NOW + 10)
    assert 9_000 < client.pttl(f"{plain.prefix}l:{key}") <= 10_000


def test_purge_drops_index_members_whose_records_are_gone(
    plain: RedisStore, server: RedisServer
) -> None:
    """Records that vanish by TTL or eviction leave index members behind;
    purge removes those and keeps the ones still naming their owner's record."""
    client = server.client()
    alice, bob = secrets.token_hex(32), secrets.token_hex(32)
    gone, moved, kept = (make_record(user_hash=alice) for _ in range(3))
    for record in (gone, moved, kept):
        plain.create(record)
    client.delete(f"{plain.prefix}s:{gone.key}")  # as if it had expired
    plain.replace(replace(moved, version=2, user_hash=bob), 1, NOW)
    assert plain.purge(NOW) == 0
    assert client.zrange(f"{plain.prefix}u:{alice}", 0, -1) == [kept.key.encode()]
    assert client.zrange(f"{plain.prefix}u:{bob}", 0, -1) == [moved.key.encode()]


@pytest.mark.parametrize("url", [
    "redis://:s3cretpw@127.0.0.1:{port}/0",
    "redis://admin:s3cretpw@127.0.0.1:{port}",
    "redis://127.0.0.1:{port}/0?password=s3cretpw",
    "redis+cluster://:s3cretpw@127.0.0.1:{port}",
    "redis+sentinel://:s3cretpw@127.0.0.1:{port}/mymaster/0",
])
def test_unreachable_server_fails_on_first_use_naming_host_not_password(url: str) -> None:
    port = free_port()
    store = RedisStore.from_url(url.format(port=port), timeout=0.5)
    assert "s3cretpw" not in repr(store)
    with pytest.raises(StoreUnavailable) as caught:
        store.get(secrets.token_hex(32), NOW)
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message or f"127.0.0.1', {port}" in message
    assert "s3cretpw" not in message
    assert caught.value.get_response().status_code == 503


def test_stored_values_hold_only_what_the_store_was_given(
    plain: RedisStore, server: RedisServer
) -> None:
    """One hash of the Record's fields under the opaque key, one index entry:
    nothing else reaches the server."""
    client = server.client()
    user = secrets.token_hex(32)
    record = make_record(user_hash=user, blob=b"\x01sealed\xff", sealed_device=b"\x02device")
    plain.create(record)
    assert set(client.scan_iter(match=f"{plain.prefix}*")) == {
        f"{plain.prefix}s:{record.key}".encode(), f"{plain.prefix}u:{user}".encode()}
    assert client.hgetall(f"{plain.prefix}s:{record.key}") == {
        b"blob": record.blob, b"version": b"1", b"created": repr(NOW).encode(),
        b"last_seen": repr(NOW).encode(), b"expires": repr(record.expires).encode(),
        b"absolute_expires": repr(record.absolute_expires).encode(),
        b"user": user.encode(), b"info": record.sealed_device,
    }
    assert client.zrange(f"{plain.prefix}u:{user}", 0, -1) == [record.key.encode()]


def test_a_replica_refusing_writes_is_unavailable(server: RedisServer) -> None:
    """READONLY (a store pointed at a replica, as after a failover) is an outage."""
    with RedisServer("--replicaof", "127.0.0.1", str(server.port)) as replica:
        store = RedisStore.from_url(replica.url)
        with pytest.raises(StoreUnavailable, match="read-only"):
            store.create(make_record())


def test_a_server_still_loading_is_unavailable() -> None:
    """LOADING, shown by a fake server: a real one loads too fast to catch."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        threading.Thread(target=_answer_loading, args=(listener,), daemon=True).start()
        store = RedisStore.from_url(f"redis://127.0.0.1:{listener.getsockname()[1]}")
        with pytest.raises(StoreUnavailable, match="loading"):
            store.get(secrets.token_hex(32), NOW)


def _answer_loading(listener: socket.socket) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return  # the test closed the listener
        with conn:
            while data := conn.recv(65536):
                replies = data.count(b"\r\n*") + 1  # one per command sent
                conn.sendall(b"-LOADING Redis is loading the dataset in memory\r\n" * replies)


def test_a_valkey_client_is_accepted(server: RedisServer) -> None:
    """valkey-py clients work too, and their errors map the same way."""
    valkey = pytest.importorskip("valkey")
    store = RedisStore(valkey.Valkey(port=server.port), prefix=f"v{secrets.token_hex(4)}:")
    record = make_record(user_hash=secrets.token_hex(32))
    assert store.create(record) and store.get(record.key, NOW) == record
    assert store.replace(replace(record, version=2), 1, NOW)
    down = RedisStore(valkey.Valkey(port=free_port(), password="s3cretpw"))
    with pytest.raises(StoreUnavailable) as caught:
        down.get(record.key, NOW)
    assert "s3cretpw" not in str(caught.value)


def test_a_client_decoding_responses_is_refused(server: RedisServer) -> None:
    import redis

    with pytest.raises(ValueError, match="decode_responses"):
        RedisStore(redis.Redis(port=server.port, decode_responses=True))


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:6379", "redis+sentinel://127.0.0.1:26379", "redis+cluster://127.0.0.1/3",
])
def test_from_url_rejects_what_it_cannot_serve(url: str) -> None:
    with pytest.raises(ValueError):
        RedisStore.from_url(url)


def test_from_url_rejects_an_option_it_does_not_take() -> None:
    """It takes ``**options`` as the Store protocol says, but only uses its own."""
    with pytest.raises(ValueError, match="no option 'table'"):
        RedisStore.from_url("redis://127.0.0.1:6379", table="sessions")


def test_repr_names_the_server_but_never_the_password() -> None:
    store = RedisStore.from_url("rediss://user:s3cretpw@cache.example:6380/2?password=s3cretpw")
    assert repr(store) == "<RedisStore rediss://cache.example:6380/2 prefix='strongbox:'>"


def test_a_server_that_never_answers_is_unavailable_within_seconds() -> None:
    """A hung server (the port accepts, nothing replies) fails the request in
    a few socket timeouts, not redis-py's default half minute of retries."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        store = RedisStore.from_url(
            f"redis://127.0.0.1:{listener.getsockname()[1]}", timeout=0.3)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="in time"):
            store.get(secrets.token_hex(32), NOW)
        assert time.monotonic() - started < 3


def test_a_clock_jump_never_crashes_and_expiry_follows_the_clock() -> None:
    """The app's clock jumps back an hour, then forward past the idle
    timeout: requests keep working, writes under the jumped clock get a
    positive TTL, and the session ends when the clock says it has."""
    from flask_strongbox.testing import Clock

    from .test_behaviour import make_app

    for store in redis_store():
        clock = Clock()
        client = make_app(store, clock).test_client()
        assert client.post("/put", json={"user": "alice", "n": 1}).status_code == 200
        hour, idle = timedelta(hours=1), DEFAULTS.idle_timeout
        clock.advance(-hour)
        assert client.get("/get/n").json == {"value": "1"}
        assert client.post("/put", json={"n": 2}).status_code == 200
        clock.advance(hour + idle + timedelta(seconds=1))  # past the idle timeout of the last write
        assert client.get("/get/n").json == {"value": "None"}
        assert client.post("/put", json={"n": 3}).status_code == 200
        assert client.get("/get/n").json == {"value": "3"}


def test_scan_walks_every_primary_of_a_cluster(cluster_store: RedisStore) -> None:
    """On Cluster the cursor moves from primary to primary: every record is
    seen, whichever node its slot is on; a cursor from elsewhere is refused."""
    from .test_store_contract import walk

    records = [make_record() for _ in range(40)]
    for record in records:
        assert cluster_store.create(record)
    assert {r.key for r in walk(cluster_store, 4)} == {r.key for r in records}
    with pytest.raises(ValueError, match="cursor"):
        cluster_store.scan("not-a-cursor", 10)
