"""Flask-Strongbox against what a Flask user would pick instead, in one run.

    .venv/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python benchmarks/run.py            # full run, writes BENCHMARKS.md (~30 min)
    .venv/bin/python benchmarks/run.py --quick    # smoke run, writes benchmarks/results/quick.md

Needs Redis on 127.0.0.1:6379 (uses database 15), PostgreSQL on 127.0.0.1:5432
(database ``test``, user ``postgres``; uses schema ``strongbox_bench``, dropped
afterwards), ``wrk`` and ``valgrind``. Every number in the output is measured
in the run that wrote it; the raw results are kept in ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import apps
import concurrency
import icount
import invalidation
import report
import scale
import served
from served import log

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ROUTES = ("/read", "/write")
SECTIONS = ("floors", "inproc", "writes", "http", "overlap", "icount", "scale", "profile", "invalidation")
REDIS_WRITES = {"SET", "SETEX", "PSETEX", "HSET", "HMSET", "DEL", "UNLINK", "EXPIRE", "PEXPIRE",
                "EVALSHA", "EVAL", "ZADD", "ZREM"}


@dataclass(frozen=True)
class Plan:
    reps: int  # interleaved repetitions in-process
    per_batch: int  # requests per variant, route and repetition
    wrk_seconds: int
    increments: int
    scale_rows: int
    small_rows: int
    expired_rows: int
    scale_reads: int
    floor_ops: int
    profile_requests: int
    icount_requests: int  # requests per variant and route under callgrind
    breakdown_requests: int
    icount_timeout: int  # seconds
    invalidation_rounds: int


FULL = Plan(reps=7, per_batch=400, wrk_seconds=5, increments=200, scale_rows=1_000_000,
            small_rows=1_000, expired_rows=100_000, scale_reads=3_000, floor_ops=20_000,
            profile_requests=3_000, icount_requests=100, breakdown_requests=20, icount_timeout=3600,
            invalidation_rounds=1000)
QUICK = Plan(reps=2, per_batch=60, wrk_seconds=1, increments=40, scale_rows=20_000,
             small_rows=1_000, expired_rows=2_000, scale_reads=300, floor_ops=1_000,
             profile_requests=300, icount_requests=5, breakdown_requests=3, icount_timeout=1800,
             invalidation_rounds=50)


# -- 1. in-process -------------------------------------------------------------


def time_batch(get: Callable[[str], Any], route: str, n: int) -> list[float]:
    """Microseconds per request for ``n`` requests of ``route``."""
    clock, out = time.perf_counter_ns, []
    for _ in range(n):
        t0 = clock()
        response = get(route)
        out.append((clock() - t0) / 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{route} answered {response.status_code}")
    return out


def in_process(plan: Plan, variants: list[str], work: Path) -> dict[str, Any]:
    work.mkdir()
    visitors, batch = {}, {}
    for variant in variants:
        get = apps.visitor(apps.make_app(variant, str(work)))
        warm = [t for route in ROUTES for t in time_batch(get, route, 50)]  # connections, caches
        visitors[variant] = get
        # A contender ten times slower gets fewer requests per batch (at least
        # 50), so that none takes more than about half a second.
        batch[variant] = max(50, min(plan.per_batch, int(0.5e6 / statistics.mean(warm))))
    runs: dict[str, list[dict[str, float]]] = {f"{v} {r}": [] for v in variants for r in ROUTES}
    rng = random.Random(7)
    for rep in range(plan.reps):
        order = variants[:]
        rng.shuffle(order)
        for variant in order:
            for route in ROUTES:
                times = time_batch(visitors[variant], route, batch[variant])
                runs[f"{variant} {route}"].append({"p50": scale.pct(times, 0.5),
                                                   "p99": scale.pct(times, 0.99)})
        log(f"in-process repetition {rep + 1}/{plan.reps} done")
    result: dict[str, Any] = {}
    for variant in variants:
        for route in ROUTES:
            reps = runs[f"{variant} {route}"]
            floor = runs[f"floor {route}"]
            costs = [r["p50"] - f["p50"] for r, f in zip(reps, floor, strict=True)]
            result[f"{variant} {route}"] = {
                "p50": statistics.median(r["p50"] for r in reps),
                "p50_min": min(r["p50"] for r in reps), "p50_max": max(r["p50"] for r in reps),
                "p99": statistics.median(r["p99"] for r in reps),
                "cost": statistics.median(costs), "cost_min": min(costs), "cost_max": max(costs),
                "batch": batch[variant],
            }
    return result


# -- 3. store writes and cookies per read ------------------------------------------


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
    conn.execute(f"CREATE TABLE IF NOT EXISTS {table}_writes (n INTEGER)")
    conn.execute(f"INSERT INTO {table}_writes SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM {table}_writes)")
    for op in ("INSERT", "UPDATE", "DELETE"):
        conn.execute(f"CREATE TRIGGER IF NOT EXISTS {table}_{op.lower()} AFTER {op} ON {table} "
                     f"BEGIN UPDATE {table}_writes SET n = n + 1; END")
    return lambda: int(conn.execute(f"SELECT n FROM {table}_writes").fetchone()[0])


def postgres_counter(table: str) -> Callable[[], int]:
    """The same triggers as :func:`sqlite_counter`, in PostgreSQL."""
    import psycopg

    conn = psycopg.connect(apps.POSTGRES_URL, autocommit=True)
    t = f"{apps.PG_SCHEMA}.{table}"
    conn.execute(f"CREATE TABLE {t}_writes (n bigint NOT NULL)")
    conn.execute(f"INSERT INTO {t}_writes VALUES (0)")
    conn.execute(f"CREATE FUNCTION {t}_count() RETURNS trigger LANGUAGE plpgsql AS "
                 f"$$ BEGIN UPDATE {t}_writes SET n = n + 1; RETURN NULL; END $$")
    conn.execute(f"CREATE TRIGGER {table}_count AFTER INSERT OR UPDATE OR DELETE ON {t} "
                 f"FOR EACH ROW EXECUTE FUNCTION {t}_count()")
    return lambda: int(conn.execute(f"SELECT n FROM {t}_writes").fetchone()[0])  # type: ignore[index]


def writes_per_read(variants: list[str], work: Path) -> dict[str, Any]:
    n = 200
    result: dict[str, Any] = {}
    for variant in variants:
        name, _ = apps.split(variant)
        folder = work / f"writes-{variant.replace('/', '-')}"
        folder.mkdir()
        kind = apps.CONTENDERS[name][1]
        table = apps.default_table(variant) + "_w"
        store = None
        if name.startswith("sb-"):
            store = CountingStore(apps.make_store(name, str(folder), table=table))
        app = apps.make_app(variant, str(folder), store=store, table=table)
        get = apps.visitor(app)
        time_batch(get, "/read", 5)
        count = _counter(name, kind, app, folder, store, table)
        before, cookies = (count() if count else 0), 0
        for _ in range(n):
            cookies += "Set-Cookie" in get("/read").headers
        after = count() if count else 0
        result[variant] = {
            "method": _METHODS[kind] if name != "floor" else "no store",
            "writes_per_read": None if count is None else (after - before) / n,
            "set_cookie_per_read": cookies / n,
        }
    result["sb-memory clocked"] = _clocked_reads(work)
    return result


def _counter(name: str, kind: str, app: Any, folder: Path, store: Any,
             table: str) -> Callable[[], int] | None:
    if kind == "sqlite":
        path = folder / ("fs.sqlite3" if name == "fs-sqlite" else f"{table}.sqlite3")
        return sqlite_counter(path, table)
    if kind == "redis":
        return lambda: sum(v for k, v in apps.COUNTS.items() if k in REDIS_WRITES)
    if kind == "postgres":
        return postgres_counter(table)
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


_METHODS = {
    "sqlite": "rows changed (SQLite triggers)", "redis": "write commands sent (counting client)",
    "postgres": "rows changed (PostgreSQL triggers)", "file": "cache set/add/delete calls",
    "memory": "store write calls", "cookie": "no store", "none": "no store",
}


def _clocked_reads(work: Path) -> dict[str, Any]:
    """Strongbox on memory with a clock moving 1 s per request: the sliding
    expiry is written at most once per STRONGBOX_TOUCH_INTERVAL (60 s)."""
    now = [time.time()]
    store = CountingStore(apps.make_store("sb-memory", str(work)))
    get = apps.visitor(apps.make_app("sb-memory/nonperm", str(work), store=store, clock=lambda: now[0]))
    store.writes = 0
    for _ in range(600):
        now[0] += 1.0
        assert get("/read").status_code == 200
    return {"reads": 600, "seconds": 600, "writes": store.writes}


# -- profile ---------------------------------------------------------------------


def profiles(plan: Plan, work: Path) -> dict[str, str]:
    """pyinstrument call trees of Strongbox /read and /write, in-process."""
    from pyinstrument import Profiler

    out = {}
    for variant in ("sb-sqlite/perm", "sb-redis/perm"):
        folder = work / f"profile-{variant.replace('/', '-')}"
        folder.mkdir()
        get = apps.visitor(apps.make_app(variant, str(folder), table="profile"))
        for route in ROUTES:
            time_batch(get, route, 50)
            profiler = Profiler(interval=0.0002)
            profiler.start()
            time_batch(get, route, plan.profile_requests)
            profiler.stop()
            out[f"{variant} {route}"] = profiler.output_text(unicode=False, color=False, show_all=False)
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
        "wrk": wrk_version, "exclusive": apps.exclusive_available(),
        "packages": {d: version(d) for d in ("flask", "werkzeug", "flask-strongbox", "flask-session",
                                             "cachelib", "flask-sqlalchemy", "sqlalchemy", "redis",
                                             "psycopg", "cryptography", "gunicorn", "pyinstrument")},
    }


def reset_shared_stores() -> None:
    import psycopg

    with psycopg.connect(apps.POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {apps.PG_SCHEMA} CASCADE")
    client = apps.redis_client()
    for pattern in ("bench-fs:*", "bench-sb:*", "bench-floor:*", "bench-inval:*"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)


def run_sections(plan: Plan, sections: list[str], work: Path, results: dict[str, Any]) -> None:
    variants = apps.variants()
    if "floors" in sections:
        results["floors"] = scale.floors(plan, work)
        log("floors done")
    if "inproc" in sections:
        results["inproc"] = in_process(plan, variants, work / "inproc")
    if "writes" in sections:
        results["writes"] = writes_per_read(variants, work)
        log("store writes done")
    if "http" in sections:
        (work / "http").mkdir()
        results["http"] = served.over_http(plan.wrk_seconds, variants, work / "http")
    if "overlap" in sections:
        (work / "overlap").mkdir()
        results["overlap"] = concurrency.overlapping(plan.increments, plan.wrk_seconds, work / "overlap")
    if "icount" in sections:
        log(f"callgrind: {plan.icount_requests} requests per variant and route, two runs side by side")
        results["icount"] = icount.measure(plan.icount_requests, plan.breakdown_requests, work,
                                           plan.icount_timeout)
        log(f"callgrind done in {results['icount']['seconds']:.0f} s")
    if "scale" in sections:
        results["scale"] = {name: scale.scale(plan, name, work) for name in ("sb-sqlite", "sb-postgres")}
    if "profile" in sections:
        results["profiles"] = profiles(plan, work)
    if "invalidation" in sections:
        results["invalidation"] = invalidation.measure(plan.invalidation_rounds)
        log("invalidation done")


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
        report.write(out, report.render(json.loads(Path(options.render).read_text())))
        log(f"wrote {out}")
        return
    plan = QUICK if options.quick else FULL
    sections = options.only.split(",") if options.only else list(SECTIONS)
    results: dict[str, Any] = {"plan": asdict(plan), "quick": options.quick, "env": environment(),
                               "contenders": apps.CONTENDERS, "variants": apps.variants()}
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="strongbox-bench-"))
    reset_shared_stores()
    apps.ensure_pg_schema()
    try:
        run_sections(plan, sections, work, results)
    finally:
        reset_shared_stores()
        shutil.rmtree(work, ignore_errors=True)
    results["seconds"] = time.perf_counter() - started
    results["env"]["load_after"] = os.getloadavg()
    saved = HERE / "results" / ("quick.json" if options.quick else "full.json")
    saved.parent.mkdir(exist_ok=True)
    saved.write_text(json.dumps(results, indent=1))
    report.write(out, report.render(results))
    log(f"done in {results['seconds']:.0f} s; wrote {out} and {saved}")


if __name__ == "__main__":
    main()
