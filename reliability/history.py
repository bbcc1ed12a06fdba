"""A history: what each request of each browser asked, saw and was answered.

The same record comes from the simulator (simulated time) and from the
real-process run (wall-clock time). Values written are unique per request
(``"v17"`` for request 17), so the checker can tell who wrote what it reads.

=============  ===========================================================
operation      what the request does to its session (``arg``)
=============  ===========================================================
``read``       reads every key
``set``        ``session[key] = value``, blind (never read first)
``delete``     ``session.pop(key)``
``nested``     ``session["cart"][key] = value`` (reads ``cart`` first)
``append``     ``flash(value)``: extends ``_flashes``
``consume``    ``get_flashed_messages()``: pops ``_flashes``
``incr``       ``session["n"] += 1``: read-modify-write of one scalar
``login``      ``session["user"] = name``: rotates the id
``logout``     ``session.clear()``
``regenerate`` ``session.regenerate()``
``revoke``     the operator revokes the browser's current session
``revoke_user`` the operator revokes every session of ``value`` (a name)
``expire``     time jumps past every idle timeout
``rotate_key`` a new ``SECRET_KEY``, the old one as a fallback
=============  ===========================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: A request's answer: 2xx, a definite failure (``conflict``: nothing
#: saved), or ``unknown`` (the store timed out, the worker died, the
#: connection dropped: the request may or may not have taken effect).
Status = Literal["ok", "conflict", "unknown"]

#: Operations that end the browser's session for every request after them.
ENDERS = frozenset({"logout", "revoke", "revoke_user", "expire"})
#: Operations that give the session a new id.
ROTATIONS = frozenset({"login", "regenerate"})
#: Operations done by the operator or the world, not by the browser's page.
SYSTEM = frozenset({"revoke", "revoke_user", "expire", "rotate_key"})


@dataclass(slots=True)
class Event:
    """One request (or operator action) from invocation to answer.

    :param rid: unique, increasing in invocation order.
    :param browser: the browser (cookie jar) it came from, or for an
        operator action the browser it was aimed at (``-1``: all).
    :param op: the operation (module docstring).
    :param key: the session key it changes, if any.
    :param value: the value it writes (unique per request), or a name.
    :param invoked: when it was sent.
    :param completed: when its answer arrived (``None``: never).
    :param status: how it was answered.
    :param seen: the session data the request loaded, if it loaded and
        was answered 2xx (what the page could show).
    :param detail: the failure, for the story.
    :param faults: the faults injected into it, for the story.
    """

    rid: int
    browser: int
    op: str
    key: str | None = None
    value: Any = None
    invoked: float = 0.0
    completed: float | None = None
    status: Status = "unknown"
    seen: dict[str, Any] | None = None
    detail: str = ""
    faults: list[str] = field(default_factory=list)
    #: The session cookie it sent (opaque), and the one its answer set
    #: (``""``: cleared; ``None``: no ``Set-Cookie``).
    sent: str | None = None
    got: str | None = None

    def before(self, other: Event) -> bool:
        """Whether this one was answered before ``other`` was sent (real-time
        order); two events where neither is before the other overlap."""
        return self.completed is not None and self.completed < other.invoked

    @property
    def may_have_happened(self) -> bool:
        """Whether it may have changed something: all but a definite failure."""
        return self.status != "conflict"

    def describe(self) -> str:
        what = self.op if self.key is None else f"{self.op} {self.key}"
        if self.value is not None:
            what += f" = {self.value!r}" if self.op not in ("revoke_user", "login") else f" {self.value!r}"
        return what


@dataclass(slots=True)
class History:
    """Every event of one run, and each browser's final session (read after
    everything else finished)."""

    events: list[Event] = field(default_factory=list)
    final: dict[int, dict[str, Any]] = field(default_factory=dict)

    def of(self, browser: int) -> list[Event]:
        """The events aimed at ``browser``, including operator actions on all."""
        return [e for e in self.events if e.browser in (browser, -1)]

    @property
    def browsers(self) -> list[int]:
        return sorted(self.final)
