"""``MeteredStore``: a store like any other, each call timed and reported.

It has every member of the ``Store`` protocol with the same signature (this
fails when the protocol gains one the wrapper lacks), passes the whole store
contract around every store, and reports ``StoreUnavailable`` from a killed
server as a failed call of that operation.
"""

from __future__ import annotations

import inspect
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from flask_strongbox import ConfigurationError, StoreUnavailable, UnreadableRecord
from flask_strongbox.metered import OPERATIONS, MeteredStore, Operation
from flask_strongbox.stores import MemoryStore, SQLiteStore
from flask_strongbox.stores.base import Store
from flask_strongbox.stores.redis import RedisStore

from .services import STORES, RedisServer, make_store
from .test_store_contract import NOW, StoreContract, make_record


class Calls:
    """A meter that keeps every call it hears of."""

    def __init__(self) -> None:
        self.seen: list[tuple[Operation, float, bool]] = []

    def observe(self, operation: Operation, seconds: float, failed: bool) -> None:
        self.seen.append((operation, seconds, failed))

    def operations(self) -> list[str]:
        return [operation for operation, _, _ in self.seen]


class TestMeteredStore(StoreContract):
    """The whole store contract, on every store of the suite wrapped in a meter."""

    @pytest.fixture(params=STORES)
    def store(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
        meter = Calls()
        for inner in make_store(request.param, tmp_path):
            yield MeteredStore(inner, meter)
        assert all(seconds >= 0 and not failed for _, seconds, failed in meter.seen)


def protocol_members(protocol: type) -> set[str]:
    """The public attributes and methods a protocol declares (its own and its bases')."""
    names: set[str] = set()
    for cls in protocol.__mro__:
        if cls is object or cls.__module__ == "typing":
            continue
        names |= {name for name in vars(cls) if not name.startswith("_")}
        names |= {name for name in getattr(cls, "__annotations__", {}) if not name.startswith("_")}
    return names


def test_the_wrapper_has_every_member_of_the_protocol_with_its_signature() -> None:
    """Fails when ``Store`` gains a method (or changes one) and the wrapper
    was not taught it: a new method must be timed, so it is listed by hand."""
    members = protocol_members(Store)
    assert members >= {"name", "expires_records_itself", "from_url", "init_db", "get", "close"}
    wrapped = MeteredStore(MemoryStore(), Calls())
    missing = {name for name in members if not hasattr(wrapped, name)}
    assert not missing, f"MeteredStore lacks {sorted(missing)} of the Store protocol"
    methods = {name for name in members if callable(getattr(Store, name, None))}
    assert methods - {"from_url"} == set(OPERATIONS), "every store method is an operation the meter hears of"
    for name in methods - {"from_url"}:
        assert inspect.signature(getattr(MeteredStore, name)) == inspect.signature(getattr(Store, name)), name
    assert isinstance(wrapped, Store)


def test_name_and_capabilities_are_the_wrapped_store_s(tmp_path: Path) -> None:
    for inner in (MemoryStore(), SQLiteStore(tmp_path / "s.sqlite3"), RedisStore.from_url("redis://127.0.0.1:1")):
        wrapped = MeteredStore(inner, Calls())
        assert (wrapped.name, wrapped.expires_records_itself) == (inner.name, inner.expires_records_itself)
        assert repr(inner) in repr(wrapped)


def test_each_call_is_forwarded_and_reported_once_with_its_operation() -> None:
    inner, meter = MemoryStore(), Calls()
    store = MeteredStore(inner, meter)
    record = make_record(user_hash="u" * 64, expires=NOW + 10)
    store.init_db()
    assert store.create(record)
    assert store.get(record.key, NOW) == inner.get(record.key, NOW) == record
    assert store.touch(record.key, NOW + 20, NOW)
    assert store.replace(make_record(record.key, version=2, user_hash="u" * 64), 1, NOW)
    assert [r.key for r in store.sessions_of("u" * 64, NOW)] == [record.key]
    assert store.stats(NOW).live == 1
    assert store.purge(NOW + 1000, 10) == 1
    assert not store.delete(record.key)
    assert store.delete_user("u" * 64) == []
    store.close()
    assert meter.operations() == [
        "init_db", "create", "get", "touch", "replace", "sessions_of", "stats", "purge", "delete",
        "delete_user", "close",
    ]
    assert all(0 <= seconds < 1 and not failed for _, seconds, failed in meter.seen)


def test_an_unreadable_record_is_an_answer_not_a_failure(tmp_path: Path) -> None:
    path, meter = tmp_path / "s.sqlite3", Calls()
    store = MeteredStore(SQLiteStore(path), meter)
    bad = make_record()
    store.create(bad)
    with sqlite3.connect(path) as conn:  # what a foreign writer left
        conn.execute("UPDATE strongbox_sessions SET expires = 'never' WHERE key = ?", (bad.key,))
    conn.close()
    with pytest.raises(UnreadableRecord):
        store.get(bad.key, NOW)
    assert [(op, failed) for op, _, failed in meter.seen] == [("create", False), ("get", False)]
    store.close()


def test_a_killed_server_is_a_failed_call_of_that_operation() -> None:
    meter = Calls()
    with RedisServer() as server:
        store = MeteredStore(RedisStore.from_url(server.url, timeout=1.0), meter)
        record = make_record()
        assert store.create(record)
        server.kill()
        with pytest.raises(StoreUnavailable):
            store.get(record.key, NOW)
        with pytest.raises(StoreUnavailable):
            store.delete(record.key)
        store.close()
    assert [(op, failed) for op, _, failed in meter.seen] == [
        ("create", False), ("get", True), ("delete", True), ("close", False),
    ]


def test_from_url_builds_the_store_the_url_names_metered(tmp_path: Path) -> None:
    meter = Calls()
    memory = MeteredStore.from_url("memory://", meter=meter)
    assert isinstance(memory.store, MemoryStore) and memory.meter is meter
    sqlite = MeteredStore.from_url(f"sqlite:///{tmp_path / 'x.sqlite3'}", meter=meter, table="t")
    assert isinstance(sqlite.store, SQLiteStore)
    sqlite.init_db()
    assert (tmp_path / "x.sqlite3").exists()
    with pytest.raises(TypeError, match="meter="):
        MeteredStore.from_url("memory://")
    with pytest.raises(ConfigurationError, match="STRONGBOX_STORE"):
        MeteredStore.from_url("nosuch://", meter=meter)
