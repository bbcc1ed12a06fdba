"""The Redis client-side cache (``STRONGBOX_REDIS_CACHE``, ``cache=``).

A read of a record this process has seen makes no round trip, and a change
made anywhere else (another connection, another process, another app on the
same server) is seen as soon as the server's invalidation arrives, which it
sends as it answers the writer: the tests allow it :data:`PUSH_DELAY` to get
here (``benchmarks/invalidation.py`` measures it: tens of microseconds on
loopback). A change this process makes is seen by its next read. When the
tracking connection is lost, or the server refuses tracking, reads go to the
server. Each test runs on a throwaway ``redis-server`` of its own, so the
server's command counts are this test's alone. (The suites that run per
store run on ``redis-cached`` too: see ``services.STORES``.)
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
import redis
from flask import Flask, session

from flask_strongbox import ConfigurationError, Strongbox
from flask_strongbox import session as strongbox_session
from flask_strongbox.errors import StoreUnavailable
from flask_strongbox.stores.redis import RedisStore
from flask_strongbox.stores.redis_cache import CLIENT_NAME

from .apps import Browser
from .conftest import SECRET
from .services import RedisServer
from .test_store_contract import NOW, make_record

PREFIX = "cache-test:"
#: Longest the tests wait for an invalidation: on a loaded machine the
#: server may be paused between answering the writer and pushing to us.
PUSH_DELAY = 1.0


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as running:
        yield running


def hgetalls(server: RedisServer) -> int:
    """HGETALL commands the server has run."""
    stats = server.client().info("commandstats")
    return int(stats.get("cmdstat_hgetall", {}).get("calls", 0))


def kill_tracking_connection(server: RedisServer) -> None:
    client = server.client()
    for entry in client.client_list():
        if entry.get("name") == CLIENT_NAME:
            client.client_kill_filter(_id=entry["id"])
            return
    raise AssertionError("no tracking connection")


def seen(read: Callable[[], Any], check: Callable[[Any], bool]) -> Any:
    """What ``read`` returns once ``check`` holds for it, within
    :data:`PUSH_DELAY` of the change (a busy loop on the real clock: the
    delay is the network's, not a clock to move by hand)."""
    deadline = time.monotonic() + PUSH_DELAY
    while not check(found := read()):
        assert time.monotonic() < deadline, "the invalidation never arrived"
    return found


def valkey_client(port: int) -> Any:
    valkey = pytest.importorskip("valkey")
    return valkey.Valkey(port=port)


CLIENTS: dict[str, Callable[[int], Any]] = {
    "redis-py": lambda port: redis.Redis(port=port),
    "valkey-py": valkey_client,
}


@pytest.fixture(params=list(CLIENTS))
def cached(request: pytest.FixtureRequest, server: RedisServer) -> RedisStore:
    return RedisStore(CLIENTS[request.param](server.port), prefix=PREFIX, cache=100)


@pytest.fixture
def other(server: RedisServer) -> RedisStore:
    """Another client of the same server, without a cache."""
    return RedisStore(server.client(), prefix=PREFIX)


def test_a_read_of_a_record_seen_before_makes_no_round_trip(
    server: RedisServer, cached: RedisStore, other: RedisStore,
) -> None:
    record = make_record()
    other.create(record)
    assert cached.get(record.key, NOW) == record
    before = hgetalls(server)
    for _ in range(20):
        assert cached.get(record.key, NOW) == record
    assert hgetalls(server) == before


@pytest.mark.parametrize("change", ["replace", "touch", "delete", "revoke user", "flush"])
def test_a_change_made_elsewhere_is_seen_by_the_next_read(
    server: RedisServer, cached: RedisStore, other: RedisStore, change: str,
) -> None:
    user = secrets.token_hex(32)
    record = make_record(user_hash=user)
    other.create(record)
    assert cached.get(record.key, NOW) == record
    if change == "replace":
        assert other.replace(replace(record, version=2, blob=b"changed"), 1, NOW)
    elif change == "touch":
        assert other.touch(record.key, NOW + 200, NOW)
    elif change == "delete":
        assert other.delete(record.key)
    elif change == "revoke user":
        assert other.delete_user(user) == [record.key]
    else:
        server.client().flushdb()
    def read() -> Any:
        return cached.get(record.key, NOW)

    if change == "replace":
        seen(read, lambda found: found is not None and found.version == 2 and found.blob == b"changed")
    elif change == "touch":
        seen(read, lambda found: found is not None and found.expires == NOW + 200)
    else:
        seen(read, lambda found: found is None)


def test_a_change_made_by_another_process_is_seen_by_the_next_read(
    server: RedisServer, cached: RedisStore, other: RedisStore,
) -> None:
    record = make_record()
    other.create(record)
    assert cached.get(record.key, NOW) == record
    script = (
        "import sys, redis; redis.Redis(port=int(sys.argv[1])).delete(sys.argv[2])"
    )
    subprocess.run([sys.executable, "-c", script, str(server.port), f"{PREFIX}s:{record.key}"],
                   check=True, timeout=30)
    # A process started and ended in between: far longer than the push takes.
    assert cached.get(record.key, NOW) is None


def test_a_stale_copy_never_wins_a_compare_and_swap(cached: RedisStore, other: RedisStore) -> None:
    """Writes are swaps against the server, whatever this process holds."""
    record = make_record()
    other.create(record)
    assert cached.get(record.key, NOW) == record
    assert other.replace(replace(record, version=2, blob=b"theirs"), 1, NOW)
    assert not cached.replace(replace(record, version=2, blob=b"ours"), 1, NOW)
    found = cached.get(record.key, NOW)  # the failed swap dropped the stale copy
    assert found is not None and found.blob == b"theirs"


def test_this_process_sees_its_own_writes_at_once(cached: RedisStore) -> None:
    record = make_record()
    cached.create(record)
    assert cached.get(record.key, NOW) == record
    assert cached.replace(replace(record, version=2, blob=b"new"), 1, NOW)
    found = cached.get(record.key, NOW)
    assert found is not None and found.blob == b"new"
    assert cached.delete(record.key)
    assert cached.get(record.key, NOW) is None


def test_reads_go_to_the_server_while_the_tracking_connection_is_lost(
    server: RedisServer, cached: RedisStore, other: RedisStore,
) -> None:
    record = make_record()
    other.create(record)
    assert cached.get(record.key, NOW) == record
    kill_tracking_connection(server)
    assert other.replace(replace(record, version=2, blob=b"while lost"), 1, NOW)
    for _ in range(3):
        before = hgetalls(server)
        found = cached.get(record.key, NOW)
        assert found is not None and found.blob == b"while lost"
        assert hgetalls(server) == before + 1, "a plain read each time"


def test_a_server_that_refuses_tracking_is_read_plainly() -> None:
    with RedisServer("--rename-command", "CLIENT", "") as server:
        store = RedisStore(server.client(), prefix=PREFIX, cache=100)
        other = RedisStore(server.client(), prefix=PREFIX)
        record = make_record()
        other.create(record)
        assert store.get(record.key, NOW) == record
        assert other.replace(replace(record, version=2), 1, NOW)
        found = store.get(record.key, NOW)  # no invalidation to wait for: read from the server
        assert found is not None and found.version == 2


def test_a_server_that_is_down_is_unavailable_not_served_from_memory(
    server: RedisServer, cached: RedisStore, other: RedisStore,
) -> None:
    record = make_record()
    other.create(record)
    assert cached.get(record.key, NOW) == record
    server.kill()
    with pytest.raises(StoreUnavailable):
        cached.get(record.key, NOW)


def test_an_expired_record_is_not_served_from_memory(cached: RedisStore, other: RedisStore) -> None:
    record = make_record(expires=NOW + 10)
    other.create(record)
    assert cached.get(record.key, NOW) == record
    assert cached.get(record.key, NOW + 11) is None


def test_the_cache_holds_at_most_its_size(server: RedisServer, other: RedisStore) -> None:
    store = RedisStore(server.client(), prefix=PREFIX, cache=3)
    records = [make_record() for _ in range(5)]
    for record in records:
        other.create(record)
        assert store.get(record.key, NOW) == record
    before = hgetalls(server)
    assert store.get(records[-1].key, NOW) == records[-1]  # kept
    assert store.get(records[0].key, NOW) == records[0]  # dropped first: read again
    assert hgetalls(server) == before + 1


# -- through the app: two apps are two processes on one server ----------------------


def make_app(server: RedisServer) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, TESTING=True, STRONGBOX_STORE=server.url, STRONGBOX_REDIS_CACHE=100)
    box = Strongbox(app)

    @app.route("/login/<name>")
    def login(name: str) -> str:
        session["user"] = name
        return "ok"

    @app.route("/whoami")
    def whoami() -> str:
        return str(session.get("user"))

    @app.route("/regenerate")
    def regenerate() -> str:
        strongbox_session.regenerate()
        return "ok"

    @app.route("/revoke/<name>")
    def revoke(name: str) -> str:
        return str(box.revoke_user(name))

    return app


