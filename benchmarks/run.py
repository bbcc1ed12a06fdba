"""Flask-Strongbox against what a Flask user would pick instead, in one run.

    .venv/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python benchmarks/run.py            # full run, writes BENCHMARKS.md (< 15 min)
    .venv/bin/python benchmarks/run.py --quick    # smoke run, writes benchmarks/results/quick.md

Needs Redis on 127.0.0.1:6379 (uses database 15), PostgreSQL on 127.0.0.1:5432
(database ``test``, user ``postgres``; uses schema ``strongbox_bench``, dropped
afterwards) and ``wrk``. Every number in the output is measured in the run that
wrote it; the raw results are kept in ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import platform
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from http.cookies import SimpleCookie
from importlib import metadata
from pathlib import Path
from typing import Any

import apps
import report

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
ROUTES = ("/read", "/write")
SECTIONS = ("floors", "inproc", "writes", "http", "incr", "scale", "profile")
REDIS_WRITES = {"SET", "SETEX", "PSETEX", "HSET", "HMSET", "DEL", "UNLINK", "EXPIRE", "PEXPIRE",
                "EVALSHA", "EVAL", "ZADD", "ZREM"}


@dataclass(frozen=True)
class Plan:
    reps: int  # interleaved repetitions in-process
    per_batch: int  # requests per contender, route and repetition
    wrk_seconds: int
    increments: int
    scale_rows: int
    small_rows: int
    expired_rows: int
    scale_reads: int
    floor_ops: int
    profile_requests: int


FULL = Plan(reps=7, per_batch=600, wrk_seconds=5, increments=200, scale_rows=1_000_000,
            small_rows=1_000, expired_rows=100_000, scale_reads=3_000, floor_ops=20_000,
            profile_requests=3_000)
QUICK = Plan(reps=2, per_batch=100, wrk_seconds=1, increments=40, scale_rows=20_000,
             small_rows=1_000, expired_rows=2_000, scale_reads=300, floor_ops=1_000,
             profile_requests=300)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- 1. in-process -------------------------------------------------------------


def login(client: Any) -> None:
    response = client.post("/login", data={"user": "alice"})
    assert response.status_code == 200, response.status_code


def time_batch(client: Any, route: str, n: int) -> list[float]:
    """Microseconds per request for ``n`` requests of ``route``."""
    clock, out = time.perf_counter_ns, []
    for _ in range(n):
        t0 = clock()
        response = client.get(route)
        out.append((clock() - t0) / 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{route} answered {response.status_code}")
    return out


def in_process(plan: Plan, names: list[str], work: Path) -> dict[str, Any]:
    work.mkdir()
    clients = {}
    for name in names:
        client = apps.make_app(name, str(work)).test_client()
        login(client)
        for route in ROUTES:
            time_batch(client, route, 50)  # warm-up: connections, caches
        clients[name] = client
    runs: dict[str, list[dict[str, float]]] = {f"{n} {r}": [] for n in names for r in ROUTES}
    rng = random.Random(7)
    for rep in range(plan.reps):
        order = names[:]
        rng.shuffle(order)
        for name in order:
            for route in ROUTES:
                times = time_batch(clients[name], route, plan.per_batch)
                runs[f"{name} {route}"].append({"p50": pct(times, 0.5), "p99": pct(times, 0.99)})
        log(f"in-process repetition {rep + 1}/{plan.reps} done")
    result: dict[str, Any] = {}
    for name in names:
        for route in ROUTES:
            reps = runs[f"{name} {route}"]
            floor = runs[f"floor {route}"]
            costs = [r["p50"] - f["p50"] for r, f in zip(reps, floor, strict=True)]
            result[f"{name} {route}"] = {
                "p50": statistics.median(r["p50"] for r in reps),
                "p50_min": min(r["p50"] for r in reps), "p50_max": max(r["p50"] for r in reps),
                "p99": statistics.median(r["p99"] for r in reps),
                "cost": statistics.median(costs), "cost_min": min(costs), "cost_max": max(costs),
            }
    return result


# -- 2. over HTTP ----------------------------------------------------------------

SERVERS = {
    "sync": ["-w", "2", "-k", "sync"],
    "gthread": ["-w", "1", "-k", "gthread", "--threads", "4"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def gunicorn(name: str, work: Path, args: list[str]) -> Iterator[int]:
    port = free_port()
    env = {**os.environ, "BENCH_CONTENDER": name, "BENCH_DIR": str(work)}
    errors = open(work / f"gunicorn-{name}.log", "a")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), "--pythonpath", str(HERE), "-b", f"127.0.0.1:{port}", *args,
         "--log-level", "warning", "--graceful-timeout", "2", "apps:from_env()"],
        env=env, cwd=str(work), stdout=subprocess.DEVNULL, stderr=errors,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                http_request(port, "GET", "/read")
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"gunicorn for {name} did not start; see {work}") from None
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        errors.close()


def http_request(port: int, method: str, path: str, cookie: str | None = None,
                 body: str | None = None) -> tuple[int, str, str | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Cookie": f"session={cookie}"} if cookie else {}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    text = response.read().decode()
    jar = SimpleCookie()
    for value in response.headers.get_all("Set-Cookie") or []:
        jar.load(value)
    conn.close()
    return response.status, text, jar["session"].value if "session" in jar else None


def http_login(port: int, name: str) -> str:
    status, _, cookie = http_request(port, "POST", "/login", body="user=alice")
    if status != 200 or (not cookie and name != "floor"):
        raise RuntimeError(f"login over HTTP to {name} failed: {status}, cookie {cookie!r}")
    return cookie or ""


def wrk(port: int, route: str, cookie: str, seconds: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", "-c4", f"-d{seconds}s", "--latency", "-H", f"Cookie: session={cookie}",
         f"http://127.0.0.1:{port}{route}"],
        capture_output=True, text=True, check=True, timeout=seconds + 30,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = _wrk_ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "p99_ms": p99, "requests": total, "non2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": sum(int(g) for g in errors.groups()) if errors else 0}


def _wrk_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def over_http(plan: Plan, names: list[str], work: Path) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for server, args in SERVERS.items():
        for name in names:
            if name == "sb-memory" and server == "sync":
                continue  # a per-process store cannot serve one session from two workers
            with gunicorn(name, work, args) as port:
                cookie = http_login(port, name)
                for route in ROUTES:
                    for _ in range(20):
                        http_request(port, "GET", route, cookie)
                    result[f"{server} {name} {route}"] = wrk(port, route, cookie, plan.wrk_seconds)
            log(f"http {server} {name}: " + ", ".join(
                f"{r} {result[f'{server} {name} {r}']['rps']:.0f} req/s" for r in ROUTES))
    return result


# -- 3. store writes per read, and concurrent increments ---------------------------


class CountingStore:
    """Wraps a Strongbox store and counts the calls that write."""

    WRITES = ("create", "replace", "touch", "delete", "delete_user", "purge")

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.writes = inner, inner.name, 0

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self.inner, attr)
        if attr in self.WRITES:
            def counted(*args: Any) -> Any:
                self.writes += 1
                return value(*args)
            return counted
        return value


def sqlite_counter(path: Path, table: str) -> Callable[[], int]:
    """Triggers that count every row inserted, updated or deleted in ``table``."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE IF NOT EXISTS bench_writes (n INTEGER)")
    conn.execute("INSERT INTO bench_writes SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM bench_writes)")
    for op in ("INSERT", "UPDATE", "DELETE"):
        conn.execute(f"CREATE TRIGGER IF NOT EXISTS bench_{op.lower()} AFTER {op} ON {table} "
                     "BEGIN UPDATE bench_writes SET n = n + 1; END")
    return lambda: int(conn.execute("SELECT n FROM bench_writes").fetchone()[0])


