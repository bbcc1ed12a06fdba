"""Overlapping requests of one session (issue 13): concurrent increments and
``wrk`` on one session's read-modify-write route.

Every contender runs on gunicorn with 2 workers x 4 threads, permanent
sessions (the tutorial's). Strongbox runs twice when the library offers
``strongbox.exclusive``: as is, and with ``/write`` marked exclusive.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import apps
from served import GTHREAD_2X4, gunicorn, http_login, http_request, log, wrk

VARIANTS = ("sb-sqlite/perm", "sb-redis/perm", "sb-postgres/perm",
            "fs-redis/perm", "fs-sqlite/perm", "fs-postgres/perm")
CLIENT_THREADS = 16
MAX_RETRIES = 10


def overlapping(increments: int, wrk_seconds: int, work: Path) -> dict[str, Any]:
    """For each variant (and its exclusive twin): ``increments`` concurrent
    ``/write`` from a client that never retries, the same from a client that
    retries a 503 after the ``Retry-After`` it was sent, then ``wrk`` on
    ``/write``; each on a fresh session, counter read back after."""
    exclusive_ok = apps.exclusive_available()
    result: dict[str, Any] = {"exclusive_available": exclusive_ok}
    for variant in VARIANTS:
        for exclusive in (False, True):
            key = f"{variant}{' exclusive' if exclusive else ''}"
            if exclusive and not variant.startswith("sb-"):
                continue
            if exclusive and not exclusive_ok:
                result[key] = None  # reported as n/a until the library has it
                continue
            folder = work / key.replace("/", "-").replace(" ", "-")
            folder.mkdir()
            with gunicorn(variant, folder, GTHREAD_2X4, exclusive=exclusive) as port:
                cell = {"raw": _increments(port, variant, increments, retry=False)}
                if variant.startswith("sb-"):  # Flask-Session never answers 503
                    cell["retry"] = _increments(port, variant, increments, retry=True)
                cell["wrk"] = _wrk_write(port, variant, wrk_seconds)
            result[key] = cell
            log(f"overlapping {key}: raw {cell['raw']['counter']}/{increments} kept, "
                f"{cell['raw']['non200']} non-200; wrk {cell['wrk']['rps']:.0f} req/s, "
                f"{cell['wrk']['non2xx']} non-2xx")
    return result


def _increments(port: int, variant: str, n: int, retry: bool) -> dict[str, Any]:
    cookie = http_login(port, variant)

    def one(_: int) -> tuple[int, int, int]:
        """(first status, final status, retries) of one increment."""
        answer = http_request(port, "GET", "/write", cookie)
        first, retries = answer.status, 0
        while retry and answer.status == 503 and retries < MAX_RETRIES:
            # Wait at least as long as asked, spread a little so that the
            # retries of one burst do not all land at the same instant.
            wait = float(answer.retry_after or 1)
            time.sleep(wait * random.uniform(1.0, 1.25))
            answer = http_request(port, "GET", "/write", cookie)
            retries += 1
        return first, answer.status, retries

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        outcomes = list(pool.map(one, range(n)))
    seconds = time.perf_counter() - started
    counter, survived = _counter(port, cookie)
    finals = [final for _, final, _ in outcomes]
    ok = finals.count(200)
    return {
        "sent": n, "ok": ok, "non200": n - ok, "counter": counter,
        "first_try_non200": sum(first != 200 for first, _, _ in outcomes),
        "retries": sum(r for _, _, r in outcomes), "seconds": seconds,
        "statuses": {str(s): finals.count(s) for s in sorted(set(finals))},
        "lost": max(0, ok - counter),  # answered 200, not in the counter
        "kept": min(counter, ok) / ok if ok else None,
        "session_survived": survived,
    }


def _wrk_write(port: int, variant: str, seconds: int) -> dict[str, Any]:
    cookie = http_login(port, variant)
    out = wrk(port, "/write", cookie, seconds, threads=2, connections=8)
    answered = out["requests"] - out["non2xx"] - out["socket_errors"]
    out["counter"], out["session_survived"] = _counter(port, cookie)
    out["kept"] = min(out["counter"], answered) / answered if answered else None
    return out


def _counter(port: int, cookie: str) -> tuple[int, bool]:
    """The counter after the run, and whether the session is still the
    logged-in one (a session that vanished reads as a fresh, empty one)."""
    answer = http_request(port, "GET", "/read", cookie)
    if answer.status != 200:
        raise RuntimeError(f"reading the counter back answered {answer.status}")
    user, n = answer.text.split()
    return int(n), user == "alice"
