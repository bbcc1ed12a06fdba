"""Flask-Session's cookie, its filesystem backend's pickles, and the ways a
reader is set up or finds its old store down."""

from __future__ import annotations

import hashlib
import pickle
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from cachelib.file import FileSystemCache
from cachelib.serializers import JSONSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from flask_strongbox import serialization
from flask_strongbox.errors import ConfigurationError, StoreUnavailable
from flask_strongbox.migrate import FlaskSessionConfig, Loaded, Missing, Refused, open_reader
from flask_strongbox.serialization import MAX_DEPTH

from .legacy_apps import FLASK_SESSION_DATA, JSON_DATA, SECRET
from .legacy_stores import Legacy, flask_session_app, sqlite_legacy
from .services import free_port

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:flask_session.*")


@pytest.fixture
def signed(tmp_path: Path) -> Iterator[Legacy]:
    yield from sqlite_legacy(tmp_path, SESSION_USE_SIGNER=True)


def test_a_signed_cookie_gives_the_sid_of_its_record(signed: Legacy) -> None:
    cookie = signed.log_in("ada")
    sid = signed.config.sid(cookie)
    assert sid is not None and cookie.startswith(sid + ".")
    result = signed.reader.load(sid, time.time())
    assert isinstance(result, Loaded) and result.data["user"] == "ada"


