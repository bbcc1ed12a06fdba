"""Fixtures for the reference app's tests.

``app`` is a fresh app per test with its own SQLite store file and a fake
clock (``clock.advance(seconds)`` moves time instead of sleeping). Requests
from the test client carry no ``Origin`` or ``Sec-Fetch-Site`` header, which
the app treats as a non-browser client; tests that play a browser add them.
"""

from __future__ import annotations

import html
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from strongbox_app import create_app
from werkzeug.test import TestResponse

from flask_strongbox.testing import Clock

#: The app tests' one ``SECRET_KEY`` (a test-only value); fixtures that cannot
#: use ``make_app`` take it from the ``secret_key`` fixture.
SECRET = "0123456789abcdef" * 4


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: end-to-end tests in a real Chromium")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's ``FLASK_*`` and ``SECRET_KEY`` variables out of the tests."""
    for name in list(os.environ):
        if name.startswith("FLASK_") or name == "SECRET_KEY":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def secret_key() -> str:
    return SECRET


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "sessions.sqlite3"


@pytest.fixture
def make_app(store_path: Path, clock: Clock) -> Callable[..., Flask]:
    """Build an app for tests; keyword arguments override its settings."""

    def make(**overrides: Any) -> Flask:
        config: dict[str, Any] = {
            "TESTING": True,
            "SECRET_KEY": SECRET,
            "STRONGBOX_STORE": f"sqlite:///{store_path}",
            "STRONGBOX_CLOCK": clock,
        }
        config.update(overrides)
        return create_app(config)

    return make


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def cookie_name(app: Flask) -> str:
    name: str = app.config["SESSION_COOKIE_NAME"]
    return name


@pytest.fixture
def login() -> Callable[[FlaskClient, str], TestResponse]:
    """Log ``client`` in as ``name`` and check that it worked."""

    def log_in(client: FlaskClient, name: str) -> TestResponse:
        response = client.post("/login", data={"nm": name})
        assert response.status_code == 302
        assert response.headers["Location"] == "/user"
        return response

    return log_in


@pytest.fixture
def store_rows(store_path: Path) -> Callable[[], int]:
    """Count every row of every table in the SQLite store, whatever its schema,
    to check that a request stored nothing."""

    def count() -> int:
        if not store_path.exists():
            return 0
        with sqlite3.connect(f"file:{store_path}?mode=ro", uri=True) as conn:
            tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return sum(conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] for table in tables)

    return count


def session_handles(page: str) -> list[str]:
    """The handles in the "Sign out this session" forms of a sessions page."""
    return [html.unescape(h) for h in re.findall(r'name="handle" value="([^"]*)"', page)]


@pytest.fixture
def handles_on() -> Callable[[FlaskClient], list[str]]:
    """The other sessions' handles listed on ``client``'s sessions page."""

    def handles(client: FlaskClient) -> list[str]:
        response = client.get("/sessions")
        assert response.status_code == 200
        return session_handles(response.get_data(as_text=True))

    return handles


@pytest.fixture
def anonymous_and_storing_nothing(
    store_rows: Callable[[], int],
) -> Iterator[Callable[[TestResponse], None]]:
    """Check that responses set no cookie and that the store gained no row."""
    before = store_rows()

    def check(response: TestResponse) -> None:
        assert "Set-Cookie" not in response.headers
        assert store_rows() == before

    yield check
