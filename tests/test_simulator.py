"""The deterministic simulator and the history checker (``reliability/``):
seeded runs of the real engine keep every invariant on every store model, a
deliberately broken engine is caught within a few seeds, runs replay from
their seed, and the checker itself flags the histories it must."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from flask_strongbox.audit import RejectionLog
from flask_strongbox.engine import Context, Engine, Events, LazySession, merge, tombstones
from flask_strongbox.errors import StoreUnavailable
from flask_strongbox.settings import Settings
from flask_strongbox.stores.base import Record
from flask_strongbox.stores.memory import MemoryStore
from reliability.checker import check
from reliability.history import Event, History
from reliability.sim.plan import Plan, Spec
from reliability.sim.run import run_plan, run_seed, shrink, story
from reliability.sim.store import MODELS
from reliability.sim.world import KEYRINGS, LIFETIMES

SEEDS = 300

#: Seeds that found engine bugs, kept as regressions: (store model, seed, the bug). Each fails
#: on the engine before its fix; the tests at the end of this module pin each fix directly.
REGRESSIONS = [
    # A request that emptied the session (showed the last flash message) deleted the record
    # blindly, over a change another request had saved since it loaded: a flash, a setting, an
    # increment answered 200 and lost.
    ("memory", 30, "blind delete"), ("memory", 140, "blind delete"), ("memory", 469, "blind delete"),
    ("memory", 877, "blind delete"), ("sqlite", 2090, "login not kept"),
    # A write under a fallback key tombstoned the old record before its successor existed: a
    # store that timed out in between lost the whole session.
    ("postgres", 276, "tombstone before its successor"), ("postgres", 309, "increment lost"),
    # A move by a request that had run longer than a tombstone lives (a clock jump while it
    # waited) wrote its tombstone already expired: with its answer lost, the session was too.
    ("redis", 97055, "tombstone dead on arrival"),
    # A move whose answer was lost (the store took it, the browser got a 503) left the browser
    # with the old cookie, whose tombstone lived a minute: back after a clock jump of 95 s, it
    # found nothing and the session was lost.
    ("postgres", 34364, "lost move answer"), ("postgres", 87659, "lost move answer"),
    # A page that loaded before a logout or a login slid its expiry after: the touch landed on
    # the old id's tombstone and kept it for the session's lifetime, so the browser, left with
    # that cookie, was told to retry with a new cookie it never got, for an hour or a month.
    ("postgres", 15356, "tombstone kept by a touch"), ("postgres", 20040, "tombstone kept by a touch"),
    ("postgres", 21210, "tombstone kept by a touch"),
    # A read with a moved session's new cookie, dropping the mark, answered with that cookie: late,
    # it took the browser back from the session a login in another tab had just given it.
    ("memory", 79241, "mark drop re-sent the cookie"),
    # Mid-rollout, an emptying save on the new key kept a session under the old key (another
    # request's change merged in) and answered a cookie signed with the new key: it led nowhere.
    ("redis", 47075, "kept session's cookie under the wrong key"),
]

@pytest.mark.parametrize("model", MODELS)
def test_seeded_runs_keep_every_invariant(model: str) -> None:
    """300 seeded runs per store model, with faults: no violation."""
    failures = [run for run in map(lambda seed: run_seed(seed, model), range(SEEDS)) if not run.ok]
    assert not failures, story(shrink(failures[0]))


@pytest.mark.parametrize(("model", "seed", "bug"), REGRESSIONS)
def test_seeds_that_found_engine_bugs_keep_every_invariant(model: str, seed: int, bug: str) -> None:
    run = run_seed(seed, model)
    assert run.ok, story(shrink(run))


def test_a_run_replays_exactly_from_its_seed() -> None:
    first, again = run_seed(17, "redis"), run_seed(17, "redis")
    assert [line[10:] for line in first.log] != []
    assert [e.status for e in first.history.events] == [e.status for e in again.history.events]
    assert first.faults == again.faults
    assert first.history.final == again.history.final


def _first_failing(model: str, limit: int = 200) -> int | None:
    return next((seed for seed in range(limit) if not run_seed(seed, model).ok), None)


@pytest.fixture
def blind_overwrite(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An engine whose lost compare-and-swap overwrites the other request's
    save instead of merging with it."""
    monkeypatch.setattr(merge, "merge", lambda base, ours, theirs, reads: ours)
    monkeypatch.setattr("flask_strongbox.engine.write.merge.merge", lambda base, ours, theirs, reads: ours)
    yield


@pytest.fixture
def no_tombstone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An engine whose rotation leaves the old record alive instead of a
    tombstone."""

    def kept(current: Record, now: float, pointer: bytes, until: Record | None = None) -> Record:
        return replace(current, version=current.version + 1)

    monkeypatch.setattr(tombstones, "tombstone", kept)
    yield


@pytest.mark.usefixtures("blind_overwrite")
def test_a_blind_overwrite_is_caught_within_a_few_seeds() -> None:
    seed = _first_failing("memory")
    assert seed is not None and seed < 200


@pytest.mark.usefixtures("no_tombstone")
def test_a_missing_tombstone_is_caught_within_a_few_seeds() -> None:
    seed = _first_failing("sqlite")
    assert seed is not None and seed < 200


@pytest.fixture
def lasting_tombstones(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An engine whose login and ``regenerate()`` tombstones live an hour,
    not the documented minute: a browser whose login answer was lost keeps
    being told to retry with a cookie it never got."""
    monkeypatch.setattr(tombstones, "TOMBSTONE_SECONDS", 3600.0)
    yield


