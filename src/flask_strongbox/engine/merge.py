"""A three-way merge of session data, for a save that lost a compare-and-swap.

``base`` is what this request loaded, ``ours`` what it wants to save, and
``theirs`` what another request of the same session saved meanwhile (having
loaded ``base`` or a later version). Each key is merged on its own, through
nested dicts, by the first rule that fits:

======================================================  ======================================================
what theirs and ours each did to the base value         merged
======================================================  ======================================================
one side left it alone                                  the other side's value
ours wrote it blind, or it is ``_permanent``            ours (the last writer wins)
both deleted it                                         deleted
both have a dict, or one has and one deleted it         merged key by key by these rules; a deleted or absent
                                                        dict counts as ``{}``, and one deleted stays deleted
                                                        if nothing is left in it
both extended a list                                    base + theirs' new items + ours' (an absent base
                                                        counts as ``[]``)
one extended a list, the other consumed or refilled it  theirs' new items, then ours'
one consumed a list, the other refilled it              the refilled list
both consumed a list                                    consumed, as ours left it (absent or ``[]``)
one deleted a value, the other changed it               the changed value
anything else                                           :class:`MergeConflict`
======================================================  ======================================================

A key is written *blind* if ours set or deleted it at the top level without
reading it. "Anything else" is a value both changed, even to equal values (a
counter both raised from 5 to 6), a list both refilled, a list edited (shrunk
but not emptied, reordered, an item changed), or a dict or list one side
replaced by another type while the other changed it.

A list is *extended* if it starts with the base list, *consumed* if deleted
or emptied (:func:`flask.get_flashed_messages` pops ``_flashes``), and
*refilled* if it holds only items the base list does not (consumed, then
extended).

Values compare by their serialized form, so ``1``, ``1.0`` and ``True``
differ, and tuples, bytes, datetimes, UUIDs and ``Markup`` are single values.
The merged session keeps theirs' key order (the order stored), then the keys
only ours has, in ours' order.
"""

from __future__ import annotations

import enum
from collections.abc import Container, Hashable
from typing import Any, Literal
from uuid import UUID

from markupsafe import Markup

from .. import serialization
from ..errors import SaveConflict

#: A key that says how to keep the session, not what it holds. Reading it
#: (``session.permanent``) and setting it is never a lost update worth a 503.
_FLAGS = frozenset({"_permanent"})

#: Types whose values serialize alike exactly when they are equal (``Markup``
#: and ``str`` differ, as do ``True``, ``1`` and ``1.0``: the type is part of
#: the key).
_PLAIN = frozenset({str, int, bool, type(None), bytes, UUID, Markup})

_ListChange = Literal["extended", "consumed", "refilled", "edited"]


class _Absent(enum.Enum):
    ABSENT = enum.auto()


#: Stands for a key that one side does not have.
_ABSENT = _Absent.ABSENT


class MergeConflict(SaveConflict):
    """Two overlapping requests changed the same part of a session, and
    keeping either change would lose the other (both computed a value from
    the one they loaded). Nothing is saved; the client gets ``503`` with
    ``Retry-After`` and retries.

    :param path: the keys from the top of the session to the conflicting
        value, such as ``("cart", "a")``. The message names it; it never
        holds a value.
    """

    def __init__(self, path: tuple[str, ...]) -> None:
        self.path = path
        super().__init__(1, (
            f"a concurrent request also changed {self.where}, which this request read and then "
            "changed; nothing was saved, so neither change is lost (retry the request)"
        ), reason=self.where)

    @property
    def where(self) -> str:
        """The conflicting value as Python would name it: ``session['cart']['a']``."""
        return "session" + "".join(f"[{key!r}]" for key in self.path)


class _BlindKeys(Container[str]):
    """The top-level keys whose change by this request is a blind write."""

    def __init__(self, reads: frozenset[str] | None) -> None:
        self.reads = reads

    def __contains__(self, key: object) -> bool:
        return key in _FLAGS or (self.reads is not None and key not in self.reads)


