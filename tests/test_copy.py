"""``flask sessions copy --to URL``: every live session moved to another
store, sealed as it is, between every pair of SQLite, Redis (and Redis
Cluster) and PostgreSQL; then the app is pointed at the new store and every
client goes on as before.

The load test keeps logged-in clients incrementing counters on the old store
while the copy runs, then switches as the docs say: a second pass while still
serving, then a short switch window in which requests wait, a final pass
copies what changed since, and the app serves from the new store.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, jsonify, session
from flask.testing import FlaskClient

from flask_strongbox import Strongbox
from flask_strongbox.copying import Copier, put_exact
from flask_strongbox.interface import strongbox_of
from flask_strongbox.stores.base import Record
from flask_strongbox.stores.memory import MemoryStore

from .apps import SECRET
from .services import postgres_schema, postgres_url, redis_cluster, redis_url

KINDS = ("sqlite", "redis", "postgres")
PAIRS = [(a, b) for a in KINDS for b in KINDS if a != b]


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as nodes:
        yield f"redis+cluster://127.0.0.1:{nodes[0].port}"


class Places:
    """Store URLs of each kind for one test, removed afterwards."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self._schemas: list[Iterator[str]] = []
        self.cluster: str | None = None

    def url(self, kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{self.tmp_path}/{secrets.token_hex(4)}.sqlite3"
        if kind == "redis":
            return redis_url()
        if kind == "cluster":
            assert self.cluster is not None
            return self.cluster
        schemas = postgres_schema()
        self._schemas.append(schemas)
        schema = next(schemas)
        return f"{postgres_url()}?options=-csearch_path%3D{schema}"

    def close(self) -> None:
        for schemas in self._schemas:
            next(schemas, None)  # drops the schema


@pytest.fixture
def places(tmp_path: Path) -> Iterator[Places]:
    found = Places(tmp_path)
    yield found
    found.close()


def make_app(url: str, prefix: str, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update({"TESTING": True, "SECRET_KEY": SECRET, "STRONGBOX_STORE": url,
                       "STRONGBOX_KEY_PREFIX": prefix, **config})

    @app.route("/login/<name>")
    def login(name: str) -> str:
        session["user"] = name
        session["cart"] = (name, b"\x00", 1.5)
        return "ok"

    @app.route("/count")
    def count() -> Any:
        if "user" not in session:
            return jsonify(user=None, n=None)
        session["n"] = session.get("n", 0) + 1
        return jsonify(user=session["user"], n=session["n"])

    @app.route("/show")
    def show() -> Any:
        return jsonify(user=session.get("user"), n=session.get("n"), cart=repr(session.get("cart")))

    app.config["BOX"] = Strongbox(app)
    return app


def copy_cli(app: Flask, url: str, *more: str) -> dict[str, Any]:
    result = app.test_cli_runner().invoke(args=["sessions", "copy", "--to", url, "--json", *more])
    assert result.exit_code == 0, result.output
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def flush(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url())
    for key in client.scan_iter(match=f"{prefix}*", count=500):
        client.delete(key)
    client.close()


@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_copy_moves_every_live_session_and_clients_go_on_on_the_new_store(
    places: Places, source: str, target: str,
) -> None:
    prefix = f"copy-test:{secrets.token_hex(6)}:"
    old, new_url = make_app(places.url(source), prefix), places.url(target)
    try:
        clients: dict[tuple[str, int], FlaskClient] = {}
        for name in ("ada", "grace", "linus", "ada"):
            client = old.test_client()
            client.get(f"/login/{name}")
            client.get("/count")
            clients[name, len(clients)] = client

        summary = copy_cli(old, new_url)

        assert summary["copied"] == summary["live_source"] >= 4 and summary["settled"]
        assert summary["passes"] == 2  # one that copied, one that verified nothing is left
        new = make_app(new_url, prefix)
        for (name, _), client in clients.items():
            assert client.get("/show").json == {"user": name, "n": 1, "cart": repr((name, b"\x00", 1.5))}
        for (name, _), client in clients.items():
            new_client = new.test_client()
            new_client.set_cookie("session", client.get_cookie("session").value)  # type: ignore[union-attr]
            shown = new_client.get("/show").json
            assert shown is not None and shown["user"] == name
        with new.test_request_context():
            assert len(new.config["BOX"].sessions_of("ada")) == 2  # the per-user index came along
    finally:
        flush(prefix)


def test_copy_is_safe_to_run_again_and_never_overwrites_a_newer_version(places: Places) -> None:
    prefix = f"copy-test:{secrets.token_hex(6)}:"
    old, new_url = make_app(places.url("sqlite"), prefix), places.url("sqlite")
    client = old.test_client()
    client.get("/login/ada")
    first = copy_cli(old, new_url)

    again = copy_cli(old, new_url)

    assert (again["copied"], again["updated"], again["unchanged"]) == (0, 0, first["copied"])
    client.get("/count")
    assert copy_cli(old, new_url)["updated"] == 1  # the newer version replaces the older


def test_put_exact_keeps_the_higher_version() -> None:
    target = MemoryStore()
    now = time.time()
    newer = Record("a" * 64, b"sealed-v3", 3, now, now, now + 60, now + 600)
    older = Record("a" * 64, b"sealed-v2", 2, now, now, now + 60, now + 600)

    assert put_exact(target, newer, now) == "created"
    assert put_exact(target, older, now) == "unchanged"
    stored = target.get("a" * 64, now)
    assert stored is not None and stored.blob == b"sealed-v3"


def test_copy_needs_no_key_it_never_opens_a_seal(places: Places) -> None:
    prefix = f"copy-test:{secrets.token_hex(6)}:"
    url = places.url("sqlite")
    old = make_app(url, prefix)
    client = old.test_client()
    client.get("/login/ada")
    keyless = make_app(url, prefix, SECRET_KEY=None)

    summary = copy_cli(keyless, places.url("sqlite"))

    assert summary["copied"] == 1


def test_copy_to_an_unknown_store_is_one_clear_line(places: Places) -> None:
    app = make_app(places.url("sqlite"), "p:")
    result = app.test_cli_runner().invoke(args=["sessions", "copy", "--to", "mongodb://x"])

    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "STRONGBOX_STORE" in result.output or "mongodb" in result.output


def test_copy_can_resume_from_a_cursor(places: Places) -> None:
    prefix = f"copy-test:{secrets.token_hex(6)}:"
    old = make_app(places.url("sqlite"), prefix)
    for name in ("a", "b", "c", "d", "e"):
        old.test_client().get(f"/login/{name}")
    source = strongbox_of(old).store
    target = MemoryStore()
    copier = Copier(source, target, time.time, limit=2)
    walk = copier.walk()
    stopped = next(walk)  # the run stops after one batch
    assert stopped.cursor

    resumed = list(copier.walk(stopped.cursor))

    copied = sum(b.counts["created"] for b in [stopped, *resumed])
    assert copied == target.stats(time.time()).live == source.stats(time.time()).live


# -- under load -----------------------------------------------------------------


class Router:
    """Sends each request to the app serving now; :meth:`switch` holds new
    requests, lets those in flight finish, runs ``step``, and moves every
    later request to ``app`` (as a deploy behind a queueing load balancer)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._idle = threading.Condition()
        self._busy = 0
        self._switching = False

    def get(self, cookie: str | None, path: str) -> tuple[dict[str, Any], str | None]:
        with self._idle:
            self._idle.wait_for(lambda: not self._switching)
            self._busy += 1
            app = self.app
        try:
            client = app.test_client()
            if cookie:
                client.set_cookie("session", cookie)
            response = client.get(path)
            assert response.status_code == 200, response.status_code
            sent = client.get_cookie("session")
            return response.json or {}, sent.value if sent else cookie
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def switch(self, app: Flask, step: Any) -> float:
        started = time.monotonic()
        with self._idle:
            self._switching = True
            self._idle.wait_for(lambda: self._busy == 0)
        try:
            step()
            self.app = app
        finally:
            with self._idle:
                self._switching = False
                self._idle.notify_all()
        return time.monotonic() - started


class Load:
    """Clients that log in, then increment their counter until :meth:`stop`,
    each on its own thread; what each saw."""

    def __init__(self, router: Router, users: int) -> None:
        self.router = router
        self.done = [0] * users  # increments each saw succeed
        self.last = [0] * users  # the last count the server answered
        self.logouts: list[str] = []
        self._stop = threading.Event()
        self._cookies = [router.get(None, f"/login/user{i}")[1] for i in range(users)]
        self._threads = [threading.Thread(target=self._client, args=(i,)) for i in range(users)]
        for thread in self._threads:
            thread.start()

    def _client(self, i: int) -> None:
        while not self._stop.is_set():
            body, self._cookies[i] = self.router.get(self._cookies[i], "/count")
            if body.get("user") != f"user{i}":
                self.logouts.append(f"user{i}")
                return
            self.done[i] += 1
            self.last[i] = body["n"]

    def wait_for(self, more: int) -> None:
        """Until ``more`` further increments are done (the load is real)."""
        goal, deadline = sum(self.done) + more, time.monotonic() + 30
        while sum(self.done) < goal and not self.logouts and time.monotonic() < deadline:
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


@pytest.mark.slow
@pytest.mark.parametrize(("source", "target"), [*PAIRS, ("sqlite", "cluster"), ("cluster", "postgres")])
def test_copy_while_serving_then_switch_loses_no_login_and_no_increment(
    places: Places, source: str, target: str, request: pytest.FixtureRequest,
) -> None:
    if "cluster" in (source, target):
        places.cluster = request.getfixturevalue("cluster_url")
    prefix = f"copy-test:{secrets.token_hex(6)}:"
    old_url, new_url = places.url(source), places.url(target)
    old, new = make_app(old_url, prefix), make_app(new_url, prefix)
    for i in range(200):  # sessions that are idle during the switch
        old.test_client().get(f"/login/idle{i}")
    router = Router(old)
    load = Load(router, 8)
    try:
        load.wait_for(40)  # load on the old store before the copy starts
        first = copy_cli(old, new_url)  # while serving
        second = copy_cli(old, new_url, "--passes", "1")  # what changed during the first
        copier = Copier(strongbox_of(old).store, strongbox_of(new).store, time.time)
        window = router.switch(new, lambda: copier.until_settled(lambda _: None))
        on_new = sum(load.done)
        load.wait_for(40)  # load on the new store
        load.stop()

        assert load.logouts == []
        assert sum(load.done) > on_new  # the clients went on, on the new store
        assert load.last == load.done  # every increment counted, on the old store and then the new
        assert strongbox_of(new).store.stats(time.time()).live >= 208
        changed = second["copied"] + second["updated"]
        print(f"{source}->{target}: first pass copied {first['copied']}, second {changed}, "
              f"switch window {window * 1000:.0f} ms, {sum(load.done)} increments")
    finally:
        load.stop()
        if "redis" in (source, target):
            flush(prefix)
