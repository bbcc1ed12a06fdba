"""Strongbox's SQL stores at 1,000 against 1,000,000 records, a purge racing
live requests, and the raw floors of the stores themselves."""

from __future__ import annotations

import multiprocessing
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import apps
from served import log


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def sealed_rows(count: int, expired: int, now: float) -> Iterator[tuple[Any, ...]]:
    """Real sealed records (as Strongbox would write them) and, alongside, the
    cookie of each: the last ``expired`` rows expired a minute ago."""
    from flask_strongbox import ids, sealing, serialization
    from flask_strongbox.keys import Keyring

    keyring = Keyring(apps.SECRET)
    plaintext = serialization.dumps({"user": "someone", "n": 1})
    for i in range(count):
        sid = ids.new_id()
        key = ids.store_key(keyring.primary, sid)
        expires = now - 60 if i >= count - expired else now + 3600
        blob = sealing.seal(keyring, plaintext, key)
        yield (key, blob, 1, now - 120, now - 120, expires, now + 31 * 86400, None, None), sid


def fill(name: str, work: Path, table: str, count: int, expired: int, keep: int) -> list[str]:
    """Fill a fresh Strongbox table with ``count`` records; return ``keep``
    cookies of live ones, picked at random."""
    from flask_strongbox import ids
    from flask_strongbox.keys import Keyring

    store = apps.make_store(name, str(work), table=table)
    store.get("0" * 64, time.time())  # creates the table the store's own way
    store.close()
    keyring, now, rng = Keyring(apps.SECRET), time.time(), random.Random(count)
    live = count - expired
    picks = set(rng.sample(range(live), min(keep, live)))
    cookies: list[str] = []
    rows = sealed_rows(count, expired, now)

    def stream() -> Iterator[tuple[Any, ...]]:
        for i, (row, sid) in enumerate(rows):
            if i in picks:
                cookies.append(ids.sign(keyring, sid))
            yield row

    if name == "sb-sqlite":
        conn = sqlite3.connect(work / f"{table}.sqlite3", isolation_level=None)
        conn.execute("BEGIN")
        conn.executemany(f"INSERT INTO {table} VALUES (?,?,?,?,?,?,?,?,?)", stream())
        conn.execute("COMMIT")
        conn.close()
    else:
        import psycopg

        with psycopg.connect(apps.POSTGRES_URL, autocommit=True) as conn:
            with conn.cursor().copy(
                f'COPY {apps.PG_SCHEMA}.{table} (key, blob, version, created, last_seen, expires, '
                'absolute_expires, "user", info) FROM STDIN') as copy:
                for row in stream():
                    copy.write_row(row)
            conn.execute(f"ANALYZE {apps.PG_SCHEMA}.{table}")
    rng.shuffle(cookies)
    return cookies


def timed_reads(client: Any, cookies: list[str], n: int, offset: int = 0) -> list[float]:
    clock, out = time.perf_counter_ns, []
    for i in range(offset, offset + n):
        cookie = cookies[i % len(cookies)]
        t0 = clock()
        response = client.get("/read", headers={"Cookie": f"session={cookie}"})
        out.append((clock() - t0) / 1000)
        if response.status_code != 200 or not response.text.startswith("someone"):
            raise RuntimeError(f"a filled session did not load: {response.status_code} {response.text}")
    return out


def scale(plan: Any, name: str, work: Path) -> dict[str, Any]:
    folder = work / f"scale-{name}"
    folder.mkdir()
    t0 = time.perf_counter()
    small = fill(name, folder, "scale_small", plan.small_rows, 0, plan.small_rows)
    big = fill(name, folder, "scale_big", plan.scale_rows, plan.expired_rows, plan.scale_reads)
    fill_seconds = time.perf_counter() - t0
    log(f"scale {name}: filled {plan.small_rows:,} + {plan.scale_rows:,} rows in {fill_seconds:.0f} s")
    variant = f"{name}/nonperm"
    clients = {
        size: apps.make_app(variant, str(folder), table=f"scale_{size}").test_client(use_cookies=False)
        for size in ("small", "big")
    }
    times: dict[str, list[float]] = {"small": [], "big": []}
    timed_reads(clients["small"], small, 50)
    timed_reads(clients["big"], big, 50)
    rounds = 5
    for r in range(rounds):
        chunk = plan.scale_reads // rounds
        times["small"] += timed_reads(clients["small"], small, chunk, r * chunk)
        times["big"] += timed_reads(clients["big"], big, chunk, r * chunk)
    out: dict[str, Any] = {"fill_seconds": fill_seconds, "rows_small": plan.small_rows,
                           "rows_big": plan.scale_rows}
    for size in ("small", "big"):
        out[f"{size}_p50"], out[f"{size}_p99"] = pct(times[size], 0.5), pct(times[size], 0.99)
    out.update(purge_race(name, folder, clients["big"], big, plan.expired_rows))
    return out


