"""The contenders: one tiny app, the same three routes, a different session each.

``make_app(name, workdir)`` builds one in-process; gunicorn loads one with
``apps:from_env()`` and ``BENCH_CONTENDER`` / ``BENCH_DIR`` in the environment.
Every store a contender writes to is private to the benchmark: its own files
under ``workdir``, Redis database 15 under ``bench-`` prefixes, and the
PostgreSQL schema ``strongbox_bench``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from flask import Flask, request, session
from flask.sessions import SessionInterface, SessionMixin
from redis import Redis

SECRET = "b8f2c0d4e6a81357f9e0d2c4b6a8e0f213579bdf2468ace0f1e2d3c4b5a69788"
REDIS_URL = "redis://127.0.0.1:6379/15"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
PG_SCHEMA = "strongbox_bench"
PAYLOAD = "x" * 200

#: Name -> (label, kind of store) in table order.
CONTENDERS: dict[str, tuple[str, str]] = {
    "floor": ("no session (floor)", "none"),
    "cookie": ("Flask signed cookie", "cookie"),
    "fs-file": ("Flask-Session cachelib file", "file"),
    "fs-redis": ("Flask-Session Redis", "redis"),
    "fs-sqlite": ("Flask-Session SQLAlchemy/SQLite", "sqlite"),
    "sb-sqlite": ("Strongbox SQLite", "sqlite"),
    "sb-redis": ("Strongbox Redis", "redis"),
    "sb-postgres": ("Strongbox PostgreSQL", "postgres"),
    "sb-memory": ("Strongbox memory", "memory"),
}


def add_routes(app: Flask) -> None:
    @app.get("/read")
    def read() -> str:
        return f"{session.get('user')} {session.get('n', 0)}"

    @app.get("/write")
    def write() -> str:
        n = session.get("n", 0) + 1
        session["n"] = n
        session["payload"] = PAYLOAD
        return str(n)

    @app.post("/login")
    def login() -> str:
        session["user"] = request.form.get("user", "alice")
        session["n"] = 0
        return "ok"


class _Scratch(dict, SessionMixin):  # type: ignore[type-arg]
    """A plain dict standing in for a session, so the floor's views run the
    same code as everyone else's while nothing is loaded or saved."""


class NoSessionInterface(SessionInterface):
    def open_session(self, app: Flask, request: Any) -> _Scratch:
        return _Scratch(user="alice", n=0)

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        return None


def make_app(
    name: str, workdir: str, *, store: Any = None, table: str | None = None,
    configure: Callable[[Flask], None] | None = None,
) -> Flask:
    """The app for contender ``name``; ``store`` overrides a Strongbox store."""
    app = Flask(f"bench_{name.replace('-', '_')}", instance_path=os.path.join(workdir, "instance"))
    app.config["SECRET_KEY"] = SECRET
    if configure is not None:
        configure(app)
    add_routes(app)
    if name == "floor":
        app.session_interface = NoSessionInterface()
    elif name == "cookie":
        pass
    elif name.startswith("fs-"):
        _flask_session(app, name, workdir)
    elif name.startswith("sb-"):
        _strongbox(app, name, workdir, store, table)
    else:
        raise ValueError(f"unknown contender {name!r}")
    return app


def _flask_session(app: Flask, name: str, workdir: str) -> None:
    from flask_session import Session

    app.config["SESSION_KEY_PREFIX"] = "bench-fs:"
    if name == "fs-file":
        from cachelib import FileSystemCache

        app.config["SESSION_TYPE"] = "cachelib"
        app.config["SESSION_CACHELIB"] = FileSystemCache(os.path.join(workdir, "fs-cachelib"))
    elif name == "fs-redis":
        app.config["SESSION_TYPE"] = "redis"
        app.config["SESSION_REDIS"] = redis_client()
    elif name == "fs-sqlite":
        from flask_sqlalchemy import SQLAlchemy

        app.config["SESSION_TYPE"] = "sqlalchemy"
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{os.path.join(workdir, 'fs.sqlite3')}"
        app.config["SESSION_SQLALCHEMY"] = SQLAlchemy(app)
    Session(app)


#: Redis commands this process sent, by name; the write counter reads it.
COUNTS: dict[str, int] = {}


class CountingRedis(Redis):  # type: ignore[misc]
    """A Redis client that counts the commands it sends, scripts included."""

    def execute_command(self, *args: Any, **options: Any) -> Any:
        name = str(args[0]).upper()
        COUNTS[name] = COUNTS.get(name, 0) + 1
        return super().execute_command(*args, **options)


def redis_client() -> CountingRedis:
    return CountingRedis.from_url(REDIS_URL)


def _strongbox(app: Flask, name: str, workdir: str, store: Any, table: str | None) -> None:
    from flask_strongbox import Strongbox

    app.config["STRONGBOX_KEY_PREFIX"] = "bench-sb:"
    if table is not None:
        app.config["STRONGBOX_TABLE"] = table
    if store is None:
        store = make_store(name, workdir, table=table)
    Strongbox(app, store=store)


def make_store(name: str, workdir: str, *, table: str | None = None) -> Any:
    """A Strongbox store for contender ``name``, private to the benchmark."""
    table = table or "strongbox_sessions"
    if name == "sb-sqlite":
        from flask_strongbox.stores import SQLiteStore

        return SQLiteStore(os.path.join(workdir, f"{table}.sqlite3"), table=table)
    if name == "sb-memory":
        from flask_strongbox.stores import MemoryStore

        return MemoryStore()
    if name == "sb-redis":
        from flask_strongbox.stores.redis import RedisStore

        return RedisStore(redis_client(), prefix="bench-sb:")
    if name == "sb-postgres":
        from flask_strongbox.stores.postgres import PostgresStore

        return PostgresStore(POSTGRES_URL, table=table, schema=PG_SCHEMA)
    raise ValueError(f"{name!r} is not a Strongbox contender")


def from_env() -> Flask:
    """The app gunicorn serves: ``BENCH_CONTENDER`` in ``BENCH_DIR``."""
    return make_app(os.environ["BENCH_CONTENDER"], os.environ["BENCH_DIR"])
