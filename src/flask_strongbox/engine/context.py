"""What the engine is told about one request, and what it answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..keys import Keyring
from .events import Events
from .lifetimes import Lifetimes
from .state import Loaded

#: Keys that say how to keep a session, not what it holds: a session with only
#: these is empty, so the tutorial's ``session.pop("user")`` is a full logout.
MARKERS = frozenset({"_permanent"})


# Not frozen: a frozen dataclass sets each field through object.__setattr__,
# which made building the one Context of each request cost four times as much.
@dataclass(slots=True)
class Context:
    """One request, as the engine needs it: made by the framework adapter.

    :param keyring: the app's keys (``SECRET_KEY`` and its fallbacks).
    :param lifetimes: the lifetimes in force.
    :param refresh_each_request: Flask's ``SESSION_REFRESH_EACH_REQUEST``: a
        permanent session's cookie is re-sent as its expiry slides.
    :param user_agent: the ``User-Agent`` header, for device hints.
    :param events: where lifecycle events go.
    :param now: the request's time, Unix seconds.
    :param exclusive: the request holds its session alone (a lease) from
        its first load to its save.
    """

    keyring: Keyring
    lifetimes: Lifetimes
    refresh_each_request: bool
    user_agent: str | None
    events: Events
    now: float
    exclusive: bool = False


@dataclass(frozen=True, slots=True)
class Save:
    """One save: the request, what it loaded, and what it leaves.

    :param plaintext: the serialized data, or ``None`` when the save knows
        without serializing that nothing changed.
    :param reads: the top-level keys the request read; ``None``: all. Not
        changed once the save begins.
    :param written: the app set ``session.modified`` (or assigned a key).
    """

    ctx: Context
    state: Loaded | None
    data: dict[str, Any]
    plaintext: bytes | None
    reads: set[str] | None
    written: bool
    regenerate: bool
    identity: Any

    @property
    def permanent(self) -> bool:
        return bool(self.data.get("_permanent"))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the response must carry: a cookie to set (with its expiry, or
    ``None`` for a browser-session cookie), a cookie to clear, or neither."""

    cookie: str | None = None
    expires: float | None = None
    clear: bool = False


NOTHING = Outcome()
CLEAR = Outcome(clear=True)