def merge(
    base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any],
    reads: frozenset[str] | None,
) -> dict[str, Any]:
    """Merge this request's session (``ours``) into the one another request
    saved meanwhile (``theirs``), both descended from ``base``, by the rules
    in this module's docstring.

    :param base: the session data this request loaded, as
        :func:`~flask_strongbox.serialization.loads` returned it.
    :param ours: the session data this request wants to save.
    :param theirs: the session data stored now, loaded from ``base`` or a
        later version by a concurrent request.
    :param reads: the top-level keys this request read, or ``None`` if it
        read them all. A key it changed without reading it is a blind write.
    :return: the merged session data. It may share values with the
        arguments, none of which is modified.
    :raises MergeConflict: naming the first value that cannot be merged.
    """
    # ours is live data: compare it, and merge its dicts key by key, as it
    # will be stored (a dict key 42 is stored as "42").
    ours = serialization.loads(serialization.dumps(ours))
    if _same(ours, base):
        return theirs
    if _same(theirs, base):
        return ours
    return _merge_dicts(base, ours, theirs, (), _BlindKeys(reads))


def _merge(base: Any, ours: Any, theirs: Any, path: tuple[str, ...], blind: bool = False) -> Any:
    """Merge one value at ``path``; ``_ABSENT`` stands for a missing key,
    as argument and as result. ``blind``: ours wrote it without reading it."""
    was = _key(base)
    if _key(ours) == was:
        return theirs
    if _key(theirs) == was or blind:
        return ours
    if ours is _ABSENT and theirs is _ABSENT:
        return _ABSENT
    if _all_of(dict, base, ours, theirs):
        merged = _merge_dicts(_or(base, {}), _or(ours, {}), _or(theirs, {}), path, ())
        # A dict one side deleted stays deleted unless the other added to it.
        return _ABSENT if not merged and (ours is _ABSENT or theirs is _ABSENT) else merged
    if _all_of(list, base, ours, theirs):
        return _merge_lists(_or(base, []), ours, theirs, path)
    if ours is _ABSENT:
        return theirs  # deleted by ours, changed by theirs: the change stands
    if theirs is _ABSENT:
        return ours
    raise MergeConflict(path)


def _merge_dicts(
    base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any],
    path: tuple[str, ...], blind: Container[str],
) -> dict[str, Any]:
    merged = {}
    for key in {**dict.fromkeys(theirs), **dict.fromkeys(ours)}:
        was, mine, other = (side.get(key, _ABSENT) for side in (base, ours, theirs))
        value = _merge(was, mine, other, (*path, key), key in blind)
        if value is not _ABSENT:
            merged[key] = value
    return merged


def _merge_lists(base: list[Any], ours: Any, theirs: Any, path: tuple[str, ...]) -> Any:
    """Merge a list both sides changed (``ours`` or ``theirs`` may be
    ``_ABSENT``): keep every item either side added, never one either
    side consumed."""
    change_theirs, added_theirs = _list_change(base, theirs)
    change_ours, added_ours = _list_change(base, ours)
    changes = {change_theirs, change_ours}
    if "edited" in changes or changes == {"refilled"}:
        # An edit, or two refills, may have rewritten the same item from the
        # same base: keeping both could count one change twice.
        raise MergeConflict(path)
    if changes == {"extended"}:
        return [*base, *added_theirs, *added_ours]
    if changes == {"consumed"}:
        return ours
    return [*added_theirs, *added_ours]


def _list_change(base: list[Any], side: Any) -> tuple[_ListChange, list[Any]]:
    """How one side changed a list it did change, and the items it added."""
    if side is _ABSENT:
        return "consumed", []
    if len(side) >= len(base) and all(map(_same, base, side)):
        return "extended", side[len(base):]
    if not side:
        return "consumed", []
    if {_key(item) for item in base}.isdisjoint(map(_key, side)):
        return "refilled", side
    return "edited", []


def _all_of(kind: type, *values: Any) -> bool:
    return all(value is _ABSENT or isinstance(value, kind) for value in values)


def _or(value: Any, default: Any) -> Any:
    return default if value is _ABSENT else value


def _same(a: Any, b: Any) -> bool:
    return _key(a) == _key(b)


def _key(value: Any) -> Hashable:
    """A stand-in for ``value``'s serialized form: two values have equal keys
    if and only if they serialize alike. Cheaper than serializing, and
    hashable, for the plain JSON types a session mostly holds."""
    kind = type(value)
    if kind in _PLAIN:
        return kind, value
    if kind is float:
        return kind, repr(value)  # what JSON writes: 0.0 and -0.0 differ, nan equals nan
    if kind is dict:
        return kind, tuple((name, _key(item)) for name, item in value.items())
    if kind is list or kind is tuple:
        return kind, tuple(map(_key, value))
    if value is _ABSENT:
        return None
    # A datetime (stored to the second), or anything else: by its tagged form.
    return object, serialization.dumps({"": value})
