"""What one simulated run does, drawn from its seed: the requests of a few
browsers, the operator's actions, the faults of the world. A plan is data,
so a failing one can be shrunk by dropping requests from it."""

from __future__ import annotations

import random
from dataclasses import dataclass

#: Operations and how often they are drawn.
_WEIGHTS = {
    "read": 2.0, "set": 2.0, "delete": 0.8, "nested": 2.0, "append": 2.0, "consume": 1.5, "incr": 2.0,
    "login": 1.6, "logout": 0.6, "regenerate": 0.5,
    "revoke": 0.3, "revoke_user": 0.3, "expire": 0.12, "rotate_key": 0.2,
    "lose_lease": 0.3, "jump": 0.3, "purge": 0.3,
}
_OPS, _CUMULATIVE = list(_WEIGHTS), list(_WEIGHTS.values())
NAMES = ("alice", "bob")
#: Operations that are faults of the world rather than requests or actions.
WORLD_FAULTS = frozenset({"lose_lease", "jump"})
#: Operations a browser's page does (the rest are the operator's or the world's).
PAGES = frozenset({"read", "set", "delete", "nested", "append", "consume", "incr", "login", "logout",
                   "regenerate"})


@dataclass(frozen=True, slots=True)
class Spec:
    """One request or action: ``index`` is its request id."""

    index: int
    browser: int
    op: str
    key: str | None
    value: str | None
    at: float
    exclusive: bool = False
    crash: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """A whole run: the store model, the requests, and how often a store
    call fails (``fault_rate``, split between dropped connections, timeouts
    after the call took effect, and slow calls)."""

    seed: int
    model: str
    browsers: int
    specs: tuple[Spec, ...]
    fault_rate: float
    permanent: frozenset[int]

    def without(self, index: int) -> Plan:
        return Plan(self.seed, self.model, self.browsers, tuple(s for s in self.specs if s.index != index),
                    self.fault_rate, self.permanent)

    def calm(self) -> Plan:
        """The same plan with no store faults and no crashes."""
        specs = tuple(Spec(s.index, s.browser, s.op, s.key, s.value, s.at, s.exclusive) for s in self.specs)
        return Plan(self.seed, self.model, self.browsers, specs, 0.0, self.permanent)


def draw(seed: int, model: str, requests: int = 10) -> Plan:
    """The plan of seed ``seed`` on store model ``model``."""
    rng = random.Random(f"plan-{model}-{seed}")
    browsers = rng.choice((1, 2, 2, 3))
    faulty = rng.random() < 0.7
    # Each browser first gets a session of its own, then the pages overlap.
    specs = tuple(Spec(b + 1, b, "set", "lang", f"v{b + 1}", b * 0.002) for b in range(browsers))
    specs += tuple(_spec(rng, len(specs) + i + 1, browsers, faulty)
                   for i in range(rng.randint(requests // 2, requests)))
    permanent = frozenset(b for b in range(browsers) if rng.random() < 0.3)
    rate = rng.uniform(0.02, 0.15) if faulty else 0.0
    return Plan(seed, model, browsers, specs, rate, permanent)


def _spec(rng: random.Random, index: int, browsers: int, faulty: bool) -> Spec:
    op = rng.choices(_OPS, _CUMULATIVE)[0]
    browser = rng.randrange(browsers)
    key: str | None = None
    value: str | None = f"v{index}"
    if op == "set":
        key = rng.choice(("lang", "theme"))
    elif op == "delete":
        key, value = rng.choice(("lang", "theme", "cart")), None
    elif op == "nested":
        key = "cart." + rng.choice("abc")
    elif op in ("login", "revoke_user"):
        value = rng.choice(NAMES)
    elif op != "append":
        value = None
    if op in ("expire", "rotate_key", "lose_lease", "jump", "purge", "revoke_user"):
        browser = -1
    # Requests come close together (most overlap), sometimes after a gap.
    at = 0.01 + index * 0.0004 + (rng.uniform(0.0, 0.01) if rng.random() < 0.2 else 0.0)
    crash = faulty and op in PAGES and rng.random() < 0.05
    return Spec(index, browser, op, key, value, at, exclusive=rng.random() < 0.25, crash=crash)
