"""A Flask-Session 0.8 app restarted on Strongbox with migration on, as the
on-the-fly and the import tests switch one: the fixtures and helpers they share.

The fixtures are defined with ``name=`` (``fixture_clock`` is the fixture
``clock``), so a test module imports them without its tests' parameters
shadowing the import.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, session
from flask.testing import FlaskClient

from flask_strongbox import Strongbox, serialization
from flask_strongbox.stores.base import Store
from flask_strongbox.stores.sqlite import SQLiteStore
from flask_strongbox.testing import Clock as FakeClock

from .legacy_apps import add_views

STRONGBOX_COOKIE = re.compile(r"[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}")


@pytest.fixture(name="clock")
def fixture_clock() -> FakeClock:
    """The switched app's clock, a little ahead of the real one, which signed
    the legacy cookies."""
    clock = FakeClock()
    clock.advance(30)
    return clock


@pytest.fixture(name="sqlite_store")
def fixture_sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """The store the switched app moves the legacy sessions into."""
    store = SQLiteStore(str(tmp_path / "strongbox.sqlite3"))
    yield store
    store.close()


def switched(old: Flask, url: str | None, store: Store, clock: FakeClock) -> Flask:
    """``old``'s app restarted on Strongbox: its Flask and Flask-Session keys
    kept (the old store objects are simply no longer used), migration on."""
    app = Flask(__name__)
    kept = {k: v for k, v in old.config.items()
            if k.startswith("SESSION_") or k in ("SECRET_KEY", "PERMANENT_SESSION_LIFETIME")}
    app.config.update({
        **kept, "TESTING": True,
        "STRONGBOX_MIGRATE_FROM": "flask-session",
        **({} if url is None else {"STRONGBOX_MIGRATE_STORE": url}),
        "STRONGBOX_MIGRATE_UNTIL": datetime.fromtimestamp(clock.now, timezone.utc) + timedelta(days=7),
    })
    add_views(app, {})

    @app.route("/count")
    def count() -> str:
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    Strongbox(app, store=store, clock=clock)
    return app


def as_strongbox_keeps(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as Strongbox stores it: datetimes to the second, in UTC (as
    Flask's own cookie session keeps them). Everything else is exact."""
    return serialization.loads(serialization.dumps(data))


def visit(app: Flask, cookie: str) -> tuple[FlaskClient, dict[str, Any]]:
    """Send ``cookie`` to the app's ``/show``: the client, and what the view loaded."""
    client = app.test_client()
    client.set_cookie("session", cookie)
    client.get("/show")
    loaded: dict[str, Any] = app.config["LOADED"].pop()
    return client, loaded
