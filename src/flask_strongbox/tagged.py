"""Flask's tagged JSON, the session serialization of every Strongbox record.

The format of :class:`flask.json.tag.TaggedJSONSerializer`, spelled out here
so the session engine needs no web framework and any framework reads the same
records: JSON, where a one-key object whose key starts with a space is a
value JSON has no type for.

=======  ===================================  =======================================
tag      value                                JSON
=======  ===================================  =======================================
``" t"``   :class:`tuple`                        the items, as a list
``" b"``   :class:`bytes`                        standard base64, as text
``" m"``   :class:`~markupsafe.Markup` (or any   the HTML text
           object with ``__html__``)
``" u"``   :class:`~uuid.UUID`                   32 hex digits
``" d"``   :class:`~datetime.datetime`           an HTTP date (RFC 9110), UTC, to the second
``" di"``  a one-key dict whose key is a tag      ``{key + "__": value}``
=======  ===================================  =======================================
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from uuid import UUID

from markupsafe import Markup

_TAGS = frozenset({" t", " b", " m", " u", " d", " di"})


def tag(value: Any) -> Any:
    """``value`` as plain JSON types, the others tagged."""
    kind = type(value)
    if kind is dict:
        if len(value) == 1:
            (key, item), = value.items()
            if key in _TAGS:
                return {" di": {f"{key}__": tag(item)}}
        return {k: tag(v) for k, v in value.items()}
    if kind is list:
        return [tag(item) for item in value]
    if kind in (str, int, float, bool) or value is None:
        return value
    return _tag_other(value)


def _tag_other(value: Any) -> Any:
    if isinstance(value, dict):
        return tag(dict(value))
    if isinstance(value, tuple):
        return {" t": [tag(item) for item in value]}
    if isinstance(value, list):
        return [tag(item) for item in value]
    if isinstance(value, bytes):
        return {" b": base64.b64encode(value).decode("ascii")}
    if callable(getattr(value, "__html__", None)):
        return {" m": str(value.__html__())}
    if isinstance(value, UUID):
        return {" u": value.hex}
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
        return {" d": format_datetime(moment.astimezone(timezone.utc), usegmt=True)}
    return value  # not storable: the JSON encoder names it


def _date(text: str) -> datetime:
    found = parsedate_to_datetime(text)
    return found.astimezone(timezone.utc)


_UNTAG: dict[str, Callable[[Any], Any]] = {
    " t": tuple,
    " b": lambda text: base64.b64decode(text, validate=True),
    " m": Markup,
    " u": UUID,
    " d": _date,
    " di": lambda inner: {next(iter(inner))[:-2]: next(iter(inner.values()))},
}


def untag(value: Any) -> Any:
    """The inverse of :func:`tag`, on what ``json.loads`` made of it.

    :raises ValueError: for a tag whose value is malformed.
    """
    if isinstance(value, dict):
        value = {k: untag(v) for k, v in value.items()}
        if len(value) == 1:
            (key, item), = value.items()
            if key in _UNTAG:
                try:
                    return _UNTAG[key](item)
                except (TypeError, ValueError, AttributeError, StopIteration) as exc:
                    raise ValueError(f"malformed {key.strip()!r} tag") from exc
        return value
    if isinstance(value, list):
        return [untag(item) for item in value]
    return value
