"""What switching to Strongbox costs: a request that brings a legacy cookie
against one that brings a Strongbox cookie, and how fast ``flask sessions
copy`` moves records.

    .venv/bin/python benchmarks/migration.py [--reps 7] [--batch 200] [--records 2000] [--json]

Requests, in-process through Flask's test client, sending the cookie as a
header (only the server's work is measured), on a Strongbox app on SQLite
with ``STRONGBOX_MIGRATE_FROM = "flask-cookie"``; each request reads the
session (``/read``):

- ``strongbox``: a Strongbox cookie, migration on (the common request);
- ``strongbox, migration off``: the same without ``STRONGBOX_MIGRATE_*``;
- ``legacy flask-cookie``: a Flask signed cookie not moved yet (each request
  a different one: the whole move, marker and new record included);
- ``legacy replayed``: a Flask cookie moved already (the marker lookup);
- ``legacy flask-session (Redis)``: a Flask-Session id, looked up in Redis,
  moved, and its old record deleted.

Batches of the variants alternate in a shuffled order; each figure is the
median over repetitions of each batch's mean microseconds per request.

Copy: ``Copier.until_settled`` from a SQLite store holding ``--records``
sealed sessions to an empty SQLite, Redis and PostgreSQL store: records/s of
the first pass (which copies everything), of a new run that finds nothing to
copy (each record compared with the target: the switch window's last pass),
and of a later pass of the same run (only records that changed are looked up).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import redis
from flask import Flask, session

from flask_strongbox import Strongbox
from flask_strongbox.copying import Copier
from flask_strongbox.interface import strongbox_of
from flask_strongbox.stores import store_from_url
from flask_strongbox.stores.base import Store

SECRET = "bench-Only-5ecret-Qz4Wm8Rt2Yp6Ln0Vb3Xc7Hj"
REDIS = "redis://127.0.0.1:6379/0"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
Request = Callable[[], None]


def app_on(path: Path, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update({"SECRET_KEY": SECRET, "STRONGBOX_STORE": f"sqlite:///{path}", **config})

    @app.route("/login/<name>")
    def login(name: str) -> str:
        session.permanent = True
        session["user"] = name
        session["cart"] = ["x" * 40] * 4
        return "ok"

    @app.route("/read")
    def read() -> str:
        return str(session.get("user"))

    Strongbox(app)
    return app


def migrating(path: Path, **more: Any) -> Flask:
    return app_on(path, STRONGBOX_MIGRATE_FROM="flask-cookie",
                  STRONGBOX_MIGRATE_UNTIL=datetime.now(timezone.utc) + timedelta(days=1), **more)


def legacy_cookies(count: int) -> list[str]:
    """Cookies of Flask's own session, as a logged-in user holds them."""
    app = Flask(__name__)
    app.config["SECRET_KEY"] = SECRET

    @app.route("/login/<name>")
    def login(name: str) -> str:
        session.permanent = True
        session["user"] = name
        session["cart"] = ["x" * 40] * 4
        return "ok"

    client, found = app.test_client(), []
    for i in range(count):
        client.get(f"/login/u{i}")
        cookie = client.get_cookie("session")
        assert cookie is not None
        found.append(cookie.value)
    return found


def strongbox_cookie(app: Flask) -> str:
    client = app.test_client()
    client.get("/login/ada")
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def sender(app: Flask, cookies: Callable[[], str], found: bool = True) -> Request:
    client = app.test_client(use_cookies=False)  # the header below is the request's only cookie

    def send() -> None:
        response = client.get("/read", headers={"Cookie": f"session={cookies()}"})
        assert response.status_code == 200 and (response.text != "None") is found

    return send


def flask_session_ids(client: redis.Redis, prefix: str, count: int) -> list[str]:
    """Flask-Session 0.8 records in Redis (its key layout and msgpack)."""
    ids = [secrets.token_urlsafe(32) for _ in range(count)]
    pipe = client.pipeline(transaction=False)
    for sid in ids:
        data = {"_permanent": True, "user": sid[:6], "cart": ["x" * 40] * 4}
        pipe.set(prefix + sid, msgspec.msgpack.encode(data), ex=3600)
    pipe.execute()
    return ids


