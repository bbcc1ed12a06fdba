"""How a record is kept in Redis: one hash of text fields, and the numbers in
it written so that Lua's ``tonumber`` and Python's ``float`` both read them."""

from __future__ import annotations

import math
from typing import Any

from ..errors import UnreadableRecord
from .base import Record

_NUMBERS = (b"created", b"last_seen", b"expires", b"absolute_expires")


def ttl_ms(until: float, now: float) -> int:
    """Milliseconds from ``now`` to ``until``, rounded up; ``<= 0`` means dead."""
    return math.ceil((until - now) * 1000)


def num(value: float) -> str:
    return repr(float(value))  # round-trips exactly, and Lua's tonumber reads it


def number(raw: Any) -> float | None:
    """A stored number, or ``None`` for anything else (missing, not a number, NaN)."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if value == value else None


def text(raw: Any) -> str | None:
    """A stored text, or ``None`` if ``raw`` is not UTF-8 bytes."""
    try:
        return raw.decode() if isinstance(raw, bytes) else None
    except UnicodeDecodeError:
        return None


def encode(record: Record) -> list[object]:
    """The record's hash fields, as name, value, name, value..."""
    fields: list[object] = [
        "created", num(record.created), "blob", record.blob, "version", record.version,
        "last_seen", num(record.last_seen), "expires", num(record.expires),
        "absolute_expires", num(record.absolute_expires),
    ]
    if record.user_hash is not None:
        fields += ["user", record.user_hash]
    if record.sealed_device is not None:
        fields += ["info", record.sealed_device]
    return fields


def decode(key: str, fields: dict[bytes, bytes]) -> Record:
    """The record stored as the hash ``fields``.

    :raises UnreadableRecord: if a field is missing or not what it should be.
    """
    try:
        user = fields.get(b"user")
        row = (
            key, fields[b"blob"], int(fields[b"version"]), float(fields[b"created"]),
            float(fields[b"last_seen"]), float(fields[b"expires"]),
            float(fields[b"absolute_expires"]), None if user is None else user.decode(),
            fields.get(b"info"),
        )
    except (KeyError, ValueError):  # UnicodeDecodeError is a ValueError
        raise UnreadableRecord(key, _what_is_wrong(fields)) from None
    return Record.from_row(row)  # refuses NaN, which float() reads


def _what_is_wrong(fields: dict[bytes, bytes]) -> str:
    """The first field :func:`decode` cannot read, named, never shown."""
    for name in (b"blob", b"version", *_NUMBERS):
        if name not in fields:
            return f"{name.decode()} is missing"
    try:
        int(fields[b"version"])
    except ValueError:
        return "version is not an integer"
    for name in _NUMBERS:
        try:
            float(fields[name])
        except ValueError:
            return f"{name.decode()} is not a number"
    return "user is not UTF-8 text"
