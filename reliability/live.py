"""``./dev prove``: the real-process run. gunicorn workers serve
:mod:`reliability.live_app` on real SQLite, Redis or PostgreSQL; browsers
(threads with a cookie jar each, two tabs apiece) send overlapping pages and
record what they saw; faults come from outside; the history goes to the same
checker as the simulator's.

    ./dev prove [--minutes M] [--store sqlite|redis|postgres|all]

Faults: ``kill -9`` of a worker mid-request, the clock moved (a file the app
reads), and per store: its own ``redis-server`` killed and restarted
(append-only file, fsync always) or stalled with SIGSTOP past the store
timeout; the run's own PostgreSQL connections terminated
(``pg_terminate_backend``, matched by the run's own table). Loopback only;
the shared servers are never stopped, and the run's table is dropped.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import random
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from .checker import check
from .history import Event, History
from .live_servers import PG_URL, ROOT, Clock, Fault, PostgresTable, RedisServer, gunicorn, kill_a_worker
from .sim.plan import NAMES

STORES = ("sqlite", "redis", "postgres")
_COOKIE = re.compile(r"^session=([^;]*);")
_PAGES = {"read": 2.0, "set": 2.0, "delete": 0.8, "nested": 2.0, "append": 2.0, "consume": 1.5,
          "incr": 2.0, "login": 1.2, "logout": 0.4, "regenerate": 0.4}
#: Requests one browser sends before it retires (a new one takes its place).
LIFETIME = 120
BROWSERS = 4


def fetch(port: int, path: str, cookie: str | None) -> tuple[int, str, str | None, str]:
    """GET ``path``: the status, body, the session cookie set (``""``:
    cleared, ``None``: untouched) and ``X-Outcome``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10.0)
    try:
        conn.request("GET", path, headers={"Cookie": f"session={cookie}"} if cookie else {})
        response = conn.getresponse()
        body = response.read().decode()
        got = None
        for header in response.headers.get_all("Set-Cookie") or ():
            match = _COOKIE.match(header)
            if match:
                got = "" if not match.group(1) or "Max-Age=0" in header else match.group(1)
        return response.status, body, got, response.headers.get("X-Outcome", "")
    finally:
        conn.close()


