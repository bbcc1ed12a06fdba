"""Contenders served by gunicorn on loopback, an HTTP client, and ``wrk``."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import apps

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
SYNC = ["-w", "2", "-k", "sync"]
GTHREAD_2X4 = ["-w", "2", "-k", "gthread", "--threads", "4"]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(variant: str, work: Path) -> None:
    """Build the app once here so its tables exist before two workers race to
    create them."""
    app = apps.make_app(variant, str(work))
    store = getattr(app.session_interface, "store", None)
    if store is not None:
        store.get("0" * 64, time.time())  # a Strongbox store creates its table on first use
        store.close()


@contextlib.contextmanager
def gunicorn(variant: str, work: Path, args: list[str], exclusive: bool = False,
             app: str = "apps:from_env()") -> Iterator[int]:
    """Serve ``app`` (a gunicorn app spec in this folder; by default the
    contender ``variant``) on a free loopback port until the block ends."""
    if app == "apps:from_env()":
        prepare(variant, work)
    port = free_port()
    env = {**os.environ, "BENCH_CONTENDER": variant, "BENCH_DIR": str(work),
           "BENCH_EXCLUSIVE": "1" if exclusive else "0"}
    errors = open(work / "gunicorn.log", "a")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), "--pythonpath", str(HERE), "-b", f"127.0.0.1:{port}", *args,
         "--log-level", "warning", "--graceful-timeout", "2", app],
        env=env, cwd=str(work), stdout=subprocess.DEVNULL, stderr=errors,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                http_request(port, "GET", "/read")
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"gunicorn for {variant} did not start; see {work}") from None
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        errors.close()


class Answer:
    """One response: status, body, the session cookie it set, Retry-After."""

    def __init__(self, status: int, text: str, cookie: str | None, retry_after: str | None) -> None:
        self.status, self.text, self.cookie, self.retry_after = status, text, cookie, retry_after


def http_request(port: int, method: str, path: str, cookie: str | None = None,
                 body: str | None = None) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Cookie": f"session={cookie}"} if cookie else {}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    text = response.read().decode()
    jar: SimpleCookie = SimpleCookie()
    for value in response.headers.get_all("Set-Cookie") or []:
        jar.load(value)
    conn.close()
    cookie = jar["session"].value if "session" in jar else None
    return Answer(response.status, text, cookie, response.headers.get("Retry-After"))


def http_login(port: int, variant: str) -> str:
    answer = http_request(port, "POST", "/login", body="user=alice")
    if answer.status != 200 or (not answer.cookie and variant != "floor"):
        raise RuntimeError(f"login over HTTP to {variant} failed: {answer.status}")
    return answer.cookie or ""


def wrk(port: int, route: str, cookie: str, seconds: int, threads: int = 1,
        connections: int = 4) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-H", f"Cookie: session={cookie}", f"http://127.0.0.1:{port}{route}"],
        capture_output=True, text=True, check=True, timeout=seconds + 30,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "p99_ms": p99, "requests": total, "non2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": sum(int(g) for g in errors.groups()) if errors else 0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def over_http(seconds: int, variants: list[str], work: Path) -> dict[str, Any]:
    """``wrk -t1 -c4`` on ``/read`` and ``/write`` of one logged-in session,
    gunicorn with 2 sync workers. The memory store lives in one process, so
    two workers cannot share its sessions: it is left out."""
    result: dict[str, Any] = {}
    for variant in variants:
        if variant.startswith("sb-memory"):
            continue
        folder = work / variant.replace("/", "-")
        folder.mkdir()
        with gunicorn(variant, folder, SYNC) as port:
            cookie = http_login(port, variant)
            for route in ("/read", "/write"):
                for _ in range(20):
                    http_request(port, "GET", route, cookie)
                result[f"{variant} {route}"] = wrk(port, route, cookie, seconds)
        log(f"http {variant}: " + ", ".join(
            f"{r} {result[f'{variant} {r}']['rps']:.0f} req/s" for r in ("/read", "/write")))
    return result
