"""The contenders: one tiny app, the same three routes, a different session each.

A *variant* is a contender in one mode: ``"sb-sqlite/perm"`` logs in with the
tutorial's ``session.permanent = True`` (Flask's default
``SESSION_REFRESH_EACH_REQUEST`` then refreshes it on every request),
``"sb-sqlite/nonperm"`` leaves the session a browser-session one. The floor has
no session and no mode: ``"floor"``. Everything else is each library's
defaults, the same for every contender: Flask's ``PERMANENT_SESSION_LIFETIME``
(31 days) and cookie settings; Flask-Session's ``SESSION_PERMANENT`` follows
the mode.

``make_app(variant, workdir)`` builds one in-process; gunicorn loads one with
``apps:from_env()`` and ``BENCH_CONTENDER`` / ``BENCH_DIR`` (and
``BENCH_EXCLUSIVE=1`` to mark ``/write`` exclusive) in the environment.
Every store a contender writes to is private to the benchmark: its own files
under ``workdir``, Redis database 15 under ``bench-`` prefixes, and tables of
its own in the PostgreSQL schema ``strongbox_bench``.
"""

from __future__ import annotations

import contextlib
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
#: Records Strongbox Redis keeps in memory (``RedisStore(cache=...)``).
REDIS_CACHE = 10_000

#: Name -> (label, kind of store) in table order.
CONTENDERS: dict[str, tuple[str, str]] = {
    "floor": ("no session (floor)", "none"),
    "cookie": ("Flask signed cookie", "cookie"),
    "fs-file": ("Flask-Session cachelib file", "file"),
    "fs-redis": ("Flask-Session Redis", "redis"),
    "fs-sqlite": ("Flask-Session SQLAlchemy/SQLite", "sqlite"),
    "fs-postgres": ("Flask-Session SQLAlchemy/PostgreSQL", "postgres"),
    "sb-memory": ("Strongbox memory", "memory"),
    "sb-sqlite": ("Strongbox SQLite", "sqlite"),
    "sb-redis": ("Strongbox Redis (client-side cache)", "redis"),
    "sb-postgres": ("Strongbox PostgreSQL", "postgres"),
}
MODES = ("perm", "nonperm")
MODE_LABELS = {"perm": "permanent", "nonperm": "non-permanent", "": ""}


def variants(names: list[str] | None = None) -> list[str]:
    """Every contender in both modes, in table order; the floor once."""
    out = []
    for name in names or list(CONTENDERS):
        out += [name] if name == "floor" else [f"{name}/{mode}" for mode in MODES]
    return out


def split(variant: str) -> tuple[str, str]:
    """``"sb-sqlite/perm"`` -> ``("sb-sqlite", "perm")``; ``"floor"`` -> ``("floor", "")``."""
    name, _, mode = variant.partition("/")
    return name, mode


def label(variant: str) -> str:
    name, mode = split(variant)
    return CONTENDERS[name][0] + (f", {MODE_LABELS[mode]}" if mode else "")


def default_table(variant: str) -> str:
    return "t_" + variant.replace("-", "_").replace("/", "_")


def visitor(app: Flask) -> Callable[[str], Any]:
    """Log in, then GET routes with the cookie the login set, sent as a header
    by a client that keeps no cookie jar: what is measured is the server's
    work, not the test client parsing a ``Set-Cookie``. (A session's cookie
    holds the same id on every response; Flask's signed cookie changes with
    its data, and sending the first one back again costs the server the same.)"""
    jar = app.test_client()
    response = jar.post("/login", data={"user": "alice"})
    if response.status_code != 200:
        raise RuntimeError(f"login answered {response.status_code}")
    cookie = jar.get_cookie("session")
    headers = {"Cookie": f"session={cookie.value if cookie else 'none'}"}
    client = app.test_client(use_cookies=False)
    return lambda route: client.get(route, headers=headers)


def exclusive_available() -> bool:
    """Whether this Flask-Strongbox offers ``strongbox.exclusive`` (issue 13)."""
    import flask_strongbox

    # An instance, in case the extension sets it up in __init__; no app is needed.
    return hasattr(flask_strongbox.Strongbox(), "exclusive") or hasattr(flask_strongbox, "exclusive")