def test_forged_or_unsigned_cookies_give_no_sid(signed: Legacy) -> None:
    cookie = signed.log_in("ada")
    sid, _, signature = cookie.rpartition(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert signed.config.sid(f"{sid}.{flipped}") is None
    assert signed.config.sid(sid) is None  # the bare id, without a signature
    other = FlaskSessionConfig(use_signer=True, secret_keys=(b"an-Other-app-secret-1234567",))
    assert other.sid(cookie) is None
    assert signed.config.sid("") is None


def test_a_rotated_secret_key_still_verifies_old_signed_cookies(signed: Legacy) -> None:
    cookie = signed.log_in("ada")
    rotated = FlaskSessionConfig.from_config({
        "SESSION_USE_SIGNER": True, "SECRET_KEY": "a-New-secret-key-0123456789",
        "SECRET_KEY_FALLBACKS": [SECRET],
    })
    assert rotated.sid(cookie) == signed.config.sid(cookie)


def test_unsigned_cookies_must_look_like_a_flask_session_id() -> None:
    config = FlaskSessionConfig()
    assert config.sid("Zx8_-Qw3" * 5) == "Zx8_-Qw3" * 5
    assert config.sid("6f9f3f8e-3c0a-4a5e-9b7e-0c6a2d1f4b11") is not None  # a uuid4 id, before 0.6
    for bad in ("", "a b", "../../etc/passwd", "id.signature", "x" * 251, "é"):
        assert config.sid(bad) is None


def test_config_follows_flask_session_defaults_and_hides_keys() -> None:
    config = FlaskSessionConfig.from_config({"SECRET_KEY": SECRET})
    assert (config.key_prefix, config.use_signer, config.serialization_format, config.table) == (
        "session:", False, "msgpack", "sessions")
    assert SECRET not in repr(config)
    with pytest.raises(ConfigurationError, match="SESSION_USE_SIGNER"):
        FlaskSessionConfig.from_config({"SESSION_USE_SIGNER": True})
    with pytest.raises(ConfigurationError, match="SESSION_SERIALIZATION_FORMAT"):
        FlaskSessionConfig.from_config({"SESSION_SERIALIZATION_FORMAT": "pickle"})


def test_the_json_serialization_format_is_read_too(tmp_path: Path) -> None:
    for legacy in sqlite_legacy(tmp_path, SESSION_SERIALIZATION_FORMAT="json"):
        cookie = legacy.log_in("ada")
        result = legacy.reader.load(legacy.sid(cookie), time.time())
        assert isinstance(result, Loaded) and result.data == legacy.flask_session_loads(cookie)
        assert result.data["bytes"] == legacy.flask_session_loads(cookie)["bytes"]  # base64 text in JSON


def test_every_record_of_the_filesystem_backend_is_a_refused_pickle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    directory = tmp_path / "flask_session"
    app = flask_session_app(FLASK_SESSION_DATA, SESSION_TYPE="filesystem", SESSION_FILE_DIR=str(directory))
    cookies = []
    for name in ("ada", "grace", "linus"):
        client = app.test_client()
        client.get(f"/login/{name}")
        cookies.append(client.get_cookie("session").value)  # type: ignore[union-attr]
    config = FlaskSessionConfig.from_config(app.config)
    reader = open_reader(f"filesystem://{directory}", config)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a reader tried to unpickle")

    for name in ("loads", "load", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    for cookie in cookies:
        result = reader.load(config.sid(cookie) or "", time.time())
        assert isinstance(result, Refused) and result.kind == "pickle"
    results = [record.result for batch in reader.scan(time.time()) for record in batch]
    assert len(results) == 3 and all(isinstance(r, Refused) and r.kind == "pickle" for r in results)


def test_md5_file_names_of_older_cachelib_are_told_from_its_counter(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    cache = FileSystemCache(str(directory), hash_method=hashlib.md5)
    cache.serializer = JSONSerializer()  # type: ignore[assignment]  # typed narrower than cachelib takes
    app = flask_session_app(JSON_DATA, SESSION_TYPE="cachelib", SESSION_CACHELIB=cache)
    client = app.test_client()
    client.get("/login/ada")
    config = FlaskSessionConfig.from_config(app.config)
    sid = config.sid(client.get_cookie("session").value)  # type: ignore[union-attr]
    assert sid is not None

    for url in (f"filesystem://{directory}", f"filesystem://{directory}?hash=md5"):
        result = open_reader(url, config).load(sid, time.time())
        assert isinstance(result, Loaded) and result.data["user"] == "ada"
    assert open_reader(f"filesystem://{directory}?hash=sha256", config).load(sid, time.time()) == Missing()


def test_urls_that_name_no_flask_session_store_fail_with_the_setting() -> None:
    config = FlaskSessionConfig()
    for url in ("memcached://127.0.0.1", "filesystem://relative/dir", "filesystem:///tmp?hash=crc32",
                "sqlite://", "redis+cluster://127.0.0.1:7000"):
        with pytest.raises(ConfigurationError, match="STRONGBOX_MIGRATE_STORE"):
            open_reader(url, config)
    with pytest.raises(ConfigurationError, match="SESSION_SQLALCHEMY_SCHEMA"):
        open_reader("sqlite:///x.db", FlaskSessionConfig(schema="old"))


def test_a_missing_sqlite_file_is_unavailable_and_never_created(tmp_path: Path) -> None:
    reader = open_reader("sqlite:///absent.db", FlaskSessionConfig(), str(tmp_path))
    with pytest.raises(StoreUnavailable, match=r"absent\.db"):
        reader.load("some-session-id", time.time())
    assert not (tmp_path / "absent.db").exists()


def test_a_redis_that_is_down_is_unavailable_without_its_password() -> None:
    reader = open_reader(f"redis://:pw-Secret-42@127.0.0.1:{free_port()}/0", FlaskSessionConfig())
    with pytest.raises(StoreUnavailable) as raised:
        reader.load("some-session-id", time.time())
    assert "pw-Secret-42" not in str(raised.value) + repr(reader)


def test_a_postgres_that_is_down_is_unavailable_without_its_password() -> None:
    url = f"postgresql://postgres:pw-Secret-42@127.0.0.1:{free_port()}/test"
    reader = open_reader(url, FlaskSessionConfig(), timeout=1)
    try:
        with pytest.raises(StoreUnavailable) as raised:
            reader.scan(time.time()).__next__()
        assert "pw-Secret-42" not in str(raised.value) + repr(reader)
    finally:
        reader.close()


def test_without_msgspec_a_reader_fails_at_set_up_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flask_strongbox.migrate import record_format

    monkeypatch.setitem(sys.modules, "msgspec", None)  # as if not installed
    record_format._decoders.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match=r"flask-strongbox\[migrate\]"):
            open_reader("sqlite:///legacy.db", FlaskSessionConfig(), str(tmp_path))
    finally:
        record_format._decoders.cache_clear()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_no_cookie_makes_sid_raise(cookie: str) -> None:
    signer = FlaskSessionConfig(use_signer=True, secret_keys=(SECRET.encode(),))
    for config in (FlaskSessionConfig(), signer):
        assert config.sid(cookie) in (None, cookie)  # no forged signature can verify


def test_what_a_reader_loads_strongbox_can_store_up_to_its_nesting_limit(tmp_path: Path) -> None:
    def nested(levels: int) -> object:
        value: object = "bottom"
        for _ in range(levels):
            value = [value]
        return value

    for legacy in sqlite_legacy(tmp_path):
        legacy.plant("at-limit", msgspec.msgpack.encode({"deep": nested(MAX_DEPTH)}))
        legacy.plant("past-limit", msgspec.msgpack.encode({"deep": nested(MAX_DEPTH + 1)}))
        legacy.plant("ext", msgspec.msgpack.encode({"x": msgspec.msgpack.Ext(7, b"?")}))
        at_limit = legacy.reader.load("at-limit", time.time())
        assert isinstance(at_limit, Loaded)
        assert serialization.loads(serialization.dumps(at_limit.data)) == at_limit.data
        for sid in ("past-limit", "ext"):
            result = legacy.reader.load(sid, time.time())
            assert isinstance(result, Refused) and result.kind == "unstorable"


def test_migrate_all_lists_every_public_class_and_function() -> None:
    import inspect

    import flask_strongbox.migrate as migrate

    defined = {
        name for name, value in vars(migrate).items()
        if not name.startswith("_") and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__.startswith("flask_strongbox.migrate")
    }
    aliases = {"LegacyResult", "RefusalKind"}  # a Union and a Literal
    assert set(migrate.__all__) == defined | aliases
