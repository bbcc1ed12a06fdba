"""Flask-Session's record values: msgpack or JSON via msgspec, never pickle.

Flask-Session 0.8 (``flask_session/base.py``, ``MsgSpecSerializer``) encodes
``dict(session)`` with ``msgspec.msgpack.Encoder()`` (or ``msgspec.json`` when
``SESSION_SERIALIZATION_FORMAT = "json"``) and decodes with the configured
format first, then the other one, then falls back to ``pickle.loads`` for
records written by Flask-Session before 0.7. We decode the same two formats
with the same library, so the data comes out with exactly the types
Flask-Session itself would have loaded, and refuse the pickle fallback: a
pickle is recognised by its framing and never handed to any decoder.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from markupsafe import Markup

from ..errors import ConfigurationError
from ..serialization import MAX_DEPTH
from .results import Loaded, Refused

Format = Literal["msgpack", "json"]

#: Pickle protocols 2 to 5 open with PROTO (0x80) and the protocol number.
_PICKLE_PROTO = tuple(bytes([0x80, n]) for n in range(2, 6))
#: Protocols 0 and 1 open a dict with MARK + DICT ``(d`` or EMPTY_DICT ``}``
#: (or a list, or a GLOBAL ``c``); every pickle ends with STOP ``.``.
_PICKLE_OLD_OPENERS = (b"(", b"}", b"]", b"c")
#: cachelib's Redis-style serializers store ``b"!" + pickle.dumps(value)``.
_CACHELIB_PICKLE_MARK = b"!"

#: The leaf types of Flask's tagged JSON, which Strongbox's serializer stores.
_LEAVES = frozenset({str, int, float, bool, type(None), bytes, Markup, uuid.UUID, datetime})

PICKLE_REASON = "written with pickle (Flask-Session before 0.7, or cachelib); never loaded"


def looks_pickled(raw: bytes) -> bool:
    """Whether ``raw`` is framed as a pickle. Reads bytes only: nothing is
    unpickled, imported or constructed."""
    body = raw[1:] if raw.startswith(_CACHELIB_PICKLE_MARK) else raw
    if body.startswith(_PICKLE_PROTO):
        return True
    return body.endswith(b".") and body.startswith(_PICKLE_OLD_OPENERS)


def decode(raw: bytes, expires: float | None, fmt: Format = "msgpack") -> Loaded | Refused:
    """Read one Flask-Session record value.

    :param raw: the stored bytes.
    :param expires: when the old store would drop the record, Unix seconds.
    :param fmt: the app's ``SESSION_SERIALIZATION_FORMAT``, tried first.
    """
    if looks_pickled(raw):
        return Refused("pickle", PICKLE_REASON)
    for decoder in _decoders(fmt):
        # msgspec's DecodeError, or RecursionError for deep nesting: try the next.
        with contextlib.suppress(Exception):
            return checked(decoder(raw), expires)
    return Refused("malformed", "neither msgpack nor JSON")


def checked(data: Any, expires: float | None) -> Loaded | Refused:
    """``data`` as a :class:`Loaded` if it is a session Strongbox can store."""
    if not isinstance(data, dict) or not all(isinstance(key, str) for key in data):
        return Refused("malformed", "not a mapping of string keys")
    if not _storable(data):
        # No key name in the reason: it is logged, and an app may build keys
        # from user input.
        return Refused("unstorable", "holds a value of a type Strongbox cannot store, or nests too deeply")
    return Loaded(data, expires)


def _storable(data: dict[str, Any]) -> bool:
    """Whether every value is of a type Strongbox's serializer stores, within
    its nesting limit. Decoders here only ever make these types or msgspec's
    ``Ext``, so a walk over types stands in for a trial serialization at a
    tenth of the cost."""
    # Depth counts as serialization's does: each top-level value is at 1.
    pending: list[tuple[Any, int]] = [(value, 1) for value in data.values()]
    while pending:
        item, depth = pending.pop()
        kind = type(item)
        if kind is dict or kind is list or kind is tuple:
            if depth > MAX_DEPTH or (kind is dict and not all(type(k) is str for k in item)):
                return False
            pending.extend((child, depth + 1) for child in (item.values() if kind is dict else item))
        elif kind not in _LEAVES:
            return False
    return True


@functools.cache
def _decoders(fmt: Format) -> tuple[Callable[[bytes], Any], Callable[[bytes], Any]]:
    try:
        import msgspec
    except ImportError:
        raise ConfigurationError(
            "reading Flask-Session records needs msgspec: pip install 'flask-strongbox[migrate]'"
        ) from None
    msgpack, json = msgspec.msgpack.Decoder().decode, msgspec.json.Decoder().decode
    return (msgpack, json) if fmt == "msgpack" else (json, msgpack)


def require_msgspec() -> None:
    """Raise :class:`~flask_strongbox.ConfigurationError` at start-up if the
    ``migrate`` extra is missing, rather than on a user's first request."""
    _decoders("msgpack")