@pytest.mark.usefixtures("lasting_tombstones")
def test_a_browser_left_stuck_with_503s_is_caught_within_a_few_seeds() -> None:
    seed = _first_failing("memory", limit=300)
    assert seed is not None
    assert any("is stuck" in v for v in run_seed(seed, "memory").violations)


def test_a_failing_run_shrinks_and_tells_its_story(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("flask_strongbox.engine.write.merge.merge", lambda base, ours, theirs, reads: ours)
    seed = _first_failing("memory")
    assert seed is not None
    failing = run_seed(seed, "memory")
    small = shrink(failing)
    assert not small.ok and len(small.plan.specs) <= len(failing.plan.specs)
    told = story(small)
    assert f"seed {seed} on the memory model" in told and "VIOLATION" in told


# -- the checker on hand-made histories --------------------------------------------


def _event(rid: int, op: str, start: float, end: float, **more: Any) -> Event:
    return Event(rid, 0, op, invoked=start, completed=end, **{"status": "ok", **more})


def test_checker_flags_an_acknowledged_change_missing_from_the_final_session() -> None:
    history = History([_event(1, "set", 0, 1, key="lang", value="v1", got="c1")], {0: {}})
    assert [v.invariant for v in check(history).violations] == ["acknowledged change lost"]


def test_checker_allows_either_value_of_two_overlapping_blind_writes() -> None:
    events = [_event(1, "set", 0, 2, key="lang", value="v1", got="c"),
              _event(2, "set", 1, 3, key="lang", value="v2", got="c")]
    assert check(History(events, {0: {"lang": "v1"}})).ok
    assert check(History(events, {0: {"lang": "v2"}})).ok


def test_checker_requires_the_later_of_two_ordered_writes() -> None:
    events = [_event(1, "set", 0, 1, key="lang", value="v1", got="c"),
              _event(2, "set", 2, 3, key="lang", value="v2", got="c")]
    assert not check(History(events, {0: {"lang": "v1"}})).ok


def test_checker_flags_a_value_written_by_a_refused_request() -> None:
    events = [_event(1, "set", 0, 1, key="lang", value="v1", status="conflict")]
    assert [v.invariant for v in check(History(events, {0: {"lang": "v1"}})).violations] == [
        "a 503 changed something"]


def test_checker_flags_data_read_after_an_acknowledged_logout() -> None:
    events = [_event(1, "set", 0, 1, key="lang", value="v1", got="c"),
              _event(2, "logout", 2, 3, sent="c", got=""),
              _event(3, "read", 4, 5, sent="c", seen={"lang": "v1"})]
    assert "session back after logout" in {v.invariant for v in check(History(events, {0: {}})).violations}


def test_checker_lets_a_logout_without_a_cookie_end_nothing() -> None:
    events = [_event(1, "set", 0, 1, key="lang", value="v1", got="c"),
              _event(2, "logout", 2, 3), _event(3, "read", 4, 5, sent="c", seen={"lang": "v1"})]
    assert check(History(events, {0: {"lang": "v1"}})).ok


def test_checker_excuses_what_an_overlapping_logout_removed() -> None:
    events = [_event(1, "set", 0, 3, key="lang", value="v1", got="c"), _event(2, "logout", 1, 2, got="")]
    assert check(History(events, {0: {}})).ok


def test_checker_flags_two_increments_counted_from_one_value() -> None:
    events = [_event(1, "incr", 0, 2, seen={"n": 1}, got="c"),
              _event(2, "incr", 1, 3, seen={"n": 1}, got="c")]
    assert "increment lost" in {v.invariant for v in check(History(events, {0: {"n": 2}})).violations}


def test_checker_counts_a_late_answer_carrying_an_old_cookie_as_stale_not_lost() -> None:
    events = [_event(1, "set", 0, 4, key="lang", value="v1", sent="a", got="a"),
              _event(2, "login", 1, 2, value="bob", sent="a", got="b")]
    report = check(History(events, {0: {}}))
    assert report.stale_cookies == 1 and report.ok


def test_a_plan_without_faults_is_calm() -> None:
    plan = Plan(1, "memory", 1, (Spec(1, 0, "set", "lang", "v1", 0.0, crash=True),), 0.1, frozenset())
    calm = plan.calm()
    assert calm.fault_rate == 0 and not calm.specs[0].crash
    assert run_plan(calm).ok


# -- the engine fixes the simulator led to, pinned directly --------------------------


def _engine() -> tuple[Engine, Context, MemoryStore]:
    store = MemoryStore()
    engine = Engine(Settings(store=store, clock=lambda: 1000.0), store)
    keyring = KEYRINGS[0]
    events = Events(None, keyring, RejectionLog())
    return engine, Context(keyring, LIFETIMES, True, None, events, 1000.0), store


def _open(engine: Engine, ctx: Context, cookie: str | None) -> LazySession:
    verified, _ = engine.open(ctx.keyring, [cookie] if cookie else [])
    if verified is None:
        return LazySession()
    loaded = engine.load(ctx, verified)
    session = LazySession(lambda: loaded, verified.marker)
    assert session.data is not None
    return session


def test_a_login_that_lost_the_race_to_another_login_keeps_only_its_own_changes() -> None:
    """Two tabs log in at once; the one that loses stands alone, without a
    stale copy of what the other tab's page already showed."""
    engine, ctx, _ = _engine()
    first = LazySession()
    first["_flashes"] = ["welcome"]
    cookie = engine.save(ctx, first).cookie
    late, other = _open(engine, ctx, cookie), _open(engine, ctx, cookie)
    other.pop("_flashes")
    other["user"] = "bob"
    engine.save(ctx, other)
    late["user"] = "alice"
    mine = _open(engine, ctx, engine.save(ctx, late).cookie)
    assert dict(mine) == {"user": "alice"}


def test_a_login_racing_a_revocation_does_not_bring_the_revoked_data_back() -> None:
    engine, ctx, store = _engine()
    first = LazySession()
    first["secret"] = "s"
    cookie = engine.save(ctx, first).cookie
    late = _open(engine, ctx, cookie)
    assert late.state is not None
    store.delete(late.state.key)  # revoked while the login runs
    late["user"] = "alice"
    mine = _open(engine, ctx, engine.save(ctx, late).cookie)
    assert dict(mine) == {"user": "alice"}


def test_emptying_a_session_keeps_a_change_saved_meanwhile() -> None:
    engine, ctx, _ = _engine()
    first = LazySession()
    first["_flashes"] = ["welcome"]
    cookie = engine.save(ctx, first).cookie
    shows, counts = _open(engine, ctx, cookie), _open(engine, ctx, cookie)
    counts["n"] = counts.get("n", 0) + 1
    engine.save(ctx, counts)
    shows.pop("_flashes")
    outcome = engine.save(ctx, shows)
    assert not outcome.clear
    assert dict(_open(engine, ctx, cookie)) == {"n": 1}


class _LostAnswer(MemoryStore):
    """Applies the first compare-and-swap, then says the store timed out."""

    failed = False

    def replace(self, record: Record, expected_version: int, now: float) -> bool:
        done = super().replace(record, expected_version, now)
        if not self.failed:
            self.failed = True
            raise StoreUnavailable("memory", "timed out after the write")
        return done


def test_a_move_to_the_current_key_never_leaves_a_tombstone_pointing_nowhere() -> None:
    """A change under a fallback key whose tombstone write timed out after it
    landed: the old cookie still leads to the whole session."""
    store = _LostAnswer()
    engine = Engine(Settings(store=store, clock=lambda: 1000.0), store)
    old, new = KEYRINGS[0], KEYRINGS[2]
    before = Context(old, LIFETIMES, True, None, Events(None, old, RejectionLog()), 1000.0)
    after = replace(before, keyring=new, events=Events(None, new, RejectionLog()))
    first = LazySession()
    first["cart"] = {"a": 1}
    cookie = engine.save(before, first).cookie
    moving = _open(engine, after, cookie)
    moving["lang"] = "de"
    with pytest.raises(StoreUnavailable):
        engine.save(after, moving)
    assert _open(engine, after, cookie).get("cart") == {"a": 1}


def test_an_emptying_save_under_a_fallback_key_answers_a_cookie_that_opens_what_it_kept() -> None:
    """Mid-rollout: a request on the new key empties a session still under
    the old one, while a request on the old key adds to it. The emptying
    save keeps the session with the other change, where it is (under the
    old key), and the cookie it answers must lead there."""
    store = MemoryStore()
    engine = Engine(Settings(store=store, clock=lambda: 1000.0), store)
    steps = [Context(k, LIFETIMES, True, None, Events(None, k, RejectionLog()), 1000.0) for k in KEYRINGS]
    first = LazySession()
    first["lang"] = "de"
    cookie = engine.save(steps[0], first).cookie
    emptying = _open(engine, steps[2], cookie)
    adding = _open(engine, steps[1], cookie)
    adding["theme"] = "dark"
    engine.save(steps[1], adding)
    del emptying["lang"]
    kept = engine.save(steps[2], emptying).cookie
    assert kept is not None
    assert dict(_open(engine, steps[2], kept)) == {"theme": "dark"}


class _RetryingClient(MemoryStore):
    """Sends every create twice, as a client that lost the first answer."""

    def create(self, record: Record) -> bool:
        super().create(record)
        return super().create(record)


def test_a_create_that_the_store_client_retried_is_not_a_collision() -> None:
    store = _RetryingClient()
    engine = Engine(Settings(store=store, clock=lambda: 1000.0), store)
    _, ctx, _ = _engine()
    first = LazySession()
    first["lang"] = "de"
    cookie = engine.save(ctx, first).cookie
    assert dict(_open(engine, ctx, cookie)) == {"lang": "de"}