def postgres_counter(table: str) -> Callable[[], int]:
    """The same triggers as :func:`sqlite_counter`, in PostgreSQL."""
    import psycopg

    conn = psycopg.connect(apps.POSTGRES_URL, autocommit=True)
    schema = apps.PG_SCHEMA
    conn.execute(f"CREATE TABLE {schema}.bench_writes (n bigint NOT NULL)")
    conn.execute(f"INSERT INTO {schema}.bench_writes VALUES (0)")
    conn.execute(f"CREATE FUNCTION {schema}.bench_count() RETURNS trigger LANGUAGE plpgsql AS "
                 f"$$ BEGIN UPDATE {schema}.bench_writes SET n = n + 1; RETURN NULL; END $$")
    conn.execute(f"CREATE TRIGGER bench_count AFTER INSERT OR UPDATE OR DELETE ON {schema}.{table} "
                 f"FOR EACH ROW EXECUTE FUNCTION {schema}.bench_count()")
    return lambda: int(conn.execute(f"SELECT n FROM {schema}.bench_writes").fetchone()[0])  # type: ignore[index]


def redis_counter() -> Callable[[], int]:
    return lambda: sum(v for k, v in apps.COUNTS.items() if k in REDIS_WRITES)


def writes_per_read(plan: Plan, names: list[str], work: Path) -> dict[str, Any]:
    n = 200
    result: dict[str, Any] = {}
    for name in names:
        folder = work / f"writes-{name}"
        folder.mkdir()
        kind = apps.CONTENDERS[name][1]
        store = None
        if name.startswith("sb-"):
            store = CountingStore(apps.make_store(name, str(folder), table="writes_probe"))
        app = apps.make_app(name, str(folder), store=store, table="writes_probe")
        client = app.test_client()
        login(client)
        time_batch(client, "/read", 5)
        count = _counter(name, kind, app, folder, store)
        before, cookies = (count() if count else 0), 0
        for _ in range(n):
            response = client.get("/read")
            cookies += "Set-Cookie" in response.headers
        after = count() if count else 0
        result[name] = {
            "method": _method(name, kind),
            "writes_per_read": None if count is None else (after - before) / n,
            "set_cookie_per_read": cookies / n,
            "calls_per_read": None if store is None else store.writes / n,
        }
        if store is not None:
            store.writes = 0
    result["sb-memory clocked"] = _clocked_reads(work)
    return result


