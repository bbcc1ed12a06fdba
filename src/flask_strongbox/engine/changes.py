"""What one request did to its session, for saving only that.

Change detection compares content, so a nested mutation such as
``session["cart"].append(x)`` is a change without ``session.modified``. On a
compare-and-swap conflict, the save re-applies only this request's changes to
the newer record: keys written blind merge (the last writer wins), but a key
the request read and then changed must not have moved meanwhile, or its new
value was computed from a stale one. The session notes which keys a view
read (:attr:`LazySession.reads <flask_strongbox.engine.LazySession.reads>`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import serialization
from ..errors import SaveConflict

_SCALARS = frozenset({str, int, float, bool, type(None), bytes})


def is_immutable(data: dict[str, Any]) -> bool:
    """Whether every value is a scalar, so nothing can change in place."""
    return _SCALARS.issuperset(map(type, dict.values(data)))


@dataclass(frozen=True)
class Changes:
    """What one request did to its session: keys set (with their new values),
    keys deleted, and what it had loaded and read."""

    updates: dict[str, Any]
    deletions: set[str]
    before: dict[str, Any]
    reads: frozenset[str] | None

    def check_no_lost_update(self, current: dict[str, Any]) -> None:
        """Raise :class:`SaveConflict` if a key this request read and then set
        or deleted was changed by another request since this one loaded it:
        re-applying this request's value would silently drop that change, even
        when both computed the same value (two increments from 5 both give 6)."""
        for name in (*self.updates, *self.deletions):
            if self.reads is not None and name not in self.reads:
                continue  # written blind: the last writer wins
            if encoded(current, name) == encoded(self.before, name):
                continue
            raise SaveConflict(1, (
                f"a concurrent request changed session[{name!r}], which this request read and "
                "then changed; nothing was saved, so neither change is lost (retry the request)"
            ))


def encoded(data: dict[str, Any], name: str) -> bytes | None:
    return serialization.dumps({name: data[name]}) if name in data else None


def changes_of(
    plaintext: bytes, data: dict[str, Any], reads: frozenset[str] | None
) -> Changes:
    """What this request did to its session, compared by serialized content."""
    before = serialization.loads(plaintext)
    updates = {
        name: value for name, value in data.items() if encoded(before, name) != encoded(data, name)
    }
    return Changes(updates, set(before) - set(data), before, reads)
