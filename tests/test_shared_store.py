"""Two app servers sharing one store: what a user does on one is what the
other sees.

Two gunicorn processes on two loopback ports serve ``tests.wsgi_shared`` with
the same ``SECRET_KEY`` and ``STRONGBOX_STORE``: the machine's Redis (keys
under a prefix of this run's own) or the machine's PostgreSQL (tables in a
schema of this run's own, chosen with libpq's ``options=-csearch_path=...`` in
the URL, as an operator would). The tests speak HTTP to them, carrying the
cookie by hand, as a browser behind a load balancer would.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import redis

from . import services
from .services import Reply, free_port, http_get

ROOT = Path(__file__).resolve().parent.parent
COOKIE = re.compile(r"^session=([^;]*);")

pytestmark = pytest.mark.slow


@dataclass
class Node:
    """One app server, spoken to over HTTP."""

    port: int

    def get(self, path: str, cookie: str | None = None) -> Reply:
        return http_get(self.port, path, cookie, timeout=10)

    def login(self, name: str) -> str:
        reply = self.get(f"/login/{name}")
        assert reply.status == 200 and reply.cookie, reply
        return reply.cookie

    def whoami(self, cookie: str) -> tuple[dict[str, Any], str | None]:
        """The session as this server sees it, and what it did to the cookie."""
        reply = self.get("/whoami", cookie)
        assert reply.status == 200, reply
        return json.loads(reply.body), reply.cookie


@contextmanager
def serving(folder: Path, count: int = 2, **env: str) -> Iterator[list[Node]]:
    """``count`` gunicorn servers of ``tests.wsgi_shared`` with ``env`` and one
    ``SECRET_KEY``; stopped (terminate, then kill) on exit."""
    secret = secrets.token_urlsafe(32)
    environ = {
        **os.environ, **env, "SECRET_KEY": secret,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    with ExitStack() as stack:
        servers = []
        for i in range(count):
            port = free_port()
            log = stack.enter_context((folder / f"gunicorn-{i}.log").open("wb"))
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--workers", "1", "--worker-class", "sync",
                 "--bind", f"127.0.0.1:{port}", "--chdir", str(ROOT), "--timeout", "30",
                 "--graceful-timeout", "5", "tests.wsgi_shared:create_app()"],
                env=environ, stdout=log, stderr=subprocess.STDOUT,
            )
            stack.callback(_stop, process)
            servers.append((Node(port), process, folder / f"gunicorn-{i}.log"))
        deadline = time.monotonic() + 20
        for node, process, log_path in servers:
            _wait_ready(node, process, log_path, deadline)
        yield [node for node, _, _ in servers]


def _wait_ready(node: Node, process: subprocess.Popen[bytes], log: Path, deadline: float) -> None:
    while True:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{log.read_text()}")
        try:
            if node.get("/health").status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"gunicorn never answered:\n{log.read_text()}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _with_search_path(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query), ("options", f"-csearch_path={schema}")]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _on_redis(folder: Path) -> Iterator[list[Node]]:
    url, prefix = services.redis_url(), f"strongbox-shared:{secrets.token_hex(6)}:"
    try:
        with serving(folder, STRONGBOX_STORE=url, STRONGBOX_KEY_PREFIX=prefix) as nodes:
            yield nodes
    finally:
        client = redis.Redis.from_url(url)
        for key in client.scan_iter(match=f"{prefix}*", count=500):
            client.delete(key)
        client.close()


def _on_postgres(folder: Path) -> Iterator[list[Node]]:
    for schema in services.postgres_schema():  # yields once, drops the schema after
        url = _with_search_path(services.postgres_url(), schema)
        with serving(folder, STRONGBOX_STORE=url) as nodes:
            yield nodes


@pytest.fixture(scope="module", params=["redis", "postgres"])
def nodes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Node]]:
    if importlib.util.find_spec("gunicorn") is None:
        services.unavailable("gunicorn is not installed: pip install -e '.[dev]'")
    folder = tmp_path_factory.mktemp(f"shared-{request.param}")
    yield from (_on_redis if request.param == "redis" else _on_postgres)(folder)


def test_a_login_on_one_server_is_a_login_on_the_other_and_writes_are_shared(
    nodes: list[Node],
) -> None:
    a, b = nodes
    cookie = a.login("alice")
    assert b.whoami(cookie) == ({"user": "alice", "note": None}, None)
    wrote = b.get("/note/from-b", cookie)
    assert wrote.status == 200 and wrote.cookie in (None, cookie), "a write keeps the session id"
    assert a.whoami(cookie) == ({"user": "alice", "note": "from-b"}, None)


def test_signing_out_elsewhere_on_one_server_ends_those_sessions_on_the_other(
    nodes: list[Node],
) -> None:
    """``revoke_user(user, keep_current=True)`` on server A; the phone, logged
    in through server B, is logged out on its next request there."""
    a, b = nodes
    user = f"bob{secrets.token_hex(4)}"
    phone = b.login(user)
    laptop = a.login(user)
    assert b.whoami(laptop)[0]["user"] == user
    revoked = a.get("/revoke-others", laptop)
    assert (revoked.status, revoked.body) == (200, "1")
    assert b.whoami(phone) == ({"user": None, "note": None}, ""), "logged out, cookie cleared"
    assert b.get("/note/sneaky", phone).status == 401
    assert b.whoami(laptop)[0]["user"] == user


def test_a_logout_on_one_server_is_a_logout_on_the_other(nodes: list[Node]) -> None:
    a, b = nodes
    cookie = a.login("carol")
    assert b.whoami(cookie)[0]["user"] == "carol"
    logout = b.get("/logout", cookie)
    assert (logout.status, logout.cookie) == (200, "")
    assert a.whoami(cookie) == ({"user": None, "note": None}, "")