def _counter(name: str, kind: str, app: Any, folder: Path, store: Any) -> Callable[[], int] | None:
    if kind == "sqlite":
        path, table = ((folder / "fs.sqlite3", "sessions") if name == "fs-sqlite"
                       else (folder / "writes_probe.sqlite3", "writes_probe"))
        return sqlite_counter(path, table)
    if kind == "redis":
        return redis_counter()
    if kind == "postgres":
        return postgres_counter("writes_probe")
    if kind == "file":
        cache = app.session_interface.cache
        calls = {"n": 0}
        for method in ("set", "add", "delete"):
            original = getattr(cache, method)

            def counted(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                calls["n"] += 1
                return _original(*args, **kwargs)
            setattr(cache, method, counted)
        return lambda: calls["n"]
    if kind == "memory":
        return lambda: int(store.writes)
    return None


def _method(name: str, kind: str) -> str:
    return {
        "sqlite": "rows changed (SQLite triggers)", "redis": "write commands sent (counting client)",
        "postgres": "rows changed (PostgreSQL triggers)", "file": "cache set/add/delete calls",
        "memory": "store write calls", "cookie": "no store", "none": "no store",
    }[kind] if name != "floor" else "no store"


def _clocked_reads(work: Path) -> dict[str, Any]:
    """Strongbox on memory with a clock moving 1 s per request: the sliding
    expiry is written at most once per STRONGBOX_TOUCH_INTERVAL (60 s)."""
    from flask_strongbox import Strongbox

    now = [time.time()]
    store = CountingStore(apps.make_store("sb-memory", str(work)))
    app = apps.make_app("floor", str(work))
    Strongbox(app, store=store, clock=lambda: now[0])
    client = app.test_client()
    login(client)
    store.writes = 0
    for _ in range(600):
        now[0] += 1.0
        assert client.get("/read").status_code == 200
    return {"reads": 600, "seconds": 600, "writes": store.writes}


def concurrent_increments(plan: Plan, names: list[str], work: Path) -> dict[str, Any]:
    """``plan.increments`` concurrent /write on one session over gunicorn
    (2 workers x 4 threads, 16 client threads); how many are in the counter after."""
    result: dict[str, Any] = {}
    for name in names:
        if apps.CONTENDERS[name][1] in ("none", "cookie", "memory"):
            continue
        folder = work / f"incr-{name}"
        folder.mkdir()
        with gunicorn(name, folder, ["-w", "2", "-k", "gthread", "--threads", "4"]) as port:
            cookie = http_login(port, name)

            def increment(_: int, port: int = port, cookie: str = cookie) -> tuple[int, int]:
                """Send one increment; a 503 asks the client to retry (Retry-After),
                so retry it, up to 20 times, after a short random pause."""
                first = status = http_request(port, "GET", "/write", cookie)[0]
                for _retry in range(20):
                    if status != 503:
                        break
                    time.sleep(random.uniform(0.005, 0.05))
                    status = http_request(port, "GET", "/write", cookie)[0]
                return first, status

            with ThreadPoolExecutor(16) as pool:
                outcomes = list(pool.map(increment, range(plan.increments)))
            _, text, _ = http_request(port, "GET", "/read", cookie)
        firsts = [first for first, _ in outcomes]
        statuses = [final_status for _, final_status in outcomes]
        ok = statuses.count(200)
        final = int(text.split()[-1])
        result[name] = {"sent": plan.increments, "ok": ok, "counter": final,
                        "persisted": final / plan.increments,
                        "first_try_503": firsts.count(503),
                        "statuses": {str(s): statuses.count(s) for s in sorted(set(statuses))}}
        log(f"increments {name}: {final}/{plan.increments} persisted, {ok} answered 200")
    return result


# -- 4. scale --------------------------------------------------------------------


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


def scale(plan: Plan, name: str, work: Path) -> dict[str, Any]:
    folder = work / f"scale-{name}"
    folder.mkdir()
    t0 = time.perf_counter()
    small = fill(name, folder, "scale_small", plan.small_rows, 0, plan.small_rows)
    big = fill(name, folder, "scale_big", plan.scale_rows, plan.expired_rows, plan.scale_reads)
    fill_seconds = time.perf_counter() - t0
    log(f"scale {name}: filled {plan.small_rows:,} + {plan.scale_rows:,} rows in {fill_seconds:.0f} s")
    clients = {
        size: apps.make_app(name, str(folder), table=f"scale_{size}").test_client(use_cookies=False)
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
    from flask_strongbox.cli import purge_in_batches
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
    total = purge_in_batches(Timed(), time.time(), Settings().purge_batch)  # type: ignore[arg-type]
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


# -- 5. floors -------------------------------------------------------------------


def floors(plan: Plan, work: Path) -> dict[str, Any]:
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


# -- profile ---------------------------------------------------------------------


def profiles(plan: Plan, work: Path) -> dict[str, str]:
    """pyinstrument call trees of Strongbox /read and /write, in-process."""
    from pyinstrument import Profiler

    out = {}
    for name in ("sb-sqlite", "sb-redis"):
        folder = work / f"profile-{name}"
        folder.mkdir()
        client = apps.make_app(name, str(folder), table="profile").test_client()
        login(client)
        for route in ROUTES:
            time_batch(client, route, 50)
            profiler = Profiler(interval=0.0002)
            profiler.start()
            time_batch(client, route, plan.profile_requests)
            profiler.stop()
            out[f"{name} {route}"] = profiler.output_text(unicode=False, color=False, show_all=False)
    return out


# -- the run ---------------------------------------------------------------------


def environment() -> dict[str, Any]:
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    cpu = "unknown"
    with contextlib.suppress(OSError, StopIteration):
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    redis_version = apps.redis_client().info("server")["redis_version"]
    import psycopg

    with psycopg.connect(apps.POSTGRES_URL) as conn:
        pg_version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split()[1]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"), "cpu": cpu, "cores": os.cpu_count(),
        "load_before": os.getloadavg(), "os": platform.platform(), "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version, "redis_server": redis_version, "postgres_server": pg_version,
        "wrk": wrk_version,
        "packages": {d: version(d) for d in ("flask", "werkzeug", "flask-strongbox", "flask-session",
                                             "cachelib", "flask-sqlalchemy", "sqlalchemy", "redis",
                                             "psycopg", "cryptography", "gunicorn", "pyinstrument")},
    }


def reset_shared_stores() -> None:
    import psycopg

    with psycopg.connect(apps.POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {apps.PG_SCHEMA} CASCADE")
    client = apps.redis_client()
    for pattern in ("bench-fs:*", "bench-sb:*", "bench-floor:*"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--only", help="comma-separated sections, of: " + ",".join(SECTIONS))
    parser.add_argument("--render", metavar="JSON", help="only re-render the report from saved results")
    parser.add_argument("--out", help="report file (default BENCHMARKS.md, or results/quick.md with --quick)")
    options = parser.parse_args()
    out = Path(options.out) if options.out else (
        HERE / "results" / "quick.md" if options.quick else ROOT / "BENCHMARKS.md")
    if options.render:
        results = json.loads(Path(options.render).read_text())
        out.write_text(report.render(results))
        log(f"wrote {out}")
        return
    plan = QUICK if options.quick else FULL
    sections = options.only.split(",") if options.only else list(SECTIONS)
    names = list(apps.CONTENDERS)
    results: dict[str, Any] = {"plan": asdict(plan), "quick": options.quick, "env": environment(),
                               "contenders": apps.CONTENDERS}
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="strongbox-bench-"))
    reset_shared_stores()
    try:
        if "floors" in sections:
            results["floors"] = floors(plan, work)
            log("floors done")
        if "inproc" in sections:
            results["inproc"] = in_process(plan, names, work / "inproc")
        if "writes" in sections:
            results["writes"] = writes_per_read(plan, names, work)
            log("store writes done")
        if "http" in sections:
            (work / "http").mkdir()
            results["http"] = over_http(plan, names, work / "http")
        if "incr" in sections:
            results["incr"] = concurrent_increments(plan, names, work)
        if "scale" in sections:
            results["scale"] = {name: scale(plan, name, work) for name in ("sb-sqlite", "sb-postgres")}
        if "profile" in sections:
            results["profiles"] = profiles(plan, work)
    finally:
        reset_shared_stores()
        shutil.rmtree(work, ignore_errors=True)
    results["seconds"] = time.perf_counter() - started
    results["env"]["load_after"] = os.getloadavg()
    saved = HERE / "results" / ("quick.json" if options.quick else "full.json")
    saved.parent.mkdir(exist_ok=True)
    saved.write_text(json.dumps(results, indent=1))
    out.write_text(report.render(results))
    log(f"done in {results['seconds']:.0f} s; wrote {out} and {saved}")


if __name__ == "__main__":
    main()
