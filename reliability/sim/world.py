"""The simulated world of one run: a clock, a store, browsers with cookie
jars, and the real engine, driven one store call at a time.

Every request is a task; at each :class:`~flask_strongbox.engine.ops.Call`
or :class:`~flask_strongbox.engine.ops.Pause` the engine yields, the task
yields to the scheduler, and the scheduler picks (by the run's seed) which
task goes on. Time moves by a tick per step, by pauses, by slow calls and by
clock jumps; it never moves by itself, so a run replays exactly.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from flask_strongbox import users
from flask_strongbox.audit import RejectionLog
from flask_strongbox.engine import Context, Engine, Events, LazySession, Lifetimes, tombstones
from flask_strongbox.engine.ops import Pause, Steps
from flask_strongbox.engine.purge import Purger
from flask_strongbox.errors import StoreUnavailable
from flask_strongbox.ids import store_key
from flask_strongbox.keys import Keyring
from flask_strongbox.settings import Settings

from ..history import Event, History
from .plan import PAGES, Plan, Spec
from .store import WRITES, SimStore
from .views import VIEWS

T = TypeVar("T")
#: A task yields how long it waits (seconds) before its next step.
Task = Generator[float, None, T]

TICK = 0.0002
START = 1_800_000_000.0
_DAY = 86400.0
LIFETIMES = Lifetimes(permanent=31 * _DAY, idle=3600.0, absolute=31 * _DAY, touch_interval=60.0)
#: How long after the final reads each browser makes one more change: past
#: the minute a login's or ``regenerate()``'s tombstone is documented to live.
SETTLED = 61.0
#: The app's keys before, during and after the run's key rotation (derived
#: once), rolled out in the two steps the docs give for more than one
#: process: the new key first as a fallback everywhere, then made the
#: current key with the old one as a fallback. Requests run across each step;
#: the second waits only until no request started before the first is left
#: (every process has the new key before any signs with it).
_SECRETS = ("simulated-secret-key-0-" + "x" * 40, "simulated-secret-key-1-" + "y" * 40)
KEYRINGS = (Keyring(_SECRETS[0]), Keyring(_SECRETS[0], [_SECRETS[1]]), Keyring(_SECRETS[1], [_SECRETS[0]]))


#: Faults of one store call: their kind, and what the story says. ``retried``
#: (a client that sends a call again after losing its answer) is not drawn:
#: no store of Strongbox's does so since the Redis store stopped retrying.
_FAULTS = {
    "drop": ("connection dropped", "connection dropped"),
    "timeout": ("timed out", "timed out after it took effect"),
    "retried": ("retried by the client", "took effect, answer lost, sent again by the client"),
}


class _SimPurger(Purger):
    """The engine's purge, run as a task of the world instead of a thread."""

    def __init__(self, world: World) -> None:
        super().__init__(world.store, 60.0, 200)
        self.world = world

    def maybe_start(self, now: float) -> bool:
        if now < self._next or self.store.expires_records_itself:
            return False
        self._next = now + self.interval
        self.world.spawn(self.world.purge(now, "the engine's background purge"), 0.0)
        return True


@dataclass(slots=True)
class _Waiting:
    task: Task[None]
    wake: float
    started: bool = False


