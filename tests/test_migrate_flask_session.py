"""Reading Flask-Session 0.8's records with our readers, on every backend.

A real Flask-Session app logs clients in and writes its records; each reader
must give exactly what Flask-Session itself loads, refuse pickle records
without loading them, and find, scan and delete records as the app lays them
out. One contract, run once per backend.
"""

from __future__ import annotations

import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from flask_strongbox.migrate import Loaded, Missing, Refused, take

from .legacy_apps import typed
from .legacy_stores import Legacy
from .legacy_stores import fixture_legacy as fixture_legacy  # a fixture, here for pytest to find

pytestmark = pytest.mark.filterwarnings(
    # Flask-Session 0.8 deprecates SESSION_USE_SIGNER and its filesystem
    # backend, and calls datetime.utcnow(): the very set-ups being migrated.
    "ignore::DeprecationWarning:flask_session.*"
)


class Payload:
    """If a pickle of it is ever loaded, it creates a file: proof of loading
    that does not depend on which pickle entry point was used."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a reader tried to unpickle")

    for name in ("loads", "load", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)


def test_each_client_reads_back_exactly_what_flask_session_loads(legacy: Legacy) -> None:
    cookies = {name: legacy.log_in(name) for name in ("ada", "grace", "linus")}
    before = time.time()
    for name, cookie in cookies.items():
        result = legacy.reader.load(legacy.sid(cookie), time.time())
        assert isinstance(result, Loaded), result
        assert typed(result.data) == typed(legacy.flask_session_loads(cookie))
        assert result.data["user"] == name and result.data["_permanent"] is True
        assert result.expires is not None and before + 3500 < result.expires < time.time() + 3601


def test_types_come_back_as_flask_session_itself_turns_them(legacy: Legacy) -> None:
    data = legacy.reader.load(legacy.sid(legacy.log_in("ada")), time.time())
    assert isinstance(data, Loaded)
    got = data.data
    # msgpack and JSON have no tuples: Flask-Session loads lists.
    assert typed(got["tuple"]) == typed([1, "a", [2.5, None]])
    if "bytes" in legacy.data:  # the msgpack backends
        assert typed(got["bytes"]) == typed(b"\x00\xffraw")
        assert typed(got["uuid"]) == typed("6f9f3f8e-3c0a-4a5e-9b7e-0c6a2d1f4b11")
        assert typed(got["naive"]) == typed("2024-05-06T07:08:09.123456")
        assert typed(got["aware"]) == typed(datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc))
        assert got["big"] == 2**63


def test_unknown_sid_is_missing(legacy: Legacy) -> None:
    assert legacy.reader.load("no-such-session-id", time.time()) == Missing()


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_records_are_refused_and_never_loaded(
    legacy: Legacy, tmp_path: Path, protocol: int, no_unpickling: None,
) -> None:
    marker = tmp_path / "unpickled"
    # The hostile input an older Flask-Session would have stored: built here
    # with pickle.dumps, and loaded by nobody.
    legacy.plant("old-pickled-session", pickle.dumps({"user": "mallory", "x": Payload(marker)}, protocol))

    result = legacy.reader.load("old-pickled-session", time.time())
    assert isinstance(result, Refused) and result.kind == "pickle"
    assert "pickle" in result.reason and "mallory" not in result.reason
    scanned = [record.result for batch in legacy.reader.scan(time.time()) for record in batch]
    assert scanned == [result]  # still there, still refused
    assert not marker.exists()


def test_malformed_and_unstorable_records_are_refused(legacy: Legacy) -> None:
    deep: Any = "bottom"
    for _ in range(100):
        deep = [deep]
    planted = {
        "garbage": (b"\xc1\xff not msgpack, not json", "malformed"),
        "a-list": (legacy.encode([1, 2, 3]), "malformed"),
        "too-deep": (legacy.encode({"user": "ada", "deep": deep}), "unstorable"),
    }
    for sid, (raw, _) in planted.items():
        legacy.plant(sid, raw)
    for sid, (_, kind) in planted.items():
        result = legacy.reader.load(sid, time.time())
        assert isinstance(result, Refused) and result.kind == kind, (sid, result)


def test_expired_record_is_missing(legacy: Legacy) -> None:
    sid = legacy.sid(legacy.log_in("ada"))
    assert isinstance(legacy.reader.load(sid, time.time()), Loaded)
    assert isinstance(legacy.reader.load(sid, legacy.expire(sid)), Missing)


def test_delete_ends_the_session_for_flask_session_too(legacy: Legacy) -> None:
    cookie = legacy.log_in("ada")
    assert legacy.reader.delete(legacy.sid(cookie)) is True
    assert legacy.reader.load(legacy.sid(cookie), time.time()) == Missing()
    assert "user" not in legacy.flask_session_loads(cookie)
    assert legacy.reader.delete(legacy.sid(cookie)) is False  # deleting again is no error


def test_of_concurrent_takes_of_one_record_exactly_one_gets_it(legacy: Legacy) -> None:
    cookie = legacy.log_in("ada")
    sid = legacy.sid(cookie)
    loaded = threading.Barrier(6)

    class LoadsTogether:
        """The real reader, but every take has loaded before any deletes:
        the race, every time."""

        def load(self, sid: str, now: float) -> object:
            result = legacy.reader.load(sid, now)
            loaded.wait(10)
            return result

        def delete(self, sid: str) -> bool:
            return legacy.reader.delete(sid)

    reader: Any = LoadsTogether()
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: take(reader, sid, time.time()), range(6)))
    winners = [r for r in results if isinstance(r, Loaded)]
    assert len(winners) == 1 and winners[0].data["user"] == "ada"
    assert all(r == Missing() for r in results if r is not winners[0])
    assert "user" not in legacy.flask_session_loads(cookie)  # gone for Flask-Session too


def test_take_leaves_a_refused_record_in_place(legacy: Legacy) -> None:
    legacy.plant("unreadable", b"\xc1 garbage")
    first = take(legacy.reader, "unreadable", time.time())
    assert isinstance(first, Refused)
    assert take(legacy.reader, "unreadable", time.time()) == first


def test_scan_yields_every_record_in_batches(legacy: Legacy) -> None:
    names = [f"user{i}" for i in range(7)]
    sids = {legacy.sid(legacy.log_in(name)): name for name in names}
    if legacy.filters_prefix:  # another app sharing the store: not ours to move
        legacy.plant("someone-else", legacy.encode({"user": "eve"}), prefix="another-app:")
    batches = list(legacy.reader.scan(time.time(), batch_size=3))

    assert [len(batch) for batch in batches] == [3, 3, 1]
    found = {record.key: record.result for batch in batches for record in batch}
    wanted = {legacy.reader.record_key(sid): name for sid, name in sids.items()}
    assert set(found) == set(wanted)
    for key, name in wanted.items():
        result = found[key]
        assert isinstance(result, Loaded) and result.data["user"] == name
    for key in found:
        legacy.reader.delete_record(key)
    assert not list(legacy.reader.scan(time.time()))
