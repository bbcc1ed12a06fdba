"""The engine's store calls as values: sans-I/O.

The engine's load and save are generators that yield each store call
(:class:`Call`) and each pause (:class:`Pause`) instead of making them, and
receive the result. A driver runs them: :func:`run` against a store, blocking;
:func:`run_async` against an async store; the deterministic simulator one step
at a time, so it can interleave many requests and inject faults between any
two calls. The engine's logic exists once, whatever runs it.

A call that raises in the driver is thrown back into the generator at the
``yield``, so the engine handles store errors where it makes them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from ..stores.base import Record, Store

T = TypeVar("T")


@dataclass(slots=True)  # not frozen: made for every store call, on the hot path
class Call:
    """``store.<method>(*args)``."""

    method: str
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Pause:
    """Wait ``seconds`` (a back-off between compare-and-swap attempts)."""

    seconds: float


Op = Call | Pause
#: A generator of store calls that returns a ``T``.
Steps = Generator[Op, Any, T]


def run(steps: Steps[T], store: Store, sleep: Callable[[float], None] = time.sleep) -> T:
    """Drive ``steps`` against ``store``, blocking; its return value."""
    send, result, error = steps.send, None, None
    while True:
        try:
            op = send(result) if error is None else steps.throw(error)
        except StopIteration as done:
            return cast(T, done.value)
        error = None
        try:
            result = getattr(store, op.method)(*op.args) if isinstance(op, Call) else _slept(sleep, op)
        except Exception as exc:
            error = exc


async def run_async(
    steps: Steps[T], store: Any, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Drive ``steps`` against an async store (whose methods are coroutines)."""
    send, result, error = steps.send, None, None
    while True:
        try:
            op = send(result) if error is None else steps.throw(error)
        except StopIteration as done:
            return cast(T, done.value)
        error = None
        try:
            if isinstance(op, Call):
                result = await getattr(store, op.method)(*op.args)
            else:
                await sleep(op.seconds)
                result = None
        except Exception as exc:
            error = exc


def _slept(sleep: Callable[[float], None], pause: Pause) -> object:
    """Sleep; what the paused step receives (nothing)."""
    sleep(pause.seconds)
    return None


# -- the store protocol, as steps ----------------------------------------------------


def get(key: str, now: float) -> Steps[Record | None]:
    return cast(Record | None, (yield Call("get", (key, now))))


def create(record: Record) -> Steps[bool]:
    return bool((yield Call("create", (record,))))


def replace(record: Record, expected_version: int, now: float) -> Steps[bool]:
    return bool((yield Call("replace", (record, expected_version, now))))


def touch(key: str, expires: float, now: float) -> Steps[bool]:
    return bool((yield Call("touch", (key, expires, now))))


def delete(key: str) -> Steps[bool]:
    return bool((yield Call("delete", (key,))))


def sessions_of(user_hash: str, now: float) -> Steps[list[Record]]:
    return cast(list[Record], (yield Call("sessions_of", (user_hash, now))))


def pause(seconds: float) -> Steps[None]:
    yield Pause(seconds)
