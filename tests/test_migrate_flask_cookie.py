"""Reading Flask's own signed-cookie sessions, as Flask itself reads them.

Every cookie here comes from a real Flask app's test client; the reader must
give exactly what Flask loads from it, or ``None`` where Flask would start an
empty session, and never raise.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from flask_strongbox.migrate import FlaskCookieReader, Loaded, cookie_fingerprint

from .legacy_apps import SECRET, TAGGED, cookie_app, typed

KEY = b"fingerprint-key-for-tests-only-32b"


def log_in(app: Flask, name: str = "ada") -> str:
    client = app.test_client()
    client.get(f"/login/{name}")
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def flask_loads(app: Flask, cookie: str) -> dict[str, object]:
    """What Flask itself loads from ``cookie`` in a request."""
    client = app.test_client()
    client.set_cookie("session", cookie)
    client.get("/show")
    loaded: dict[str, object] = app.config["LOADED"].pop()
    return loaded


def test_cookie_gives_exactly_what_flask_loads_with_every_tagged_type() -> None:
    app = cookie_app()
    cookie = log_in(app)
    result = FlaskCookieReader.from_config(app.config).load(cookie, time.time())

    assert isinstance(result, Loaded)
    assert typed(result.data) == typed(flask_loads(app, cookie))
    data = result.data
    assert data["user"] == "ada" and data["_permanent"] is True
    assert data["tuple"] == (1, "a", (2.5, None)) and isinstance(data["tuple"][2], tuple)
    assert data["bytes"] == b"\x00\xffraw"
    assert type(data["markup"]) is Markup and data["markup"] == "<b>bold</b>"
    assert data["uuid"] == uuid.UUID("6f9f3f8e-3c0a-4a5e-9b7e-0c6a2d1f4b11")
    assert data["datetime"] == TAGGED["datetime"] and data["datetime"].tzinfo is not None
    assert typed(data["nested"]) == typed(TAGGED["nested"])


def test_each_logged_in_client_reads_back_its_own_session() -> None:
    app = cookie_app()
    reader = FlaskCookieReader.from_config(app.config)
    cookies = {name: log_in(app, name) for name in ("ada", "grace", "linus")}
    for name, cookie in cookies.items():
        result = reader.load(cookie, time.time())
        assert isinstance(result, Loaded) and result.data["user"] == name


def test_a_cookie_signed_with_a_fallback_key_loads_as_flask_would() -> None:
    old = cookie_app(SECRET_KEY="the-Old-secret-key-9a8b7c6d5e")
    cookie = log_in(old)
    rotated = cookie_app(SECRET_KEY=SECRET, SECRET_KEY_FALLBACKS=["the-Old-secret-key-9a8b7c6d5e"])

    with_fallback = FlaskCookieReader.from_config(rotated.config).load(cookie, time.time())
    assert isinstance(with_fallback, Loaded)
    assert typed(with_fallback.data) == typed(flask_loads(rotated, cookie))
    assert FlaskCookieReader(SECRET).load(cookie, time.time()) is None


def test_max_age_is_honoured_as_flask_checks_it() -> None:
    app = cookie_app(PERMANENT_SESSION_LIFETIME=timedelta(hours=1))
    cookie = log_in(app)
    reader = FlaskCookieReader.from_config(app.config)
    result = reader.load(cookie, time.time())
    assert isinstance(result, Loaded) and result.expires is not None
    signed = result.expires - 3600

    assert reader.load(cookie, signed + 3600) is not None  # age == max_age still loads
    assert reader.load(cookie, signed + 3601) is None  # one second older is expired
    assert reader.load(cookie, signed - 1) is None  # signed in the future
    # PERMANENT_SESSION_LIFETIME may be given in seconds, as Flask allows.
    assert FlaskCookieReader.from_config({"SECRET_KEY": SECRET, "PERMANENT_SESSION_LIFETIME": 10}) \
        .load(cookie, signed + 11) is None


def test_forged_and_foreign_cookies_give_none() -> None:
    app = cookie_app()
    cookie = log_in(app)
    reader = FlaskCookieReader.from_config(app.config)
    payload, stamp, signature = cookie.rsplit(".", 2)
    flipped = signature[:5] + ("A" if signature[5] != "A" else "B") + signature[6:]
    other_key = log_in(cookie_app(SECRET_KEY="an-Other-app-secret-1234567"))
    now = time.time()

    assert reader.load(f"{payload}.{stamp}.{flipped}", now) is None
    assert reader.load(f"e30.{stamp}.{signature}", now) is None  # the payload "{}" swapped in
    assert reader.load(other_key, now) is None
    for junk in ("", ".", "..", "a.b.c", "é.é.é", "\udcff", cookie + "x", cookie[:-1]):
        assert reader.load(junk, now) is None


def test_the_same_cookie_in_another_spelling_has_the_same_fingerprint() -> None:
    app = cookie_app()
    cookie = log_in(app)
    reader = FlaskCookieReader.from_config(app.config)
    # A 20-byte SHA-1 MAC takes 27 base64 characters; the last one's two low
    # bits are ignored when decoding, so four spellings all verify.
    last = cookie[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    respelled = cookie[:-1] + alphabet[alphabet.index(last) ^ 1]
    assert respelled != cookie
    assert reader.load(respelled, time.time()) is not None
    assert flask_loads(app, respelled)["user"] == "ada"

    assert cookie_fingerprint(KEY, respelled) == cookie_fingerprint(KEY, cookie)
    assert len(cookie_fingerprint(KEY, cookie)) == 64
    assert cookie_fingerprint(b"another-key", cookie) != cookie_fingerprint(KEY, cookie)
    assert cookie_fingerprint(KEY, log_in(app, "grace")) != cookie_fingerprint(KEY, cookie)


def test_the_reader_repr_shows_no_key() -> None:
    assert SECRET not in repr(FlaskCookieReader(SECRET, ["fallback-Secret-abc123"]))


def test_a_reader_needs_a_secret_key() -> None:
    with pytest.raises(ValueError, match="SECRET_KEY"):
        FlaskCookieReader.from_config({})


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_no_cookie_makes_the_reader_raise(cookie: str) -> None:
    assert FlaskCookieReader(SECRET).load(cookie, time.time()) is None


def test_loaded_data_stays_out_of_repr() -> None:
    app = cookie_app()
    result = FlaskCookieReader.from_config(app.config).load(log_in(app, "secretive"), time.time())
    assert result is not None and "secretive" not in repr(result)
    assert datetime.fromtimestamp(result.expires or 0, timezone.utc) > datetime.now(timezone.utc)
