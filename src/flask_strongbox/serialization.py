"""Session data to bytes and back, with the types Flask's own session accepts.

Flask's tagged JSON (:mod:`flask_strongbox.tagged`: tuple, bytes, Markup,
UUID, datetime, and dicts that look like tags) on top of plain JSON. Never
pickle: a stored blob can only ever become JSON types and those few tagged
ones.
"""

from __future__ import annotations

import json
import json.scanner
from typing import Any, cast

from . import tagged
from .errors import SessionTooDeep

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=True).encode
#: The decoder's C scanner, called directly: ``JSONDecoder.decode`` adds two
#: whitespace matches around it, costing as much again on a small session,
#: and :func:`dumps` writes no whitespace.
# (typeshed types make_scanner's argument as the scanner class itself.)
_scan = json.scanner.make_scanner(cast(Any, json.JSONDecoder()))


def _decode(text: str) -> Any:
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        raise ValueError("not JSON") from None
    if end != len(text):
        raise ValueError("not one JSON value")
    return value
_TYPES = "str, int, float, bool, None, list, dict, tuple, bytes, Markup, UUID or datetime"
#: Deepest nesting of dicts, lists and tuples a session value may have. Loading
#: recurses per level (twice for tagged ones), so a fixed limit far below the
#: interpreter's keeps every session that saves loadable from any view.
MAX_DEPTH = 64


def dumps(data: dict[str, Any]) -> bytes:
    """Serialize a session. Raises :class:`TypeError` naming the first key
    whose value cannot be stored."""
    for key, value in data.items():
        _check_depth(key, value)
    try:
        return _encode(tagged.tag(data)).encode()
    except (TypeError, ValueError) as exc:
        for key, value in data.items():
            check_value(key, value)
        raise TypeError(f"the session cannot be stored: {exc}") from exc
    except RecursionError:
        raise SessionTooDeep("session data nests too deeply to store") from None


def loads(raw: bytes) -> dict[str, Any]:
    """Deserialize what :func:`dumps` produced. Anything else raises
    :class:`ValueError`, never another exception."""
    try:
        text = raw.decode()
        # Flask's tags are one-key objects whose key starts with a space: in
        # compact JSON the characters '{" ', which no JSON string can hold
        # unescaped. Without them, plain JSON is the whole answer.
        data = tagged.untag(_decode(text)) if '{" ' in text else _decode(text)
    except ValueError:
        raise
    except Exception as exc:  # a malformed tag, or nesting too deep to parse
        raise ValueError(f"session data is malformed ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise ValueError("session data is not a mapping")
    return data


def check_value(key: str, value: Any) -> None:
    """Raise :class:`TypeError` naming ``key`` if ``value`` cannot be stored."""
    _check_depth(key, value)
    try:
        _encode(tagged.tag(value))
    except RecursionError:
        raise SessionTooDeep(f"session[{key!r}] nests too deeply to store") from None
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"session[{key!r}] cannot be stored ({exc}); a session holds {_TYPES} values"
        ) from None


def _check_depth(key: str, value: Any) -> None:
    """Raise :class:`SessionTooDeep` if ``value`` nests deeper than
    :data:`MAX_DEPTH`. Iterative, so a cycle or a deep value cannot exhaust the
    stack here."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            raise SessionTooDeep(
                f"session[{key!r}] nests deeper than {MAX_DEPTH} levels, which cannot be stored"
            )
        pending.extend((child, depth + 1) for child in children)