def _purge_child(name: str, folder: str, table: str, queue: Any) -> None:
    """What ``flask sessions purge`` does: batches until nothing is left."""
    from flask_strongbox.cli import _purge_batches  # what `flask sessions purge` loops over
    from flask_strongbox.settings import Settings

    store = apps.make_store(name, folder, table=table)
    store.get("0" * 64, time.time())
    batches: list[float] = []

    class Timed:
        """The store, with each purge batch timed."""

        def purge(self, now: float, limit: int) -> int:
            t0 = time.monotonic()
            removed = store.purge(now, limit)
            batches.append(time.monotonic() - t0)
            return removed

    start = time.monotonic()
    total = sum(_purge_batches(Timed(), time.time(), Settings().purge_batch))  # type: ignore[arg-type]
    end = time.monotonic()
    queue.put({"purged": total, "purge_seconds": end - start, "start": start, "end": end,
               "batch_max_ms": max(batches) * 1000, "batch_p50_ms": pct(batches, 0.5) * 1000})


def purge_race(name: str, folder: Path, client: Any, cookies: list[str], expired: int) -> dict[str, Any]:
    """Purge the expired rows in another process while this one keeps serving
    /read and /write; keep the requests that overlapped the purge."""
    baseline = [t for _, t in _request_loop(client, cookies, lambda: False, 400)]
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_purge_child, args=(name, str(folder), "scale_big", queue))
    child.start()
    timed = _request_loop(client, cookies, lambda: not child.is_alive(), None, child)
    found = queue.get(timeout=600)
    child.join()
    if found["purged"] != expired:
        raise RuntimeError(f"purge removed {found['purged']}, expected {expired}")
    during = [t for start, t in timed if start + t / 1e6 >= found["start"] and start <= found["end"]]
    del found["start"], found["end"]
    return {**found, "requests_during": len(during), "max_wait_ms": max(during) / 1000,
            "p99_during_ms": pct(during, 0.99) / 1000, "max_baseline_ms": max(baseline) / 1000,
            "p99_baseline_ms": pct(baseline, 0.99) / 1000}


def _request_loop(client: Any, cookies: list[str], done: Callable[[], bool], limit: int | None,
                  child: Any = None) -> list[tuple[float, float]]:
    """(monotonic start, microseconds) of each request, alternating /read and /write."""
    out: list[tuple[float, float]] = []
    i = 0
    while (limit is None or i < limit) and not done():
        if child is not None and child.exitcode not in (None, 0):
            raise RuntimeError("the purge process failed")
        cookie = cookies[i % len(cookies)]
        route = "/write" if i % 2 else "/read"
        t0 = time.monotonic()
        response = client.get(route, headers={"Cookie": f"session={cookie}"})
        out.append((t0, (time.monotonic() - t0) * 1e6))
        if response.status_code != 200:
            raise RuntimeError(f"{route} answered {response.status_code} during the purge")
        i += 1
    return out


def floors(plan: Any, work: Path) -> dict[str, Any]:
    conn = sqlite3.connect(work / "floor.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE t (key TEXT PRIMARY KEY, blob BLOB, last_seen REAL)")
    keys = [os.urandom(32).hex() for _ in range(1000)]
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(k, os.urandom(120), 0.0) for k in keys])
    clock, sqlite_us = time.perf_counter_ns, []
    for i in range(plan.floor_ops):
        key = keys[i % 1000]
        t0 = clock()
        conn.execute("SELECT blob FROM t WHERE key = ?", (key,)).fetchone()
        conn.execute("UPDATE t SET last_seen = ? WHERE key = ?", (float(i), key))
        sqlite_us.append((clock() - t0) / 1000)
    conn.close()
    client, redis_us = apps.redis_client(), []
    blob = os.urandom(120)
    for i in range(plan.floor_ops):
        t0 = clock()
        client.get("bench-floor:k")
        client.set("bench-floor:k", blob + str(i).encode())
        redis_us.append((clock() - t0) / 1000)
    client.delete("bench-floor:k")
    return {"sqlite": {"p50": pct(sqlite_us, 0.5), "p99": pct(sqlite_us, 0.99)},
            "redis": {"p50": pct(redis_us, 0.5), "p99": pct(redis_us, 0.99)}}
