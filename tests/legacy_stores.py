"""Flask-Session 0.8 apps on each backend, with a reader of ours beside them.

Each factory yields a :class:`Legacy`: the real app (Flask-Session writes its
records), our reader of that store, and ``put`` to plant a raw record value
the way the backend stores one (for hostile and legacy-format records).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis
from cachelib.file import FileSystemCache
from cachelib.serializers import JSONSerializer
from flask import Flask
from flask_session import Session  # type: ignore[import-untyped]  # Flask-Session ships no py.typed
from flask_sqlalchemy import SQLAlchemy

from flask_strongbox.migrate import FlaskSessionConfig, LegacyReader, open_reader

from .legacy_apps import FLASK_SESSION_DATA, JSON_DATA, SECRET, add_views
from .services import postgres_schema, postgres_url, redis_url

LIFETIME = timedelta(hours=1)


@dataclass
class Legacy:
    app: Flask
    reader: LegacyReader
    config: FlaskSessionConfig
    data: dict[str, Any]  # what the app stores at login
    encode: Callable[[Any], bytes]  # the backend's value format
    put: Callable[[str, bytes], None]  # plant a raw value under a full store key, live for LIFETIME
    expire: Callable[[str], float]  # make a sid's record expired; the "now" to read it at
    filters_prefix: bool = True  # whether the store can tell records of another prefix
    url: str = ""  # the store's STRONGBOX_MIGRATE_STORE URL

    def log_in(self, name: str) -> str:
        """Log ``name`` in through the real app; return the cookie value."""
        client = self.app.test_client()
        client.get(f"/login/{name}")
        cookie = client.get_cookie("session")
        assert cookie is not None
        return cookie.value

    def plant(self, sid: str, raw: bytes, prefix: str | None = None) -> None:
        """Store ``raw`` as the record of ``sid`` (of another app if ``prefix`` is given)."""
        self.put((self.config.key_prefix if prefix is None else prefix) + sid, raw)

    def sid(self, cookie: str) -> str:
        sid = self.config.sid(cookie)
        assert sid is not None
        return sid

    def flask_session_loads(self, cookie: str) -> dict[str, Any]:
        """What Flask-Session itself loads for ``cookie`` in a request."""
        client = self.app.test_client()
        client.set_cookie("session", cookie)
        client.get("/show")
        loaded: dict[str, Any] = self.app.config["LOADED"].pop()
        return loaded


def flask_session_app(
    data: dict[str, Any], setup: Callable[[Flask], None] | None = None, **config: Any,
) -> Flask:
    app = Flask(__name__)
    app.config.update({
        "TESTING": True, "SECRET_KEY": SECRET, "PERMANENT_SESSION_LIFETIME": LIFETIME, **config,
    })
    add_views(app, data)
    if setup is not None:
        setup(app)
    Session(app)
    return app


def redis_legacy(tmp_path: Path, **config: Any) -> Iterator[Legacy]:
    prefix = f"fs-test:{secrets.token_hex(6)}:"
    client = redis.Redis.from_url(redis_url())
    app = flask_session_app(
        FLASK_SESSION_DATA, SESSION_TYPE="redis", SESSION_REDIS=client, SESSION_KEY_PREFIX=prefix, **config,
    )
    settings = FlaskSessionConfig.from_config(app.config)
    reader = open_reader(redis_url(), settings)

    def put(key: str, raw: bytes) -> None:
        client.set(key, raw, ex=LIFETIME)

    def expire(sid: str) -> float:
        client.pexpireat(prefix + sid, 1)  # a time long past: Redis drops it at once
        return time.time()

    try:
        yield Legacy(app, reader, settings, FLASK_SESSION_DATA, msgspec.msgpack.encode, put, expire,
                     url=redis_url())
    finally:
        reader.close()
        for key in client.scan_iter(match=f"{prefix}*", count=500):
            client.delete(key)
        client.close()


def _sql_legacy(app_config: dict[str, Any], url: str, instance_path: str) -> Iterator[Legacy]:
    db = SQLAlchemy()
    app = flask_session_app(FLASK_SESSION_DATA, db.init_app, SESSION_TYPE="sqlalchemy",
                            SESSION_SQLALCHEMY=db, SESSION_SQLALCHEMY_TABLE="old_sessions", **app_config)
    settings = FlaskSessionConfig.from_config(app.config)
    reader = open_reader(url, settings, instance_path)
    model = app.session_interface.sql_session_model  # type: ignore[attr-defined]

    def put(key: str, raw: bytes) -> None:
        with app.app_context():
            expiry = datetime.now(timezone.utc).replace(tzinfo=None) + LIFETIME
            db.session.add(model(session_id=key, data=raw, expiry=expiry))
            db.session.commit()

    def expire(sid: str) -> float:
        return time.time() + LIFETIME.total_seconds() + 1  # expiry is read against the clock given

    try:
        yield Legacy(app, reader, settings, FLASK_SESSION_DATA, msgspec.msgpack.encode, put, expire,
                     url=url if not url.startswith("sqlite") else f"sqlite:///{instance_path}/{url[10:]}")
    finally:
        reader.close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def sqlite_legacy(tmp_path: Path, **config: Any) -> Iterator[Legacy]:
    app_config = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/legacy.db", **config}
    yield from _sql_legacy(app_config, "sqlite:///legacy.db", str(tmp_path))


def postgres_legacy(tmp_path: Path, **config: Any) -> Iterator[Legacy]:
    url = postgres_url().replace("postgresql://", "postgresql+psycopg://", 1)
    for schema in postgres_schema():  # yields once, drops the schema after
        app_config = {"SQLALCHEMY_DATABASE_URI": url, "SESSION_SQLALCHEMY_SCHEMA": schema, **config}
        yield from _sql_legacy(app_config, url, str(tmp_path))


def filesystem_json_legacy(tmp_path: Path, **config: Any) -> Iterator[Legacy]:
    """The cachelib backend on a ``FileSystemCache`` given cachelib's JSON
    serializer: the one filesystem set-up whose records are not pickles."""
    directory = tmp_path / "cache"
    cache = FileSystemCache(str(directory), threshold=500)
    cache.serializer = JSONSerializer()  # type: ignore[assignment]  # typed narrower than cachelib takes
    app = flask_session_app(JSON_DATA, SESSION_TYPE="cachelib", SESSION_CACHELIB=cache, **config)
    settings = FlaskSessionConfig.from_config(app.config)
    reader = open_reader(f"filesystem://{directory}", settings)

    def put(key: str, raw: bytes) -> None:
        header = struct.pack("I", int(time.time() + LIFETIME.total_seconds()))
        (directory / hashlib.sha256(key.encode()).hexdigest()).write_bytes(header + raw)

    def expire(sid: str) -> float:
        return time.time() + LIFETIME.total_seconds() + 2

    yield Legacy(app, reader, settings, JSON_DATA, lambda value: json.dumps(value).encode(), put, expire,
                 filters_prefix=False, url=f"filesystem://{directory}")


BACKENDS = {
    "redis": redis_legacy,
    "sqlite": sqlite_legacy,
    "postgres": postgres_legacy,
    "filesystem-json": filesystem_json_legacy,
}


@pytest.fixture(name="legacy", params=sorted(BACKENDS))
def fixture_legacy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Legacy]:
    """A Flask-Session app and our reader, once per backend."""
    yield from BACKENDS[request.param](tmp_path)
