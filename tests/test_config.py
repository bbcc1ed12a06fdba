"""Misconfiguration fails at start-up with one sentence naming the setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask, session

from flask_strongbox import ConfigurationError, MemoryStore, SQLiteStore, Strongbox

from .conftest import SECRET


def app_with(tmp_path: Path, **config: Any) -> Flask:
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(SECRET_KEY=SECRET, TESTING=True, **config)
    return app


def test_unknown_setting_names_itself_and_suggests_the_right_one(tmp_path: Path) -> None:
    expected = r"STRONGBOX_IDLE_TIMOUT .*did you mean STRONGBOX_IDLE_TIMEOUT"
    with pytest.raises(ConfigurationError, match=expected):
        Strongbox(app_with(tmp_path, STRONGBOX_IDLE_TIMOUT=60))


@pytest.mark.parametrize(
    ("setting", "value"),
    [("STRONGBOX_IDLE_TIMEOUT", -5), ("STRONGBOX_ABSOLUTE_LIFETIME", "1 day"),
     ("STRONGBOX_DEVICE_HINTS", "yes"), ("STRONGBOX_MAX_SIZE", 0), ("STRONGBOX_IDENTITY_KEYS", []),
     ("STRONGBOX_CLOCK", 5), ("STRONGBOX_STORE", 42)],
)
def test_bad_values_fail_at_init_naming_the_setting(tmp_path: Path, setting: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=setting):
        Strongbox(app_with(tmp_path, **{setting: value}))


@pytest.mark.parametrize(
    ("url", "message"),
    [("mysql://db", "scheme 'mysql' is not supported"), ("sessions.db", "is not a URL"),
     ("sqlite://", "sqlite:///file")],
)
def test_bad_store_urls_fail_at_init(tmp_path: Path, url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Strongbox(app_with(tmp_path, STRONGBOX_STORE=url))


def test_store_urls_select_stores(tmp_path: Path) -> None:
    app = app_with(tmp_path, STRONGBOX_STORE="memory://")
    Strongbox(app)
    assert isinstance(app.session_interface.store, MemoryStore)  # type: ignore[attr-defined]
    app = app_with(tmp_path, STRONGBOX_STORE="sqlite:///sub.sqlite3")
    Strongbox(app)
    store = app.session_interface.store  # type: ignore[attr-defined]
    assert isinstance(store, SQLiteStore) and store.path == tmp_path / "sub.sqlite3"
    app = app_with(tmp_path, STRONGBOX_STORE=f"sqlite:///{tmp_path}/abs.sqlite3")
    Strongbox(app)
    assert app.session_interface.store.path == tmp_path / "abs.sqlite3"  # type: ignore[attr-defined]


def test_app_factory_pattern(tmp_path: Path) -> None:
    strongbox = Strongbox(store=MemoryStore())

    def create_app() -> Flask:
        app = app_with(tmp_path)
        strongbox.init_app(app)

        @app.route("/")
        def index() -> str:
            session["n"] = session.get("n", 0) + 1
            return str(session["n"])

        return app

    first, second = create_app().test_client(), create_app().test_client()
    assert [first.get("/").data, first.get("/").data, second.get("/").data] == [b"1", b"2", b"1"]


def test_tutorial_order_secret_set_after_init_works(tmp_path: Path) -> None:
    """The tutorial sets app.secret_key after creating the app; Strongbox reads
    keys when the first request needs them, so the order does not matter."""
    app = Flask(__name__, instance_path=str(tmp_path))
    app.testing = True
    Strongbox(app, store=MemoryStore())
    app.secret_key = SECRET

    @app.route("/")
    def index() -> str:
        session["user"] = "alice"
        return "ok"

    assert "Set-Cookie" in app.test_client().get("/").headers


def test_missing_secret_key_explains_itself_like_flask(tmp_path: Path) -> None:
    app = Flask(__name__, instance_path=str(tmp_path))
    app.testing = True
    Strongbox(app, store=MemoryStore())

    @app.route("/")
    def index() -> str:
        session["user"] = "alice"
        return "ok"

    with pytest.raises(RuntimeError, match="secret key"):
        app.test_client().get("/")


def test_production_refuses_an_unset_secret_key(tmp_path: Path) -> None:
    """Unset, not just weak: production names SECRET_KEY rather than falling
    back to Flask's null session. (Weak values: tests/test_keys.py.)"""
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config["SECRET_KEY"] = None
    Strongbox(app, store=MemoryStore())

    @app.route("/")
    def index() -> str:
        session["user"] = "alice"
        return "ok"

    app.config["PROPAGATE_EXCEPTIONS"] = True
    with pytest.raises(ConfigurationError, match=r"SECRET_KEY .*secrets\.token_hex\(32\)"):
        app.test_client().get("/")


def test_unreachable_network_store_is_reported_at_start_up_without_the_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nothing listens
    app = app_with(tmp_path, STRONGBOX_STORE=f"redis://:hunter2secret@127.0.0.1:{port}/0",
                   STRONGBOX_STORE_TIMEOUT=0.5)
    with caplog.at_level("ERROR", logger="flask_strongbox"):
        Strongbox(app)  # the app still starts
    message = " ".join(r.getMessage() for r in caplog.records)
    assert "unreachable at start-up" in message and f"127.0.0.1:{port}" in message
    assert "hunter2secret" not in message
