"""The invariants a history must keep, checked per browser.

Requests of one browser overlap; the checker requires only what some
linearization of them, with overlapping saves merged by the documented rules
(``docs/merge-rules.md``), allows. Real-time order is :meth:`Event.before`:
a request answered before another was sent precedes it; two requests where
neither precedes the other may land in either order.

A *reset* of a browser's session is an event after which nothing written
before need survive: an acknowledged or unknown logout, revocation,
revocation of its user, expiry; a login or ``regenerate()`` whose answer was
lost or that overlapped another rotation of the same browser (the second
creates a session of its own); and a *stale cookie*: an answer that set (or
cleared) the cookie for the one its request was sent with, arriving after
another answer had already given the browser a newer one. The browser keeps
the cookie of the answer that arrives last, which no server can order; stale
cookies are counted in the report, not violations.

A change answered 2xx and not reset, superseded or consumed by anything that
does not precede it must be in the browser's final session (read after
everything else finished). An answer that cleared the cookie acknowledges no
change: it tells the browser its session ended while the request ran.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .history import ENDERS, ROTATIONS, Event, History

_WRITTEN = re.compile(r"v\d+\Z")
#: What each change can be superseded by (another change of the same thing).
_RIVALS = {"set": ("set", "delete"), "nested": ("nested", "delete"), "login": ("login",),
           "append": ("consume",), "delete": ("set", "delete", "nested")}


@dataclass(frozen=True, slots=True)
class Violation:
    """An invariant the history broke, with the events that show it."""

    invariant: str
    browser: int
    events: tuple[int, ...]
    detail: str

    def __str__(self) -> str:
        return f"[{self.invariant}] browser {self.browser}: {self.detail} (requests {list(self.events)})"


@dataclass(slots=True)
class Report:
    """The violations found, and what was checked."""

    violations: list[Violation] = field(default_factory=list)
    acknowledged_writes: int = 0
    stale_cookies: int = 0

    @property
    def ok(self) -> bool:
        return not self.violations


def check(history: History) -> Report:
    """Every invariant of the module docstring, over ``history``."""
    report = Report()
    writers = {e.value: e for e in history.events if isinstance(e.value, str) and _WRITTEN.match(e.value)}
    mine: dict[int, list[Event]] = {b: [] for b in history.browsers}
    names: dict[int, set[Any]] = {b: set() for b in history.browsers}
    for event in history.events:
        if event.browser in mine:
            mine[event.browser].append(event)
            if event.op == "login" and event.may_have_happened:
                names[event.browser].add(event.value)
    everyone = [e for e in history.events if e.browser == -1 and e.op != "revoke_user"]
    revokes = [e for e in history.events if e.op == "revoke_user"]
    for browser in history.browsers:
        events = mine[browser] + everyone + [e for e in revokes if e.value in names[browser]]
        events.sort(key=lambda e: e.rid)
        _Browser(browser, events, history.final[browser], writers, report).check()
    return report


class _Browser:
    def __init__(
        self, browser: int, events: list[Event], final: dict[str, Any], writers: dict[str, Event],
        report: Report,
    ) -> None:
        self.events = events
        self.browser = browser
        self.final = final
        self.writers = writers
        self.report = report
        self.stale = self._stale_cookies()
        report.stale_cookies += len(self.stale)
        self.resets = [e for e in self.events if self._resets(e)] + self.stale

    def flag(self, invariant: str, events: tuple[Event, ...], detail: str) -> None:
        rids = tuple(e.rid for e in events)
        self.report.violations.append(Violation(invariant, self.browser, rids, detail))

    # -- resets ----------------------------------------------------------------

    def _resets(self, event: Event) -> bool:
        if event.op in ENDERS:
            return event.may_have_happened
        if event.op in ROTATIONS:
            return event.status == "unknown" or any(
                other is not event and other.op in ROTATIONS and other.may_have_happened
                and _overlap(event, other) for other in self.events)
        return False

    def _stale_cookies(self) -> list[Event]:
        """Answers that overwrote a newer cookie with one made for an older
        one (or for none): the browser keeps the cookie of the answer that
        arrives last, so a request sent before another's answer arrived can
        carry the browser back. Each is a reset from its arrival on."""
        stale = []
        answered = sorted((e for e in self.events if e.completed is not None and e.got is not None),
                          key=lambda e: e.completed or 0.0)
        jar: Event | None = None
        for event in answered:
            if (jar is not None and event.got != jar.got and event.sent != jar.got
                    and event.invoked < (jar.completed or 0.0)):
                stale.append(event)
            jar = event
        return stale

    def reset_after(self, change: Event) -> Event | None:
        """A reset that does not precede ``change`` (other than itself)."""
        return next((r for r in self.resets
                     if (r is not change or r in self.stale) and not _reset_before(r, change)), None)

    # -- the checks ------------------------------------------------------------

    def check(self) -> None:
        for event in self.events:
            if _acknowledged(event):
                self.report.acknowledged_writes += 1
                self.durable(event)
        self.failed_changed_nothing()
        self.nothing_back_after_end()
        self.logged_in_as_named()
        self.flashes_in_order()
        self.flashes_shown_once()
        self.counter()

    def durable(self, change: Event) -> None:
        """An acknowledged change is in the final session unless reset or
        superseded by something that does not precede it."""
        if self.reset_after(change) is not None:
            return
        rivals = [e for e in self.events if e is not change and e.op in _RIVALS[change.op]
                  and e.may_have_happened and _same_thing(change, e) and not e.before(change)]
        if rivals:
            return
        if not _present(change, self.final):
            self.flag("acknowledged change lost", (change,),
                      f"{change.describe()} answered 2xx, final session is {self.final!r}")

    def failed_changed_nothing(self) -> None:
        """A value written by a request that definitely failed is never seen."""
        for event in self.events:
            for value in _values(event.seen):
                writer = self.writers.get(value)
                if writer is not None and writer.status == "conflict":
                    self.flag("a 503 changed something", (writer, event),
                              f"{writer.describe()} answered 503, yet request {event.rid} read it")
        for value in _values(self.final):
            writer = self.writers.get(value)
            if writer is not None and writer.status == "conflict":
                self.flag("a 503 changed something", (writer,),
                          f"{writer.describe()} answered 503, yet it is in the final session")

    def nothing_back_after_end(self) -> None:
        """After an acknowledged logout or revocation, no request of the
        browser reads what was written before it, nor the user it ended."""
        for end in (e for e in self.events if e.op in ENDERS and e.status == "ok"):
            if any(_overlap(end, r) for r in self.events if _rotates(r)):
                continue  # a concurrent rotation may have moved the data to an id the end did not name
            for read in (e for e in self.events if e.status == "ok" and e.seen and end.before(e)):
                self._read_after_end(end, read)

    def _read_after_end(self, end: Event, read: Event) -> None:
        assert read.seen is not None
        if end.op == "logout" and end.sent is None:
            return  # a logout without a cookie ended nothing
        if any(not stale.before(end) and not read.before(stale) for stale in self.stale):
            return  # a late answer carried an older cookie back into the browser
        user = read.seen.get("user")
        if end.op == "revoke_user":
            if user == end.value and not any(
                    e.op == "login" and e.value == user and not e.before(end) for e in self.events):
                self.flag("revoked session readable", (end, read), f"user {user!r} read after revoke_user")
            return
        for value in _values(read.seen):
            writer = self.writers.get(value)
            if writer is not None and writer.browser == self.browser and writer.before(end):
                self.flag(f"session back after {end.op}", (writer, end, read),
                          f"{value!r} (request {writer.rid}) read after the {end.op}")
                return

    def logged_in_as_named(self) -> None:
        """After an acknowledged login, requests carrying its cookie see its
        name until the next change of identity."""
        identity = [e for e in self.events if e.op in ROTATIONS | ENDERS and e.may_have_happened]
        identity += self.stale
        for login in (e for e in self.events if e.op == "login" and e.status == "ok" and e.got):
            for read in self.events:
                if read.sent != login.got or read.status != "ok" or read.seen is None:
                    continue
                if any(o is not login and not o.before(login) and not read.before(o) for o in identity):
                    continue
                if read.seen.get("user") != login.value:
                    self.flag("login not kept", (login, read),
                              f"login {login.value!r} answered 2xx, request {read.rid} with its cookie "
                              f"saw user {read.seen.get('user')!r}")

    def flashes_in_order(self) -> None:
        """Messages flashed one after the other stay in that order."""
        final = self.final.get("_flashes") or []
        where = {item: i for i, item in enumerate(final)}
        appends = [e for e in self.events if e.op == "append" and e.status == "ok" and e.value in where]
        for first in appends:
            for second in appends:
                if first.before(second) and where[first.value] > where[second.value]:
                    self.flag("flashes reordered", (first, second), f"{first.value} after {second.value}")

    def flashes_shown_once(self) -> None:
        """A message a page consumed is never shown again by a later page,
        nor left in the session."""
        consumes = [e for e in self.events if e.op == "consume" and e.status == "ok" and e.seen]
        left = set(self.final.get("_flashes") or [])
        forks = [e for e in self.events if _rotates(e)]
        for first in consumes:
            if any(_overlap(first, fork) for fork in forks):
                continue  # a login from a followed id may have copied them to a session of its own
            shown = set((first.seen or {}).get("_flashes") or [])
            for second in consumes:
                again = shown & set((second.seen or {}).get("_flashes") or [])
                if first.before(second) and again:
                    self.flag("flash shown twice", (first, second), f"{sorted(again)} shown again")
            if shown & left:
                self.flag("flash shown twice", (first,), f"{sorted(shown & left)} consumed, still there")

    def counter(self) -> None:
        """No two acknowledged increments counted from the same value, and
        the count is right, where no reset or write of the counter came between."""
        if any(e.op in ("set", "delete") and e.key == "n" for e in self.events):
            return
        incrs = [e for e in self.events if e.op == "incr" and e.may_have_happened]
        acked = sorted((e for e in incrs if e.status == "ok" and e.got != ""), key=lambda e: e.invoked)
        for i, first in enumerate(acked):
            for second in acked[i + 1:]:
                if (first.seen is not None and second.seen is not None
                        and first.seen.get("n") == second.seen.get("n")
                        and not any(_between(r, first, second) for r in self.resets)):
                    self.flag("increment lost", (first, second),
                              f"both counted from {first.seen.get('n')!r}")
        if not self.resets and acked:
            final = self.final.get("n", 0)
            if not len(acked) <= final <= len(incrs):
                self.flag("increment lost", tuple(acked),
                          f"{len(acked)} increments answered 2xx ({len(incrs)} may have run), final {final}")


def _acknowledged(event: Event) -> bool:
    """A change answered 2xx, with the session kept: an answer that cleared
    the cookie says the session ended while the request ran (a logout or
    revocation won), and a deletion of what the request never saw changed
    nothing."""
    if event.status != "ok" or event.op not in _RIVALS or event.got == "":
        return False
    if event.op == "delete":
        top = (event.key or "").split(".")[0]
        return event.seen is not None and top in event.seen
    return True


def _rotates(event: Event) -> bool:
    """Whether it may have moved the session to a new id: a login or
    ``regenerate()``, or any request whose answer set a new cookie (a write
    under a fallback key moves the session to the current key)."""
    if event.op in ROTATIONS:
        return event.may_have_happened
    return event.status == "unknown" or bool(event.got and event.sent and event.got != event.sent)


def _between(reset: Event, first: Event, second: Event) -> bool:
    """Whether ``reset`` may fall between the two in some order of events."""
    before_both = reset.before(first) and reset.before(second)
    after_both = first.before(reset) and second.before(reset)
    return not before_both and not after_both


def _overlap(a: Event, b: Event) -> bool:
    return not a.before(b) and not b.before(a)


def _reset_before(reset: Event, change: Event) -> bool:
    return reset.before(change)


def _same_thing(change: Event, other: Event) -> bool:
    if change.op in ("append", "login"):
        return True
    if "delete" in (change.op, other.op):
        return (change.key or "").split(".")[0] == (other.key or "").split(".")[0]
    return change.key == other.key


def _present(change: Event, final: dict[str, Any]) -> bool:
    if change.op == "set":
        return bool(final.get(change.key or "") == change.value)
    if change.op == "delete":
        return change.key not in final
    if change.op == "login":
        return bool(final.get("user") == change.value)
    if change.op == "append":
        return change.value in (final.get("_flashes") or [])
    top, _, sub = (change.key or "").partition(".")
    cart = final.get(top)
    return isinstance(cart, dict) and bool(cart.get(sub) == change.value)


def _values(data: Any) -> Iterator[str]:
    """Every value written by a request (``"v17"``) inside ``data``."""
    if isinstance(data, dict):
        for item in data.values():
            yield from _values(item)
    elif isinstance(data, (list, tuple)):
        for item in data:
            yield from _values(item)
    elif isinstance(data, str) and _WRITTEN.match(data):
        yield data
