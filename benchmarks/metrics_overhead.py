"""What ``STRONGBOX_METRICS`` costs per request, in-process.

    .venv/bin/python benchmarks/metrics_overhead.py [--reps 15] [--batch 2000] [--icount 300]

The benchmark's app (``apps.add_routes``: ``/read`` reads the session, the
one store ``get`` of a read-only request) on the memory and SQLite stores,
each with metrics off and on (a registry of its own).

Wall clock: batches of requests alternate between the variants in a shuffled
order, so drift hits all alike; the median over repetitions of each batch's
median microseconds per request, and the difference on minus off.

Instructions (``--icount N``, needs ``valgrind``): one child per variant
under callgrind, counting only inside a loop of N requests entered through
``sys.call_tracing`` (as ``icount.py`` does); a busy machine does not move
these counts.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apps
from flask import Flask
from prometheus_client import CollectorRegistry

from flask_strongbox import Strongbox

STORES = ("sb-memory", "sb-sqlite")


def make_app(store_name: str, workdir: str, metrics: bool) -> Flask:
    table = f"t_metrics_{store_name.replace('-', '_')}_{int(metrics)}"
    app = Flask(f"bench_{table}", instance_path=f"{workdir}/instance")
    app.config.update(SECRET_KEY=apps.SECRET, BENCH_PERMANENT=False)
    store = apps.make_store(store_name, workdir, table=table)
    Strongbox(app, store=store, metrics=CollectorRegistry() if metrics else None)
    apps.add_routes(app)
    return app


def batch_median(get: Callable[[str], Any], route: str, n: int) -> float:
    """The median microseconds per request of ``n`` requests of ``route``."""
    times = []
    for _ in range(n):
        started = time.perf_counter_ns()
        response = get(route)
        times.append((time.perf_counter_ns() - started) / 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{route} answered {response.status_code}")
    return statistics.median(times)


def _loop(get: Callable[[str], Any], n: int) -> None:
    for _ in range(n):
        if get("/read").status_code != 200:
            raise RuntimeError("/read failed")


def child(store: str, metrics: bool, n: int) -> None:
    """Under callgrind: set up, warm, then the counted loop."""
    with tempfile.TemporaryDirectory() as workdir:
        get = apps.visitor(make_app(store, workdir, metrics))
        for _ in range(20):
            get("/read")
        gc.collect()
        gc.freeze()
        sys.call_tracing(_loop, (get, n))


def instructions(store: str, metrics: bool, n: int, folder: Path) -> float:
    """Instructions per ``/read``, counted by callgrind."""
    out = folder / f"cg-{store}-{int(metrics)}.out"
    subprocess.run(
        ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=_PyEval_CallTracing",
         f"--callgrind-out-file={out}", sys.executable, __file__, "--child",
         json.dumps([store, metrics, n])],
        check=True, capture_output=True, env={"PYTHONHASHSEED": "0", "PATH": "/usr/bin:/bin"},
    )
    for line in out.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1]) / n
    raise RuntimeError(f"no totals in {out}")


def icount(n: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        print(f"/read, instructions per request (callgrind, {n} requests per variant)")
        print(f"{'store':10}  {'off':>10}  {'on':>10}  {'on - off':>9}")
        for store in STORES:
            off, on = (instructions(store, m, n, Path(folder)) for m in (False, True))
            print(f"{store:10}  {off:10,.0f}  {on:10,.0f}  {on - off:+9,.0f}  ({(on - off) / off:+.1%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--icount", type=int, default=0, metavar="N")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*json.loads(args.child))
        return
    if args.icount:
        icount(args.icount)
        return
    with tempfile.TemporaryDirectory() as workdir:
        visitors = {(s, m): apps.visitor(make_app(s, workdir, m)) for s in STORES for m in (False, True)}
        for get in visitors.values():
            batch_median(get, "/read", 200)  # warm: connections, caches
        runs: dict[tuple[str, bool], list[float]] = {key: [] for key in visitors}
        rng = random.Random(7)
        for _ in range(args.reps):
            order = list(visitors)
            rng.shuffle(order)
            for key in order:
                runs[key].append(batch_median(visitors[key], "/read", args.batch))
    print(f"/read, median of {args.reps} batches of {args.batch} requests, microseconds per request")
    print(f"{'store':10}  {'off':>8}  {'on':>8}  {'on - off':>9}  (range of on - off per repetition)")
    for store in STORES:
        off, on = runs[(store, False)], runs[(store, True)]
        deltas = [b - a for a, b in zip(off, on, strict=True)]
        print(f"{store:10}  {statistics.median(off):8.1f}  {statistics.median(on):8.1f}  "
              f"{statistics.median(deltas):+9.1f}  ({min(deltas):+.1f} .. {max(deltas):+.1f})")


if __name__ == "__main__":
    main()
