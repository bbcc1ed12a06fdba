"""The session a view sees: a mapping that loads itself on first use, so a
request that never touches the session never reaches the store. Framework
adapters add their framework's session API on top (Flask's ``SessionMixin``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

from .. import serialization
from .context import Context
from .state import Loaded

if TYPE_CHECKING:
    from .adopt import Adoption

#: Loads the session: its data and load state (``None``: no record yet).
Loader = Callable[[], tuple[dict[str, Any], Loaded | None]]


class LazySession(MutableMapping[str, Any]):
    """A mutable mapping of session data, loaded on first use.

    :param loader: called once, on first use, to fetch the stored data; it
        returns the data and the load state. ``None`` makes a new, empty
        session (the request carried no valid cookie).
    :param activity_key: tells this session apart from others in the
        process (never usable as a cookie), if the request carried a validly
        signed cookie.
    """

    def __init__(self, loader: Loader | None = None, activity_key: str | None = None) -> None:
        self._loader = loader
        self.activity_key = activity_key
        self._data: dict[str, Any] | None = None if loader else {}
        #: What the load learned from the store; ``None`` for a session that
        #: came without a valid cookie.
        self.state: Loaded | None = None
        self.new = loader is None
        self.modified = False
        self.regenerate_requested = False
        #: Set when the store failed this request: nothing is saved.
        self.failed = False
        #: The keys the request read; ``None`` once it iterated over all.
        self.reads: set[str] | None = set()
        #: The request, as the engine saw it when it loaded the session; the
        #: save reuses it.
        self.context: Context | None = None
        #: Take the session's lease when it loads (an exclusive request).
        self.exclusive = False
        #: The legacy cookie this request moves into Strongbox, if any
        #: (:mod:`~flask_strongbox.engine.adopt`).
        self.adoption: Adoption | None = None

    @property
    def data(self) -> dict[str, Any]:
        data = self._data
        if data is None:
            data = self._load()
        return data

    def reloaded(self, data: dict[str, Any], state: Loaded) -> None:
        """Take ``data`` and ``state`` as what the request loaded (loaded
        again, once the session's lease was held)."""
        self._data, self.state, self.reads = data, state, set()

    @property
    def loaded(self) -> bool:
        """Whether the stored data was fetched during this request."""
        return self._data is not None

    def _load(self) -> dict[str, Any]:
        assert self._loader is not None
        try:
            self._data, self.state = self._loader()
        except BaseException:
            # "Store unavailable" is not "no session": act empty for the rest of
            # this request (an error page may still read flashes) but never save.
            self._data, self.failed = {}, True
            raise
        return self._data

    @property
    def expired(self) -> bool:
        """``True`` if the request carried a validly signed cookie whose
        session no longer exists: it expired, was revoked, or ended elsewhere."""
        self.data  # noqa: B018 - loading decides
        return self.state is not None and self.state.expired

    @property
    def handle(self) -> str | None:
        """The opaque handle of this session's stored record, as in
        :attr:`SessionInfo.handle <flask_strongbox.SessionInfo.handle>`, or
        ``None`` if it has none yet (a new session, saved at the end of the
        request)."""
        self.data  # noqa: B018 - loading decides
        state = self.state
        return state.key if state is not None and state.record is not None else None

    def regenerate(self) -> None:
        """Give the session a new id, keeping its data; the old record is
        deleted when the response is saved. Call it on any privilege change;
        a change of the identity key (such as ``session["user"]``) does it
        automatically."""
        self.data  # noqa: B018
        self.regenerate_requested = True
        self.modified = True

    # Each read notes its key in ``reads``: on a save conflict, a key this
    # request read and then changed must not have been changed by another
    # request meanwhile (see :mod:`flask_strongbox.engine.merge`). Iterating
    # reads every key. ``pop``, ``setdefault``, ``keys``, ``items`` and
    # ``values`` go through these methods.

    def __getitem__(self, key: str) -> Any:
        data = self._data if self._data is not None else self._load()
        if self.reads is not None:
            self.reads.add(key)
        return data[key]

    def get(self, key: str, default: Any = None) -> Any:
        data = self._data if self._data is not None else self._load()
        if self.reads is not None:
            self.reads.add(key)
        return data.get(key, default)

    def __contains__(self, key: object) -> bool:
        data = self._data if self._data is not None else self._load()
        if self.reads is not None and isinstance(key, str):
            self.reads.add(key)
        return key in data

    def __iter__(self) -> Iterator[str]:
        self.reads = None
        return iter(self.data)

    def __setitem__(self, key: str, value: Any) -> None:
        serialization.check_value(key, value)
        self.data[key] = value
        self.modified = True

    def __delitem__(self, key: str) -> None:
        del self.data[key]
        self.modified = True

    def __len__(self) -> int:
        return len(self.data)

    def clear(self) -> None:
        self.data.clear()
        self.modified = True

    def __repr__(self) -> str:
        # Never the data, nor the id: error trackers record local variables.
        if self._data is None:
            return f"<{type(self).__name__} (not loaded)>"
        return f"<{type(self).__name__} {len(self._data)} key(s){' modified' if self.modified else ''}>"


class RefusedSession(LazySession):
    """The session of an app whose keys are refused (such as a weak
    ``SECRET_KEY`` outside debug and testing). Requests that never touch it
    are served; any use raises the refusal, which names the setting.

    :param error: the :class:`~flask_strongbox.ConfigurationError` to raise.
    """

    def __init__(self, error: Exception) -> None:
        super().__init__(self._refuse)
        self.error = error
        self.failed = True  # nothing is ever saved

    def _refuse(self) -> tuple[dict[str, Any], Loaded]:
        raise self.error

    def _load(self) -> dict[str, Any]:
        # Unlike a store outage, the refusal holds for every later use too.
        raise self.error