def variants(folder: Path, batch: int, reps: int) -> dict[str, Request]:
    plain = app_on(folder / "plain.sqlite3")
    moving = migrating(folder / "moving.sqlite3")
    fresh = iter(legacy_cookies(batch * reps + 10))
    replayed = legacy_cookies(1)[0]
    sender(moving, lambda: replayed, found=True)()  # moved once: every later request is a replay
    prefix = f"bench-fs:{secrets.token_hex(4)}:"
    fs_ids = iter(flask_session_ids(redis.Redis.from_url(REDIS), prefix, batch * reps + 10))
    from_fs = app_on(folder / "fs.sqlite3", STRONGBOX_MIGRATE_FROM="flask-session",
                     STRONGBOX_MIGRATE_STORE=REDIS, SESSION_KEY_PREFIX=prefix,
                     STRONGBOX_MIGRATE_UNTIL=datetime.now(timezone.utc) + timedelta(days=1))
    own, own_plain = strongbox_cookie(moving), strongbox_cookie(plain)
    return {
        "strongbox": sender(moving, lambda: own),
        "strongbox, migration off": sender(plain, lambda: own_plain),
        "legacy flask-cookie": sender(moving, lambda: next(fresh)),
        "legacy replayed": sender(moving, lambda: replayed, found=False),
        "legacy flask-session (Redis)": sender(from_fs, lambda: next(fs_ids)),
    }


def time_requests(runs: dict[str, Request], batch: int, reps: int) -> dict[str, float]:
    per: dict[str, list[float]] = {name: [] for name in runs}
    for name, send in runs.items():  # warm up
        if not name.startswith("legacy"):
            for _ in range(20):
                send()
    for _ in range(reps):
        order = list(runs)
        random.shuffle(order)
        for name in order:
            send = runs[name]
            started = time.perf_counter()
            for _ in range(batch):
                send()
            per[name].append((time.perf_counter() - started) / batch * 1e6)
    return {name: statistics.median(values) for name, values in per.items()}


def filled_source(path: Path, records: int) -> Store:
    app = app_on(path)
    client = app.test_client()
    for i in range(records):
        client.get(f"/login/u{i}", headers={"Cookie": ""})
    return strongbox_of(app).store


def time_copies(folder: Path, records: int) -> dict[str, dict[str, float]]:
    source = filled_source(folder / "source.sqlite3", records)
    options = {"table": f"bench_copy_{secrets.token_hex(4)}", "prefix": f"bench-copy:{secrets.token_hex(4)}:",
               "timeout": 5.0, "base_dir": str(folder)}
    found = {}
    for name, url in (("SQLite", f"sqlite:///{folder}/target.sqlite3"), ("Redis", REDIS),
                      ("PostgreSQL", POSTGRES)):
        target = store_from_url(url, options)
        target.init_db()
        copier = Copier(source, target, time.time)
        started = time.perf_counter()
        copied = sum(batch.counts["created"] for batch in copier.walk())
        first = time.perf_counter() - started
        later = _timed_walk(copier)  # a later pass of the same run: only changes are looked up
        rerun = _timed_walk(Copier(source, target, time.time))  # a new run: every record compared
        found[f"SQLite → {name}"] = {"records": copied, "copy_per_s": copied / first,
                                     "rerun_per_s": rerun, "later_pass_per_s": later}
        _drop(name, target, options)
    return found


def _timed_walk(copier: Copier) -> float:
    """Records per second of one pass that finds nothing to copy."""
    started = time.perf_counter()
    seen = sum(sum(batch.counts.values()) for batch in copier.walk())
    return seen / (time.perf_counter() - started)


def _drop(name: str, target: Store, options: dict[str, Any]) -> None:
    if name == "Redis":
        client = redis.Redis.from_url(REDIS)
        for key in client.scan_iter(match=f"{options['prefix']}*", count=1000):
            client.delete(key)
    elif name == "PostgreSQL":
        import psycopg

        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            for suffix in ("", "_leases", "_meta"):
                conn.execute(f"DROP TABLE IF EXISTS {options['table']}{suffix}")
    target.close()


def main() -> None:
    # The code paths are measured, not the operator log's output.
    logging.getLogger("flask_strongbox").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        requests = time_requests(variants(Path(folder), args.batch, args.reps), args.batch, args.reps)
        copies = time_copies(Path(folder), args.records)
    if args.json:
        print(json.dumps({"requests_us": requests, "copy": copies}))
        return
    print("| request (`/read`, SQLite store) | µs per request |\n|---|---|")
    for name, micros in requests.items():
        print(f"| {name} | {micros:.0f} |")
    print("\n| copy | records | first pass, copied/s | new run, nothing to copy, records/s "
          "| later pass of a run, records/s |\n|---|---|---|---|---|")
    for name, row in copies.items():
        print(f"| {name} | {row['records']:.0f} | {row['copy_per_s']:.0f} | {row['rerun_per_s']:.0f} "
              f"| {row['later_pass_per_s']:.0f} |")


if __name__ == "__main__":
    main()