class World:
    """One run of ``plan``, scheduled by ``rng``."""

    def __init__(self, plan: Plan, rng: random.Random) -> None:
        self.plan = plan
        self.rng = rng
        self.now = START
        self.store = SimStore(plan.model, self.clock)
        self.settings = Settings(
            store=self.store, clock=self.clock, exclusive_wait=timedelta(seconds=0.1),
            exclusive_lease=timedelta(seconds=0.3), idle_timeout=timedelta(hours=1),
        )
        self.engine = Engine(self.settings, self.store)
        self.engine.purger = self.engine.writer.purger = _SimPurger(self)
        self.keyring = KEYRINGS[0]
        self.events = {id(k): Events(None, k, RejectionLog()) for k in KEYRINGS}
        self.jars: dict[int, str | None] = dict.fromkeys(range(plan.browsers))
        self.history = History()
        self.log: list[str] = []
        self.faults: list[str] = []
        self.errors: list[str] = []
        self.fault_rate = plan.fault_rate
        self._tasks: list[_Waiting] = []
        self._applied: set[int] = set()
        #: Requests between their start and their answer, by the keys they run with.
        self.running: dict[int, int] = {id(k): 0 for k in KEYRINGS}

    def clock(self) -> float:
        return self.now

    def note(self, rid: int, text: str) -> None:
        self.log.append(f"{self.now - START:9.4f}s  #{rid:<3} {text}")

    def fault(self, rid: int, kind: str, text: str) -> None:
        self.faults.append(kind)
        self.note(rid, f"FAULT {text}")

    # -- the scheduler -----------------------------------------------------------

    def spawn(self, task: Task[None], at: float) -> None:
        self._tasks.append(_Waiting(task, START + at if at else self.now))

    def run(self) -> None:
        """Run every task to its end, interleaved by the seed."""
        tasks = self._tasks
        while tasks:
            now = self.now
            ready = [t for t in tasks if t.wake <= now]
            if not ready:
                self.now = min(t.wake for t in tasks)
                continue
            waiting = ready[self.rng.randrange(len(ready))] if len(ready) > 1 else ready[0]
            self.now += TICK
            try:
                pause = next(waiting.task)
            except StopIteration:
                tasks.remove(waiting)
                continue
            waiting.wake = self.now + pause

    def drive(self, event: Event, steps: Steps[T]) -> Task[T]:
        """Run the engine's ``steps`` as this task's, one call per scheduler
        step, with this run's faults."""
        result: Any = None
        error: BaseException | None = None
        while True:
            try:
                op = steps.send(result) if error is None else steps.throw(error)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            result, error = None, None
            if isinstance(op, Pause):
                yield op.seconds
                continue
            fault = self._draw_fault()
            if fault == "slow":
                delay = self.rng.uniform(0.05, 0.5)
                self.fault(event.rid, "slow store", f"{op.method} slow: {delay:.3f}s")
                event.faults.append("slow")
                yield delay
            else:
                yield 0.0
            if fault in _FAULTS:
                kind, what = _FAULTS[fault]
                self.fault(event.rid, kind, f"{op.method}: {what}")
                event.faults.append(fault)
            try:
                result = self.store.call(op.method, op.args, None if fault == "slow" else fault)
            except Exception as exc:
                error = exc
            if op.method in WRITES and (fault in ("timeout", "retried") or (error is None and result)):
                self._applied.add(event.rid)
            self.note(event.rid, f"{op.method} -> {_shown(result, error)}")

    def _draw_fault(self) -> str | None:
        if not self.fault_rate or self.rng.random() >= self.fault_rate:
            return None
        return self.rng.choice(("drop", "timeout", "slow"))

    # -- requests ----------------------------------------------------------------

    def request(self, spec: Spec) -> Task[None]:
        """One page of ``spec.browser``: load, the view, save; the cookie jar
        takes what the answer sets."""
        yield 0.0
        keys = id(self.keyring)
        self.running[keys] += 1
        try:
            yield from self._request(spec)
        finally:
            self.running[keys] -= 1

    def _request(self, spec: Spec) -> Task[None]:
        event = Event(spec.index, spec.browser, spec.op, spec.key, spec.value, invoked=self.now)
        self.history.events.append(event)
        event.sent = self.jars[spec.browser]
        keyring = self.keyring
        ctx = Context(keyring, LIFETIMES, True, None, self.events[id(keyring)], self.now, spec.exclusive)
        alone = " (exclusive)" if spec.exclusive else ""
        self.note(spec.index, f"browser {spec.browser} {event.describe()}{alone}")
        try:
            session = yield from self.open(ctx, event)
            seen = copy.deepcopy(session.data)
            if spec.crash:
                self.fault(spec.index, "crash", "the worker crashed between load and save")
                event.faults.append("crash")
                event.completed, event.status = self.now, "unknown"
                return
            VIEWS[spec.op](session, spec, spec.browser in self.plan.permanent)
            outcome = yield from self.drive(event, self.engine.save_steps(ctx, session))
        except StoreUnavailable as exc:
            event.completed, event.detail = self.now, str(exc)
            event.status = "unknown" if spec.index in self._applied else "conflict"
            self.note(spec.index, f"answered 503 ({event.status}): {exc}")
            return
        except Exception as exc:
            event.completed, event.detail = self.now, repr(exc)
            self.errors.append(f"request {spec.index} ({event.describe()}): the engine raised {exc!r}")
            self.note(spec.index, f"answered 500: {exc!r}")
            return
        event.completed, event.status, event.seen = self.now, "ok", seen
        event.got = outcome.cookie if outcome.cookie is not None else ("" if outcome.clear else None)
        if event.got is not None:
            self.jars[spec.browser] = event.got or None
        self.note(spec.index, f"answered 200, saw {seen!r}, cookie {_cookie(event.got)}")

    def open(self, ctx: Context, event: Event) -> Task[LazySession]:
        cookie = event.sent
        verified, _ = self.engine.open(ctx.keyring, [] if cookie is None else [cookie])
        if verified is None:
            return LazySession()
        loaded = yield from self.drive(event, self.engine.load_steps(ctx, verified))
        session = LazySession(lambda: loaded, verified.marker)
        session.data  # noqa: B018 - the load, done
        return session

    # -- the operator and the world ------------------------------------------------

    def action(self, spec: Spec) -> Task[None]:
        yield 0.0
        event = Event(spec.index, spec.browser, spec.op, spec.key, spec.value, invoked=self.now)
        did = ACTIONS[spec.op](self, spec)
        if did is None:
            return
        self.note(spec.index, did)
        if spec.op == "rotate_key":
            while self.running[id(KEYRINGS[0])]:
                yield 0.001  # every process has the new key before any signs with it
            self.keyring = KEYRINGS[2]
            self.note(spec.index, "SECRET_KEY rotated, step 2: the new key current, the old one a fallback")
        if spec.op in ("revoke", "revoke_user", "expire", "rotate_key"):
            event.completed, event.status = self.now, "ok"
            self.history.events.append(event)

    def purge(self, now: float, why: str) -> Task[None]:
        yield 0.0
        removed = self.store.purge(now, 200)
        self.note(0, f"{why}: {removed} removed")

    def schedule(self) -> None:
        for spec in self.plan.specs:
            self.spawn(self.request(spec) if spec.op in PAGES else self.action(spec), spec.at)

    def final_reads(self) -> None:
        """Each browser's session once everything settled, fault-free; then,
        a minute on (every tombstone of a login or ``regenerate()`` gone),
        its next change, which must be answered 2xx: a browser is never left
        with a cookie that only earns 503s (one told to retry with a new
        cookie it never got)."""
        self.fault_rate = 0.0
        for browser in range(self.plan.browsers):
            final = self._alone(Spec(10_000 + browser, browser, "read", None, None, 0.0))
            self.history.final[browser] = final.seen if final.seen is not None else {}
        self.now += SETTLED
        for browser in range(self.plan.browsers):
            after = self._alone(Spec(20_000 + browser, browser, "set", "later", "v", 0.0))
            if after.status != "ok":
                self.errors.append(f"browser {browser} is stuck: a change a minute after everything "
                                   f"settled was answered 503: {after.detail}")

    def _alone(self, spec: Spec) -> Event:
        """``spec``'s request, run with nothing else running; its event,
        kept out of the history."""
        self.spawn(self.request(spec), 0.0)
        self.run()
        return self.history.events.pop()