@dataclass
class Browser:
    number: int
    jar: str | None = None
    sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Run:
    """One store's run: the history recorded so far, the faults injected."""

    def __init__(self, port: int, seed: int) -> None:
        self.port = port
        self.rng = random.Random(seed)
        self.ids = itertools.count(1)
        self.started = time.monotonic()
        self.events: list[Event] = []
        self.browsers: list[Browser] = []
        self.faults = Counter[str]()
        self.errors: list[str] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._numbers = itertools.count()

    def now(self) -> float:
        return time.monotonic() - self.started

    def record(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def new_browser(self) -> Browser:
        browser = Browser(next(self._numbers))
        with self._lock:
            self.browsers.append(browser)
        return browser

    # -- pages -------------------------------------------------------------------

    def page(self, browser: Browser, rng: random.Random) -> None:
        op = rng.choices(list(_PAGES), list(_PAGES.values()))[0]
        rid = next(self.ids)
        key, value = _arguments(op, rid, rng)
        query = {k: v for k, v in (("key", key), ("value", value)) if v is not None}
        if rng.random() < 0.25:
            query["exclusive"] = "1"
        if op == "login" and browser.number % 3 == 0:
            query["permanent"] = "1"
        self.send(browser, Event(rid, browser.number, op, key, value), f"/op/{op}?{urlencode(query)}")

    def send(self, browser: Browser, event: Event, path: str) -> None:
        with browser.lock:
            event.sent = browser.jar
            browser.sent += 1
        event.invoked = self.now()
        try:
            status, body, got, outcome = fetch(self.port, path, event.sent)
        except (OSError, http.client.HTTPException) as exc:
            event.completed, event.status, event.detail = self.now(), "unknown", type(exc).__name__
            self.record(event)
            return
        with browser.lock:  # the jar takes the answers in the order they arrive
            event.completed = self.now()
            if status == 200 and got is not None:
                browser.jar = got or None
        if status == 200:
            event.status, event.got = "ok", got
            event.seen = json.loads(body).get("seen") if event.op not in ("revoke", "revoke_user") else None
        elif status == 503 and event.op not in ("revoke", "revoke_user"):
            event.status = "conflict" if outcome == "conflict" else "unknown"
        elif status == 503:
            event.status = "unknown"  # the operator's deletions may have begun
        else:
            event.status = "unknown"
            self.errors.append(f"request {event.rid} ({event.describe()}) answered {status}")
        self.record(event)

    def tab(self, seed: int, browser: Browser) -> None:
        rng = random.Random(seed)
        while not self.stop.is_set():
            if browser.sent >= LIFETIME:
                browser = self.new_browser()
            self.page(browser, rng)
            if rng.random() < 0.3:
                time.sleep(rng.uniform(0, 0.01))

    def operator(self) -> None:
        while not self.stop.wait(self.rng.uniform(0.5, 2.0)):
            if self.rng.random() < 0.7 and self.browsers:
                browser = self.rng.choice(self.browsers[-BROWSERS * 2:])
                self.send(browser, Event(next(self.ids), browser.number, "revoke"), "/admin/revoke")
            else:
                name = self.rng.choice(NAMES)
                self.send(Browser(-1), Event(next(self.ids), -1, "revoke_user", value=name),
                          f"/admin/revoke_user/{name}")

    def final(self) -> dict[int, dict[str, Any]]:
        """Each browser's session once the faults stopped."""
        final: dict[int, dict[str, Any]] = {}
        for browser in self.browsers:
            for _ in range(20):
                try:
                    status, body, _got, _ = fetch(self.port, "/op/read", browser.jar)
                except (OSError, http.client.HTTPException):
                    status = 0
                if status == 200:
                    final[browser.number] = json.loads(body)["seen"]
                    break
                time.sleep(0.2)
        return final


def _arguments(op: str, rid: int, rng: random.Random) -> tuple[str | None, str | None]:
    if op == "set":
        return rng.choice(("lang", "theme")), f"v{rid}"
    if op == "delete":
        return rng.choice(("lang", "theme", "cart")), None
    if op == "nested":
        return "cart." + rng.choice("abc"), f"v{rid}"
    if op == "append":
        return None, f"v{rid}"
    if op == "login":
        return None, rng.choice(NAMES)
    return None, None


def _move_clock(clock: Clock, run: Run, rng: random.Random) -> str:
    if rng.random() < 0.1:
        event = Event(next(run.ids), -1, "expire", invoked=run.now(), status="ok")
        clock.move(32 * 86400.0)
        event.completed = run.now()
        run.record(event)
        return "clock moved 32 days (every session expires)"
    clock.move(rng.uniform(3.5, 30.0))
    return "clock moved past the lease"


def prove(store: str, minutes: float, seed: int) -> dict[str, Any]:
    """One store's run of ``minutes``; its numbers and violations."""
    folder = Path(tempfile.mkdtemp(prefix=f"strongbox-prove-{store}-"))
    clock = Clock(folder)
    env = {"SECRET_KEY": secrets.token_hex(32), "STRONGBOX_LIVE_CLOCK": str(clock.path)}
    faults: list[tuple[str, Fault]] = []
    redis = table = None
    try:
        if store == "sqlite":
            env["STRONGBOX_STORE"] = f"sqlite:///{folder / 'live.sqlite3'}"
        elif store == "redis":
            redis = RedisServer(folder)
            redis.start()
            env["STRONGBOX_STORE"] = redis.url
            faults += [("redis killed and restarted", redis.kill_and_restart), ("redis stalled", redis.stall)]
        else:
            table = PostgresTable()
            env.update(STRONGBOX_STORE=PG_URL, STRONGBOX_TABLE=table.table)
            faults.append(("postgres connections terminated", table.terminate))
        with gunicorn(folder, env) as (port, master):
            run = Run(port, seed)
            faults.append(("worker killed", lambda rng: kill_a_worker(master, rng)))
            faults.append(("clock moved", lambda rng: _move_clock(clock, run, rng)))
            _traffic(run, faults, minutes * 60, seed)
            if redis is not None:
                redis.resume()
            time.sleep(1.0)
            final = run.final()
    finally:
        if redis is not None:
            redis.stop()
        if table is not None:
            table.drop()
        log = folder / "gunicorn.log"
        if log.exists():
            shutil.copy(log, ROOT / "build" / f"live-{store}-gunicorn.log")
        shutil.rmtree(folder, ignore_errors=True)
    numbers = _numbers(store, minutes, run, final)
    with (ROOT / "build" / f"live-{store}-history.jsonl").open("w") as out:
        for event in run.events:
            out.write(json.dumps(asdict(event)) + "\n")
        out.write(json.dumps({"final": final}) + "\n")
    return numbers


def _traffic(run: Run, faults: list[tuple[str, Fault]], seconds: float, seed: int) -> None:
    threads = [threading.Thread(target=run.tab, args=(seed * 100 + 2 * b + tab, browser), daemon=True)
               for b, browser in enumerate(run.new_browser() for _ in range(BROWSERS)) for tab in (0, 1)]
    threads.append(threading.Thread(target=run.operator, daemon=True))
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(run.rng.uniform(1.0, 4.0))
        kind, fault = run.rng.choice(faults)
        fault(run.rng)
        run.faults[kind] += 1
    run.stop.set()
    for thread in threads:
        thread.join(30)


def _numbers(store: str, minutes: float, run: Run, final: dict[int, dict[str, Any]]) -> dict[str, Any]:
    events = [e for e in run.events if e.browser in final or e.browser == -1]
    report = check(History(events, final))
    violations = [str(v) for v in report.violations] + run.errors
    return {
        "store": store, "minutes": minutes, "requests": len(run.events),
        "answered_2xx": sum(e.status == "ok" for e in run.events),
        "answered_503": sum(e.status != "ok" and not e.detail for e in run.events),
        "no_answer": sum(bool(e.detail) for e in run.events),
        "faults": dict(run.faults), "acknowledged_writes": report.acknowledged_writes,
        "stale_cookies": report.stale_cookies, "browsers": len(final),
        "browsers_unread": len(run.browsers) - len(final),
        "violations": len(violations), "examples": violations[:20],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev prove", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="per store (default 10)")
    parser.add_argument("--store", choices=(*STORES, "all"), default="all")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", metavar="FOLDER", help="write live-<store>.json there")
    args = parser.parse_args(argv)
    total = 0
    for store in STORES if args.store == "all" else (args.store,):
        numbers = prove(store, args.minutes, args.seed)
        print(json.dumps(numbers, indent=1), flush=True)
        if args.json:
            Path(args.json, f"live-{store}.json").write_text(json.dumps(numbers, indent=1))
        total += numbers["violations"]
    print(f"{total} violations")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
