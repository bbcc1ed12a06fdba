"""Where the secret key comes from, and refusing to run without a good one."""

from __future__ import annotations

import secrets
import stat
from pathlib import Path
from typing import Any

import pytest
import strongbox_app.__main__ as main_module
from flask import Flask
from strongbox_app import MissingSecretKey, create_app

from flask_strongbox import ConfigurationError

STRONG = secrets.token_hex(32)


def production(**config: Any) -> dict[str, Any]:
    """Settings for an app that is neither debugging nor testing."""
    return {"STRONGBOX_STORE": "memory://", **config}


def test_production_without_key_refuses_to_start_naming_the_setting() -> None:
    with pytest.raises(MissingSecretKey) as info:
        create_app(production())
    message = str(info.value)
    assert "FLASK_SECRET_KEY" in message
    assert "secrets.token_hex(32)" in message


@pytest.mark.parametrize("weak", ["hello", "dev", "changeme", "x" * 64, "0123456789abcdef"])
def test_production_with_weak_key_refuses_to_start(weak: str) -> None:
    """Strongbox refuses the key; the app makes that happen at start-up, not
    on the first request."""
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        create_app(production(SECRET_KEY=weak))


def test_production_with_weak_key_from_environment_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLASK_SECRET_KEY", "hello")
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        create_app(production())


def test_production_does_not_generate_a_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "secret_key"
    with pytest.raises(MissingSecretKey):
        create_app(production(SECRET_KEY_FILE=key_file))
    assert not key_file.exists()


def test_flask_secret_key_environment_variable_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_SECRET_KEY", STRONG)
    assert create_app(production()).secret_key == STRONG


def test_flask_secret_key_is_taken_verbatim(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not parsed as JSON like other ``FLASK_*`` variables."""
    digits = "".join(str(secrets.randbelow(10)) for _ in range(64))
    monkeypatch.setenv("FLASK_SECRET_KEY", digits)
    assert create_app(production()).secret_key == digits


def test_secret_key_environment_variable_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", STRONG)
    assert create_app(production()).secret_key == STRONG


def test_flask_secret_key_wins_over_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", secrets.token_hex(32))
    monkeypatch.setenv("FLASK_SECRET_KEY", STRONG)
    assert create_app(production()).secret_key == STRONG


def test_lifetime_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_PERMANENT_SESSION_LIFETIME", "900")
    app = create_app(production(SECRET_KEY=STRONG))
    assert app.permanent_session_lifetime.total_seconds() == 900


def test_default_lifetime_is_five_minutes() -> None:
    app = create_app(production(SECRET_KEY=STRONG))
    assert app.permanent_session_lifetime.total_seconds() == 300


@pytest.mark.parametrize("setting", [{"DEBUG": True}, {"GENERATE_SECRET_KEY": True}])
def test_development_generates_a_private_key_file_once(tmp_path: Path, setting: dict[str, Any]) -> None:
    key_file = tmp_path / "instance" / "secret_key"
    first = create_app(production(SECRET_KEY_FILE=key_file, **setting))
    assert len(first.secret_key or "") == 64
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    second = create_app(production(SECRET_KEY_FILE=key_file, **setting))
    assert second.secret_key == first.secret_key


def test_empty_key_file_is_reported(tmp_path: Path) -> None:
    key_file = tmp_path / "secret_key"
    key_file.write_text("")
    with pytest.raises(MissingSecretKey, match="delete it"):
        create_app(production(SECRET_KEY_FILE=key_file, DEBUG=True))


@pytest.fixture
def run_calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    """Capture ``app.run`` instead of serving; keep the key file and store in tmp."""
    calls: list[dict[str, Any]] = []

    def fake_run(self: Flask, **kwargs: Any) -> None:
        calls.append({"app": self, **kwargs})

    monkeypatch.setattr(Flask, "run", fake_run)
    monkeypatch.setenv("FLASK_SECRET_KEY_FILE", str(tmp_path / "secret_key"))
    monkeypatch.setenv("FLASK_STRONGBOX_STORE", "memory://")
    return calls


def test_main_runs_locally_on_port_5000_with_a_generated_key(
    run_calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    main_module.main([])
    [call] = run_calls
    assert (call["host"], call["port"], call["debug"]) == ("127.0.0.1", 5000, False)
    assert (tmp_path / "secret_key").exists()


def test_main_honours_port_environment_variable(
    run_calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", "8123")
    main_module.main([])
    assert run_calls[0]["port"] == 8123


def test_main_options_win_over_environment(
    run_calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", "8123")
    main_module.main(["--host", "0.0.0.0", "--port", "9000"])
    assert (run_calls[0]["host"], run_calls[0]["port"]) == ("0.0.0.0", 9000)


def test_main_rejects_a_bad_port_variable(
    run_calls: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PORT", "http")
    with pytest.raises(SystemExit):
        main_module.main([])
    assert "PORT must be a port number" in capsys.readouterr().err
    assert run_calls == []