@pytest.mark.parametrize("ending", ["revoke", "regenerate"])
def test_a_session_ended_in_one_app_is_ended_at_once_in_another(server: RedisServer, ending: str) -> None:
    first, second = make_app(server), make_app(server)
    alice = Browser(first)
    alice.get("/login/alice")
    elsewhere = Browser(second, alice.cookie)
    assert elsewhere.get("/whoami").get_data(as_text=True) == "alice"
    assert elsewhere.get("/whoami").get_data(as_text=True) == "alice"  # from memory
    if ending == "revoke":
        assert Browser(first).get("/revoke/alice").get_data(as_text=True) == "1"
    else:
        alice.get("/regenerate")  # the old cookie's id is rotated away
    seen(lambda: elsewhere.get("/whoami", follow_cookie=False).get_data(as_text=True),
         lambda who: who == "None")


# -- where the cache does not go ----------------------------------------------------


@pytest.mark.parametrize("url", ["redis+cluster://127.0.0.1:7000", "redis+sentinel://127.0.0.1:26379/main"])
def test_cluster_and_sentinel_refuse_the_cache_at_start_up(url: str) -> None:
    with pytest.raises(ValueError, match="not with Cluster or Sentinel"):
        RedisStore.from_url(url, cache=100)
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, STRONGBOX_STORE=url, STRONGBOX_REDIS_CACHE=100)
    with pytest.raises(ConfigurationError, match="STRONGBOX_REDIS_CACHE"):
        Strongbox(app)


@pytest.mark.parametrize(("config", "message"), [
    ({"STRONGBOX_STORE": "memory://", "STRONGBOX_REDIS_CACHE": 10}, "needs a redis://"),
    ({"STRONGBOX_REDIS_CACHE": -1}, "0 or more"),
    ({"STRONGBOX_REDIS_CACHE": True}, "0 or more"),
])
def test_a_cache_setting_that_cannot_apply_fails_at_start_up(config: dict[str, Any], message: str) -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, **config)
    with pytest.raises(ConfigurationError, match=message):
        Strongbox(app)


def test_a_store_object_takes_its_cache_as_an_argument(server: RedisServer) -> None:
    app = Flask(__name__)
    store = RedisStore(server.client())
    app.config.update(SECRET_KEY=SECRET, STRONGBOX_STORE=store, STRONGBOX_REDIS_CACHE=10)
    with pytest.raises(ConfigurationError, match="cache="):
        Strongbox(app)
