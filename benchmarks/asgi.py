"""ASGI contenders side by side: Starlette's SessionMiddleware (a signed
cookie), starsessions on Redis, and Strongbox's StrongboxMiddleware on
memory, SQLite and Redis, each on the same tiny Starlette app.

    .venv/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python benchmarks/asgi.py              # prints a Markdown table
    .venv/bin/python benchmarks/asgi.py --quick

In-process: each request is one call of the ASGI app on one event loop (no
HTTP, no client parsing), with the login's cookie sent as a header. Routes:
``/read`` returns ``session["user"]`` and a counter; ``/write`` increments the
counter and stores a 200-byte value. Repetitions interleave the contenders in
shuffled order; a cell is the median over repetitions of each batch's p50, in
µs, and session cost is that minus the floor's (no session middleware) p50 in
the same repetition. Needs Redis on 127.0.0.1:6379 (database 15, keys under
``bench-asgi-`` prefixes, deleted afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from redis import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from flask_strongbox.starlette import StrongboxMiddleware

SECRET = "b8f2c0d4e6a81357f9e0d2c4b6a8e0f213579bdf2468ace0f1e2d3c4b5a69788"
REDIS_URL = "redis://127.0.0.1:6379/15"
PAYLOAD = "x" * 200
CONTENDERS = {
    "floor": "no session (floor)",
    "signed": "Starlette SessionMiddleware (signed cookie)",
    "starsessions": "starsessions, Redis",
    "sb-memory": "Strongbox ASGI, memory",
    "sb-sqlite": "Strongbox ASGI, SQLite",
    "sb-redis": "Strongbox ASGI, Redis",
}
App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def read(request: Request) -> JSONResponse:
    session = request.session if "session" in request.scope else {}
    return JSONResponse({"user": session.get("user"), "n": session.get("n", 0)})


async def write(request: Request) -> JSONResponse:
    session = request.session if "session" in request.scope else {}
    session["n"] = session.get("n", 0) + 1
    session["payload"] = PAYLOAD
    return JSONResponse({"n": session["n"]})


async def login(request: Request) -> JSONResponse:
    if "session" in request.scope:
        request.session["user"] = "alice"
    return JSONResponse({"ok": True})


ROUTES = [Route("/read", read), Route("/write", write), Route("/login", login, methods=["POST"])]


def make_app(name: str, workdir: Path, prefix: str) -> Starlette:
    """One contender's app: the same routes, a different session middleware."""
    middleware: list[Middleware] = []
    if name == "signed":
        middleware = [Middleware(SessionMiddleware, secret_key=SECRET)]
    elif name == "starsessions":
        import redis.asyncio
        from starsessions import SessionAutoloadMiddleware
        from starsessions import SessionMiddleware as StarSessions
        from starsessions.stores.redis import RedisStore

        store = RedisStore(connection=redis.asyncio.Redis.from_url(REDIS_URL), prefix=prefix)
        middleware = [Middleware(StarSessions, store=store, cookie_https_only=False, lifetime=14 * 86400),
                      Middleware(SessionAutoloadMiddleware)]
    elif name.startswith("sb-"):
        store = {"sb-memory": "memory://", "sb-sqlite": f"sqlite:///{workdir / 'sessions.sqlite3'}",
                 "sb-redis": REDIS_URL}[name]
        middleware = [Middleware(StrongboxMiddleware, secret_key=SECRET, store=store, key_prefix=prefix)]
    return Starlette(routes=ROUTES, middleware=middleware)


class Caller:
    """Calls an ASGI app in-process, as a server would, with one cookie."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.cookie: bytes | None = None

    async def call(self, method: str, path: str) -> tuple[int, list[tuple[bytes, bytes]]]:
        headers = [(b"host", b"bench")] + ([(b"cookie", self.cookie)] if self.cookie else [])
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
                 "root_path": "", "headers": headers, "client": ("127.0.0.1", 1), "server": ("bench", 80)}
        started: dict[str, Any] = {}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                started.update(message)

        await self.app(scope, receive, send)
        return started["status"], started.get("headers", [])

    async def log_in(self) -> None:
        _, headers = await self.call("POST", "/login")
        for name, value in headers:
            if name == b"set-cookie":
                self.cookie = value.split(b";", 1)[0]


async def batch(caller: Caller, path: str, count: int) -> float:
    """The p50 of ``count`` requests to ``path``, in µs."""
    times = []
    for _ in range(count):
        started = time.perf_counter_ns()
        status, _ = await caller.call("GET", path)
        times.append((time.perf_counter_ns() - started) / 1000)
        assert status == 200, (path, status)
    return statistics.median(times)


async def measure(reps: int, per_batch: int) -> dict[tuple[str, str], list[float]]:
    """Per contender and route, each repetition's session cost in µs."""
    prefix = f"bench-asgi-{secrets.token_hex(4)}:"
    with tempfile.TemporaryDirectory() as folder:
        callers = {}
        for name in CONTENDERS:
            callers[name] = Caller(make_app(name, Path(folder), prefix + name + ":"))
            await callers[name].log_in()
        costs: dict[tuple[str, str], list[float]] = {}
        try:
            for _ in range(reps):
                for path in ("/read", "/write"):
                    order = list(CONTENDERS)
                    random.shuffle(order)
                    p50 = {name: await batch(callers[name], path, per_batch) for name in order}
                    for name in CONTENDERS:
                        costs.setdefault((name, path), []).append(p50[name] - p50["floor"])
        finally:
            client = Redis.from_url(REDIS_URL)
            for key in client.scan_iter(match=f"{prefix}*", count=500):
                client.delete(key)
            client.close()
    return costs


def table(costs: dict[tuple[str, str], list[float]]) -> str:
    rows = ["| contender | `/read` session cost, µs | `/write` session cost, µs |", "|---|---|---|"]
    for name, label in CONTENDERS.items():
        if name == "floor":
            continue
        cells = []
        for path in ("/read", "/write"):
            found = costs[(name, path)]
            cells.append(f"{statistics.median(found):.0f} [{min(found):.0f}-{max(found):.0f}]")
        rows.append(f"| {label} | {cells[0]} | {cells[1]} |")
    signed = statistics.median(costs[("signed", "/read")])
    lines = [*rows, ""]
    for name in ("sb-memory", "sb-sqlite", "sb-redis"):
        ratio = statistics.median(costs[(name, "/read")]) / signed
        lines.append(f"- {CONTENDERS[name]} `/read` cost = {ratio:.2f}x the signed cookie's")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repetitions of 100 requests")
    args = parser.parse_args()
    reps, per_batch = (3, 100) if args.quick else (7, 400)
    costs = asyncio.run(measure(reps, per_batch))
    print(f"{reps} repetitions x {per_batch} requests per contender and route\n")
    print(table(costs))


if __name__ == "__main__":
    main()