def _revoke(world: World, spec: Spec) -> str | None:
    cookie = world.jars[spec.browser]
    verified, _ = world.engine.open(world.keyring, [cookie] if cookie else [])
    if verified is None:
        return None
    gone = world.store.delete(store_key(verified.keyset, verified.sid))
    return f"operator revokes browser {spec.browser}'s session -> {gone}"


def _revoke_user(world: World, spec: Spec) -> str:
    removed = users.delete_user(world.store, world.keyring, spec.value)
    return f"operator revokes every session of {spec.value!r} -> {len(removed)} removed"


def _expire(world: World, spec: Spec) -> str:
    world.now += 32 * _DAY
    return "the clock jumps 32 days: every session is past its lifetime"


def _rotate_key(world: World, spec: Spec) -> str | None:
    if world.keyring is not KEYRINGS[0]:
        return None
    world.keyring = KEYRINGS[1]
    return "SECRET_KEY rotated, step 1: the new key is a fallback"


def _lose_lease(world: World, spec: Spec) -> str | None:
    key = world.store.forget_lease(world.rng.choice)
    if key is None:
        return None
    world.faults.append("lease lost")
    return f"FAULT the store lost the lease on ...{key[-6:]} (restarted or evicted)"


def _jump(world: World, spec: Spec) -> str:
    seconds = world.rng.uniform(0.3, 120.0)
    world.now += seconds
    world.faults.append("clock jump")
    return f"FAULT the clock jumps {seconds:.1f}s (leases end, expiries slide)"


def _purge(world: World, spec: Spec) -> str:
    return f"flask sessions purge: {world.store.purge(world.now, 200)} removed"


ACTIONS: dict[str, Callable[[World, Spec], str | None]] = {
    "revoke": _revoke, "revoke_user": _revoke_user, "expire": _expire, "rotate_key": _rotate_key,
    "lose_lease": _lose_lease, "jump": _jump, "purge": _purge,
}


def _shown(result: Any, error: BaseException | None) -> str:
    if error is not None:
        return f"raised {type(error).__name__}"
    if isinstance(result, list):
        return f"{len(result)} item(s)"
    if result is None or isinstance(result, bool):
        return str(result)
    return f"record v{result.version}{' (tombstone)' if tombstones.is_tombstone(result) else ''}"


def _cookie(value: str | None) -> str:
    if value is None:
        return "unchanged"
    return "cleared" if not value else f"set ...{value[-6:]}"
