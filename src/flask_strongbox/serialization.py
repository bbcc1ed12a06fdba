"""Session data to bytes and back, with the types Flask's own session accepts.

Flask's tagged JSON (tuple, bytes, Markup, UUID, datetime, and dicts that look
like tags) on top of plain JSON. Never pickle: a stored blob can only ever
become JSON types and those few tagged ones.
"""

from __future__ import annotations

import json
from typing import Any

from flask.json.tag import TaggedJSONSerializer

from .errors import SessionTooLarge

_tagger = TaggedJSONSerializer()
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=True).encode
_TYPES = "str, int, float, bool, None, list, dict, tuple, bytes, Markup, UUID or datetime"


def dumps(data: dict[str, Any]) -> bytes:
    """Serialize a session. Raises :class:`TypeError` naming the first key
    whose value cannot be stored."""
    try:
        return _encode(_tagger.tag(data)).encode()
    except (TypeError, ValueError) as exc:
        for key, value in data.items():
            check_value(key, value)
        raise TypeError(f"the session cannot be stored: {exc}") from exc
    except RecursionError:
        raise SessionTooLarge(None, 0, "session data nests too deeply to store") from None


def loads(raw: bytes) -> dict[str, Any]:
    """Deserialize what :func:`dumps` produced."""
    data = _tagger.loads(raw.decode())
    if not isinstance(data, dict):
        raise ValueError("session data is not a mapping")
    return data


def check_value(key: str, value: Any) -> None:
    """Raise :class:`TypeError` naming ``key`` if ``value`` cannot be stored."""
    try:
        _encode(_tagger.tag(value))
    except RecursionError:
        raise SessionTooLarge(None, 0, f"session[{key!r}] nests too deeply to store") from None
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"session[{key!r}] cannot be stored ({exc}); a session holds {_TYPES} values"
        ) from None
