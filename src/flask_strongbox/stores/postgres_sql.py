"""The PostgreSQL store's operations as statements: the SQL, its
parameters, and how its row count and rows answer the call. The blocking
store (:mod:`.postgres`) and the async one (:mod:`flask_strongbox.aio.postgres`)
run the same statements, each with its own connections.

Templates use the placeholders of :meth:`.postgres_schema.Layout.sql`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .base import Record, check_lease, readable
from .postgres_schema import LEASES

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Statement(Generic[T]):
    """One autocommitted statement and what it answers.

    :param template: the SQL, with the layout's placeholders.
    :param params: its parameters.
    :param answer: the call's result, from the row count and the rows.
    :param leases: it works on the lease table.
    """

    template: str
    params: tuple[object, ...]
    answer: Callable[[int, list[Any]], T]
    leases: bool = False


def _one(count: int, _rows: list[Any]) -> bool:
    return count == 1


def _record(_count: int, rows: list[Any]) -> Record | None:
    return Record.from_row(rows[0]) if rows else None


def _records(_count: int, rows: list[Any]) -> list[Record]:
    return readable(rows)


def _keys(_count: int, rows: list[Any]) -> list[str]:
    return [row[0] for row in rows]


def get(key: str, now: float) -> Statement[Record | None]:
    return Statement("SELECT {columns} FROM {t} WHERE key = %s AND expires > %s", (key, now), _record)


def create(record: Record) -> Statement[bool]:
    return Statement(
        "INSERT INTO {t} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (key) DO NOTHING",
        (record.key, record.blob, record.version, record.created, record.last_seen,
         record.expires, record.absolute_expires, record.user_hash, record.sealed_device),
        _one,
    )


def replace(record: Record, expected_version: int, now: float) -> Statement[bool]:
    return Statement(
        'UPDATE {t} SET blob = %s, version = %s, last_seen = %s, expires = %s, '
        'absolute_expires = %s, "user" = %s, info = %s '
        "WHERE key = %s AND version = %s AND expires > %s",
        (record.blob, record.version, record.last_seen, record.expires,
         record.absolute_expires, record.user_hash, record.sealed_device, record.key,
         expected_version, now),
        _one,
    )


def touch(key: str, expires: float, now: float) -> Statement[bool]:
    return Statement(
        "UPDATE {t} SET last_seen = %s, expires = %s WHERE key = %s AND expires > %s",
        (now, expires, key, now), _one,
    )


def delete(key: str) -> Statement[bool]:
    return Statement("DELETE FROM {t} WHERE key = %s", (key,), _one)


def sessions_of(user_hash: str, now: float) -> Statement[list[Record]]:
    return Statement(
        'SELECT {columns} FROM {t} WHERE "user" = %s AND expires > %s ORDER BY created, key',
        (user_hash, now), _records,
    )


def delete_user(user_hash: str, keep: str | None = None) -> Statement[list[str]]:
    return Statement(
        'DELETE FROM {t} WHERE "user" = %s AND key IS DISTINCT FROM %s RETURNING key',
        (user_hash, keep), _keys,
    )


def lock(key: str, token: str, until: float, now: float) -> Statement[bool]:
    check_lease(until, now)
    return Statement(LEASES.lock, (key, token, until, now), _one, leases=True)


def unlock(key: str, token: str) -> Statement[bool]:
    return Statement(LEASES.unlock, (key, token), _one, leases=True)


#: The operations that are one statement each, by :class:`Store` method name.
OPERATIONS: dict[str, Callable[..., Statement[Any]]] = {
    f.__name__: f
    for f in (get, create, replace, touch, delete, sessions_of, delete_user, lock, unlock)
}
