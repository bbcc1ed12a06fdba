"""How long a change made by one process takes to reach another process's
read, with the Redis client-side cache on (``RedisStore(cache=...)``).

    .venv/bin/python benchmarks/invalidation.py [--rounds 1000]

Two processes share the machine's Redis (database 15, a ``bench-inval:``
prefix). Each round, the reader reads a record (so it holds it in memory) and
then reads it in a busy loop; the writer, after a random pause, revokes it
(``delete_user``, as ``revoke_user`` does) or changes it (``replace``). Two
times are taken from the moment the writer's call returned: *stale*, to the
start of the last read that still saw the old record (0 when none started
after it: how long a revoked session could still be served), and *seen*, to
the end of the first read that did not. Stamps come from
``time.monotonic_ns``, one clock for every process on a Linux machine. The
same rounds without the cache give the baseline. On a shared machine a
process waiting for a CPU adds its wait to *seen*; *stale* counts only reads
that ran.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import secrets
import statistics
import time
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

import redis

from flask_strongbox.stores.base import Record
from flask_strongbox.stores.redis import RedisStore

URL = "redis://127.0.0.1:6379/15"
PREFIX = "bench-inval:"


def _store(cache: int) -> RedisStore:
    return RedisStore(redis.Redis.from_url(URL), prefix=PREFIX, cache=cache)


def _record(key: str, user: str, now: float) -> Record:
    return Record(key=key, blob=b"x" * 300, version=1, created=now, last_seen=now, expires=now + 600,
                  absolute_expires=now + 3600, user_hash=user)


def _reader(pipe: Connection, cache: int, rounds: int) -> None:
    store = _store(cache)
    for _ in range(rounds):
        key, version = pipe.recv()
        now = time.time()
        found = store.get(key, now)
        assert found is not None and found.version == version
        pipe.send("holding")
        last_old = 0
        while True:
            started = time.monotonic_ns()
            found = store.get(key, now)
            if found is None or found.version != version:
                break
            last_old = started
        pipe.send((last_old, time.monotonic_ns()))


def _writer(pipe: Connection, cache: int, rounds: int, change: str) -> tuple[list[float], list[float]]:
    store, rng = _store(cache), random.Random(16)
    stale, seen = [], []
    for _ in range(rounds):
        key, user, now = secrets.token_hex(32), secrets.token_hex(32), time.time()
        record = _record(key, user, now)
        store.create(record)
        pipe.send((key, 1))
        assert pipe.recv() == "holding"
        time.sleep(rng.uniform(0.0002, 0.002))  # the reader is in its loop by now
        if change == "revoke":
            assert store.delete_user(user) == [key]
        else:
            assert store.replace(replace(record, version=2), 1, now)
        done = time.monotonic_ns()
        last_old, first_new = pipe.recv()
        stale.append(max(0, last_old - done) / 1000)
        seen.append((first_new - done) / 1000)
        store.delete(key)
    return stale, seen


def _summary(micros: list[float]) -> dict[str, float]:
    ordered = sorted(micros)
    return {"n": len(ordered), "p50_us": statistics.median(ordered),
            "p99_us": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], "max_us": ordered[-1]}


def measure(rounds: int = 1000) -> dict[str, Any]:
    """Propagation times (µs) for a revocation and a change, cache on and off."""
    out: dict[str, Any] = {"rounds": rounds}
    context = multiprocessing.get_context("spawn")
    for cache in (1000, 0):
        for change in ("revoke", "change"):
            ours, theirs = context.Pipe()
            reader = context.Process(target=_reader, args=(theirs, cache, rounds), daemon=True)
            reader.start()
            try:
                stale, seen = _writer(ours, cache, rounds, change)
            finally:
                reader.join(30)
            name = f"{change} {'cache' if cache else 'plain'}"
            out[name] = {"stale": _summary(stale), "seen": _summary(seen)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=1000)
    print(json.dumps(measure(parser.parse_args().rounds), indent=1))


if __name__ == "__main__":
    main()
