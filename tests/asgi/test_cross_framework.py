"""One session across frameworks: gunicorn serving the Flask app
(``tests/wsgi_shared.py``) and uvicorn serving its FastAPI port
(``tests/asgi/asgi_shared.py``) on one Redis and on one PostgreSQL, with
one secret key: a login on either is seen by both, a change on either is
read by the other, a logout on either ends it for both, and so does a
revocation from ``flask sessions revoke-user``."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ..services import ROOT, free_port, gunicorn, http_get, postgres_schema, postgres_url, redis_url, serve

pytestmark = pytest.mark.slow
FLASK_APP = "tests.wsgi_shared:create_app()"


@contextmanager
def uvicorn(folder: Path, env: dict[str, str]) -> Iterator[int]:
    port = free_port()
    argv = ["-m", "uvicorn", "--factory", "tests.asgi.asgi_shared:create_app", "--host", "127.0.0.1",
            "--port", str(port), "--no-access-log"]
    with serve("uvicorn", argv, port, folder, env, "/health"):
        yield port


@pytest.fixture(params=["redis", "postgres"])
def environment(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    env = {"SECRET_KEY": secrets.token_hex(32)}
    if request.param == "redis":
        prefix = f"strongbox-test:{secrets.token_hex(6)}:"
        yield {**env, "STRONGBOX_STORE": redis_url(), "STRONGBOX_KEY_PREFIX": prefix}
        import redis

        client = redis.Redis.from_url(redis_url())
        for key in client.scan_iter(match=f"{prefix}*", count=500):
            client.delete(key)
        client.close()
    else:
        for schema in postgres_schema():  # dropped after, with the table in it
            url = f"{postgres_url()}?options=-csearch_path%3D{schema}"
            yield {**env, "STRONGBOX_STORE": url, "STRONGBOX_TABLE": f"cross_{secrets.token_hex(4)}"}


def whoami(port: int, cookie: str) -> dict[str, str | None]:
    reply = http_get(port, "/whoami", cookie)
    assert reply.status == 200, reply.body
    found: dict[str, str | None] = json.loads(reply.body)
    return found


def login(port: int, name: str) -> str:
    reply = http_get(port, f"/login/{name}")
    assert reply.status == 200 and reply.cookie, reply
    return reply.cookie


def revoke_user(env: dict[str, str], user: str) -> int:
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", FLASK_APP, "sessions", "revoke-user", user, "--json"],
        env={**_environ(), **env}, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    return int(json.loads(done.stdout)["revoked"])


def _environ() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_one_session_seen_by_flask_and_fastapi(environment: dict[str, str], tmp_path: Path) -> None:
    with gunicorn(FLASK_APP, tmp_path, environment) as flask, uvicorn(tmp_path, environment) as fastapi:
        # Log in on Flask; FastAPI reads it and changes it; Flask sees the change.
        cookie = login(flask, "alice")
        assert whoami(fastapi, cookie) == {"user": "alice", "note": None}
        assert http_get(fastapi, "/note/from-fastapi", cookie).status == 200
        assert whoami(flask, cookie) == {"user": "alice", "note": "from-fastapi"}
        assert http_get(flask, "/note/from-flask", cookie).status == 200
        assert whoami(fastapi, cookie) == {"user": "alice", "note": "from-flask"}
        # Log out on FastAPI: gone for both.
        assert http_get(fastapi, "/logout", cookie).cookie == ""
        assert whoami(flask, cookie)["user"] is None and whoami(fastapi, cookie)["user"] is None

        # Log in on FastAPI; Flask reads it; log out on Flask: gone for both.
        cookie = login(fastapi, "bob")
        assert whoami(flask, cookie) == {"user": "bob", "note": None}
        assert http_get(flask, "/logout", cookie).cookie == ""
        assert whoami(fastapi, cookie)["user"] is None and whoami(flask, cookie)["user"] is None

        # Two sessions of carol, one per framework; the CLI revokes both.
        on_flask, on_fastapi = login(flask, "carol"), login(fastapi, "carol")
        assert whoami(fastapi, on_flask)["user"] == "carol" and whoami(flask, on_fastapi)["user"] == "carol"
        assert revoke_user(environment, "carol") == 2
        for port in (flask, fastapi):
            for cookie in (on_flask, on_fastapi):
                assert whoami(port, cookie)["user"] is None

        # Sign out everywhere else, from FastAPI: the Flask session ends.
        on_flask, on_fastapi = login(flask, "dave"), login(fastapi, "dave")
        assert http_get(fastapi, "/revoke-others", on_fastapi).body == "1"
        assert whoami(flask, on_flask)["user"] is None
        assert whoami(flask, on_fastapi)["user"] == "dave"
