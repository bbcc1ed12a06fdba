"""Overlapping requests of one session as browsers send them, over HTTP.

``python benchmarks/races.py [--rounds 200]`` serves ``races_app.py`` with
gunicorn (2 workers x 4 threads) on SQLite, Redis and PostgreSQL and plays, for
each store, ``--rounds`` rounds of each scenario, the two requests of a round
sent at once:

- *two pages after login*: both pages consume the login's flash message;
- *flash double-submit*: a form submitted twice, each submit flashing; the
  next page must show both messages;
- *two tabs logging in at once* from one browser already logged in (as a
  guest), with two names: each tab must end logged in as the name it
  submitted;
- *a login from an id rotated away just before*: the same two logins, one
  after the other, both sent with the guest's cookie.

It prints a Markdown table (and writes ``results/races.json``): errors are any
answer other than 200, lost are messages or logins a 200 promised but the
session does not hold.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from served import GTHREAD_2X4, Answer, gunicorn, http_request, log

HERE = Path(__file__).resolve().parent
STORES = {
    "SQLite": lambda work: f"sqlite:///{work}/races.sqlite3",
    "Redis": lambda work: "redis://127.0.0.1:6379/15",
    "PostgreSQL": lambda work: "postgresql://postgres@127.0.0.1:5432/test",
}


def together(*calls: Callable[[], Answer]) -> list[Answer]:
    """Send each call from its own thread, released at once."""
    start, answers = threading.Barrier(len(calls)), [None] * len(calls)

    def run(i: int) -> None:
        start.wait(10)
        answers[i] = calls[i]()  # type: ignore[call-overload]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers  # type: ignore[return-value]


def two_pages_after_login(port: int, i: int) -> tuple[int, int]:
    """(errors, lost): the flash is shown at least once and never again."""
    cookie = http_request(port, "POST", "/login", body=f"nm=user{i}").cookie
    pages = together(*(lambda: http_request(port, "GET", "/page", cookie) for _ in range(2)))
    errors = sum(a.status != 200 for a in pages)
    shown = sum(json.loads(a.text).count("Login successful") for a in pages if a.status == 200)
    left = json.loads(http_request(port, "GET", "/whoami", cookie).text)["flashes"]
    return errors, int(shown == 0 or bool(left))


def flash_double_submit(port: int, i: int) -> tuple[int, int]:
    """(errors, lost): both submits' messages are kept for the next page."""
    cookie = http_request(port, "POST", "/login", body=f"nm=user{i}").cookie
    http_request(port, "GET", "/page", cookie)  # the login's flash, shown
    submits = together(*(lambda k=k: http_request(port, "POST", "/submit", cookie, f"item={k}")
                         for k in ("a", "b")))
    errors = sum(a.status != 200 for a in submits)
    shown = json.loads(http_request(port, "GET", "/page", cookie).text)
    wanted = {f"saved {k}" for k, a in zip("ab", submits, strict=True) if a.status == 200}
    return errors, len(wanted - set(shown))


def two_tabs_logging_in(port: int, i: int) -> tuple[int, int]:
    """(errors, lost): each tab's cookie names the user that tab submitted."""
    cookie = http_request(port, "POST", "/login", body=f"nm=guest{i}").cookie
    names = (f"left{i}", f"right{i}")
    logins = together(*(lambda n=n: http_request(port, "POST", "/login", cookie, f"nm={n}")
                        for n in names))
    errors = sum(a.status != 200 for a in logins)
    lost = 0
    for name, answer in zip(names, logins, strict=True):
        if answer.status == 200:
            who = json.loads(http_request(port, "GET", "/whoami", answer.cookie).text)["user"]
            lost += who != name
    return errors, lost


def late_login_from_rotated_id(port: int, i: int) -> tuple[int, int]:
    """(errors, lost): a login sent with the cookie another tab's login has
    just rotated away is a login of its own, not lost."""
    old = http_request(port, "POST", "/login", body=f"nm=guest{i}").cookie
    first = http_request(port, "POST", "/login", old, f"nm=left{i}")
    late = http_request(port, "POST", "/login", old, f"nm=right{i}")
    errors, lost = (first.status != 200) + (late.status != 200), 0
    for name, answer in ((f"left{i}", first), (f"right{i}", late)):
        if answer.status == 200:
            lost += json.loads(http_request(port, "GET", "/whoami", answer.cookie).text)["user"] != name
    return errors, lost


SCENARIOS = {"two pages after login": two_pages_after_login,
             "flash double-submit": flash_double_submit,
             "two tabs logging in at once": two_tabs_logging_in,
             "a login from an id rotated away just before": late_login_from_rotated_id}


def run(rounds: int) -> dict[str, Any]:
    work = Path(mkdtemp(prefix="races-"))
    results: dict[str, Any] = {}
    for store, url in STORES.items():
        folder = work / store
        folder.mkdir()
        name = f"races_{os.getpid()}_{store.lower()}"
        os.environ.update(RACE_STORE=url(folder), RACE_NAME=name)
        with gunicorn(store, folder, GTHREAD_2X4, app="races_app:from_env()") as port:
            for scenario, play in SCENARIOS.items():
                outcomes = [play(port, i) for i in range(rounds)]
                cell = {"rounds": rounds, "errors": sum(e for e, _ in outcomes),
                        "lost": sum(lost for _, lost in outcomes)}
                results[f"{store} / {scenario}"] = cell
                log(f"{store} / {scenario}: {cell}")
    return results


def table(results: dict[str, Any]) -> str:
    lines = ["| store / scenario | rounds | answers other than 200 | lost (messages or logins) |",
             "|---|---|---|---|"]
    lines += [f"| {k} | {v['rounds']} | {v['errors']} | {v['lost']} |" for k, v in results.items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    results = run(parser.parse_args().rounds)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "races.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