def add_routes(app: Flask, exclusive: Callable[[Any], Any] | None = None) -> None:
    @app.get("/read")
    def read() -> str:
        return f"{session.get('user')} {session.get('n', 0)}"

    def write() -> str:
        n = session.get("n", 0) + 1
        session["n"] = n
        session["payload"] = PAYLOAD
        return str(n)

    app.get("/write")(exclusive(write) if exclusive is not None else write)

    @app.post("/login")
    def login() -> str:
        session["user"] = request.form.get("user", "alice")
        session["n"] = 0
        if app.config["BENCH_PERMANENT"]:
            session.permanent = True  # the tutorial's line
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
    variant: str, workdir: str, *, store: Any = None, table: str | None = None,
    clock: Callable[[], float] | None = None, exclusive: bool = False,
) -> Flask:
    """The app for ``variant``; ``store`` overrides a Strongbox store, ``clock``
    Strongbox's clock, and ``exclusive`` marks ``/write`` exclusive when the
    library offers it."""
    name, mode = split(variant)
    table = table or default_table(variant)
    app = Flask(f"bench_{table}", instance_path=os.path.join(workdir, "instance"))
    app.config["SECRET_KEY"] = SECRET
    app.config["BENCH_PERMANENT"] = mode == "perm"
    hook = None
    if name == "floor":
        app.session_interface = NoSessionInterface()
    elif name == "cookie":
        pass
    elif name.startswith("fs-"):
        _flask_session(app, name, mode, workdir, table)
    elif name.startswith("sb-"):
        hook = _strongbox(app, name, workdir, store, table, clock, exclusive)
    else:
        raise ValueError(f"unknown contender {name!r}")
    add_routes(app, hook)
    return app


def _flask_session(app: Flask, name: str, mode: str, workdir: str, table: str) -> None:
    from flask_session import Session

    app.config["SESSION_KEY_PREFIX"] = "bench-fs:"
    app.config["SESSION_PERMANENT"] = mode == "perm"
    if name == "fs-file":
        from cachelib import FileSystemCache

        app.config["SESSION_TYPE"] = "cachelib"
        app.config["SESSION_CACHELIB"] = FileSystemCache(os.path.join(workdir, f"{table}-cachelib"))
    elif name == "fs-redis":
        app.config["SESSION_TYPE"] = "redis"
        app.config["SESSION_REDIS"] = redis_client()
    elif name in ("fs-sqlite", "fs-postgres"):
        from flask_sqlalchemy import SQLAlchemy

        app.config["SESSION_TYPE"] = "sqlalchemy"
        app.config["SESSION_SQLALCHEMY_TABLE"] = table
        if name == "fs-sqlite":
            app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{os.path.join(workdir, 'fs.sqlite3')}"
        else:
            ensure_pg_schema()
            app.config["SQLALCHEMY_DATABASE_URI"] = POSTGRES_URL.replace("postgresql:", "postgresql+psycopg:")
            app.config["SESSION_SQLALCHEMY_SCHEMA"] = PG_SCHEMA
        app.config["SESSION_SQLALCHEMY"] = SQLAlchemy(app)
    Session(app)


def ensure_pg_schema() -> None:
    import psycopg

    # Another process may create it at the same moment.
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn, \
            contextlib.suppress(psycopg.errors.UniqueViolation):
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}")


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


def _strongbox(
    app: Flask, name: str, workdir: str, store: Any, table: str,
    clock: Callable[[], float] | None, exclusive: bool,
) -> Callable[[Any], Any] | None:
    import flask_strongbox
    from flask_strongbox import Strongbox

    app.config["STRONGBOX_KEY_PREFIX"] = "bench-sb:"
    app.config["STRONGBOX_TABLE"] = table
    if store is None:
        store = make_store(name, workdir, table=table)
    extension = Strongbox(app, store=store, clock=clock)
    if not exclusive:
        return None
    hook = getattr(extension, "exclusive", None) or getattr(flask_strongbox, "exclusive", None)
    if hook is None:
        raise RuntimeError("this Flask-Strongbox has no strongbox.exclusive")
    return hook  # type: ignore[no-any-return]


def make_store(name: str, workdir: str, *, table: str = "strongbox_sessions") -> Any:
    """A Strongbox store for contender ``name``, private to the benchmark."""
    if name == "sb-sqlite":
        from flask_strongbox.stores import SQLiteStore

        return SQLiteStore(os.path.join(workdir, f"{table}.sqlite3"), table=table)
    if name == "sb-memory":
        from flask_strongbox.stores import MemoryStore

        return MemoryStore()
    if name == "sb-redis":
        from flask_strongbox.stores.redis import RedisStore

        # STRONGBOX_REDIS_CACHE's store-object form: reads of a session this
        # process has seen are served from memory, invalidated by the server.
        return RedisStore(redis_client(), prefix="bench-sb:", cache=REDIS_CACHE)
    if name == "sb-postgres":
        from flask_strongbox.stores.postgres import PostgresStore

        return PostgresStore(POSTGRES_URL, table=table, schema=PG_SCHEMA)
    raise ValueError(f"{name!r} is not a Strongbox contender")


def from_env() -> Flask:
    """The app gunicorn serves: ``BENCH_CONTENDER`` in ``BENCH_DIR``."""
    return make_app(os.environ["BENCH_CONTENDER"], os.environ["BENCH_DIR"],
                    exclusive=os.environ.get("BENCH_EXCLUSIVE") == "1")
