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

import json
import re
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import redis

from . import services
from .services import Reply, gunicorn, http_get

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
    env = {**env, "SECRET_KEY": secrets.token_urlsafe(32)}
    with ExitStack() as stack:
        yield [
            Node(stack.enter_context(gunicorn("tests.wsgi_shared:create_app()", folder, env)))
            for _ in range(count)
        ]


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
