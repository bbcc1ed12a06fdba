"""Hostile session cookies: each is a new empty session, on every store.

A cookie that is malformed, forged, re-encoded, signed under another key or
purpose, or sent twice never picks a session, never reaches the store, never
raises, and is never echoed into the response. The victim whose valid cookie
the attacker starts from keeps their session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask.sessions import SecureCookieSessionInterface
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from itsdangerous import Signer, URLSafeTimedSerializer
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from flask_strongbox import ids
from flask_strongbox.keys import Keyring
from flask_strongbox.stores.base import Store

from .conftest import DEFAULTS
from .cookies import set_cookies
from .hostile import (
    OLD_SECRET,
    SECRET,
    Target,
    make_target,
    set_cookie,
)
from .log_guard import no_secrets_in_logs

pytestmark = pytest.mark.usefixtures(no_secrets_in_logs.__name__)

VICTIM = {"user": "alice"}
_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclass
class Victim:
    """A logged-in user's valid cookie, which the attacker re-shapes."""

    cookie: str
    target: Target

    @property
    def id_part(self) -> str:
        return self.cookie.split(".")[0]

    @property
    def mac_part(self) -> str:
        return self.cookie.split(".")[1]

    @property
    def sid(self) -> bytes:
        return base64.urlsafe_b64decode(self.id_part + "=")

    @property
    def mac(self) -> bytes:
        return base64.urlsafe_b64decode(self.mac_part + "=")


@pytest.fixture
def victim(target: Target) -> Victim:
    # The standard-base64 case needs a cookie where '-' or '_' differ from '+' '/'.
    for _ in range(50):
        cookie = target.login("alice")
        if "-" in cookie or "_" in cookie:
            assert target.read(cookie) == VICTIM
            return Victim(cookie, target)
    raise AssertionError("50 fresh cookies without '-' or '_': the ids are not random")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _non_canonical(part: str) -> str:
    """The same bytes, spelled with the two unused low bits of the last
    character set: lenient decoders accept it."""
    last = _B64URL.index(part[-1])
    return part[:-1] + _B64URL[last ^ 1]


def _flask_session(v: Victim) -> str:
    serializer = SecureCookieSessionInterface().get_signing_serializer(v.target.app)
    assert serializer is not None
    return str(serializer.dumps(VICTIM))


def _session(value: str | bytes) -> bytes:
    return b"session=" + (value if isinstance(value, bytes) else value.encode())


# Each builds the whole raw Cookie header from the victim's valid cookie.
CASES: dict[str, Callable[[Victim], bytes]] = {
    "empty": lambda v: _session(""),
    "name-without-value": lambda v: b"session",
    "dot": lambda v: _session("."),
    "two-dots": lambda v: _session(".."),
    "many-dots": lambda v: _session("." * 87),
    "extra-dot": lambda v: _session(f"{v.id_part}..{v.mac_part}"),
    "id-only": lambda v: _session(v.id_part),
    "100-kb": lambda v: _session("A" * 100_000),
    "100-kb-after-valid": lambda v: _session(v.cookie + "A" * 100_000),
    "non-utf-8": lambda v: _session(v.cookie[:-1].encode() + b"\xff"),
    "invalid-utf-8-only": lambda v: _session(b"\xc3\x28\xa0\xa1\xff\xfe"),
    "nul-after-valid": lambda v: _session(v.cookie + "\x00"),
    "nul-only": lambda v: _session("\x00" * 87),
    "crlf-header-injection": lambda v: _session(v.cookie + "\r\nSet-Cookie: injected=1"),
    "non-ascii": lambda v: _session("sé€ret-😀".encode()),
    "fullwidth-letter": lambda v: _session(("\uff21" + v.cookie[1:]).encode()),
    "path": lambda v: _session("../../../../etc/passwd"),
    "windows-path": lambda v: _session("..\\..\\windows\\win.ini"),
    "sql-or": lambda v: _session("' OR '1'='1"),
    "sql-drop": lambda v: _session("x'); DROP TABLE strongbox_sessions; --"),
    "sql-union": lambda v: _session("1 UNION SELECT blob FROM strongbox_sessions"),
    "standard-base64-padded": lambda v: _session(
        base64.b64encode(v.sid).decode() + "." + base64.b64encode(v.mac).decode()
    ),
    "standard-base64": lambda v: _session(v.cookie.replace("-", "+").replace("_", "/")),
    "urlsafe-padded": lambda v: _session(f"{v.id_part}=.{v.mac_part}="),
    "percent-encoded": lambda v: _session("".join(f"%{b:02X}" for b in v.cookie.encode())),
    "percent-encoded-dot": lambda v: _session(f"{v.id_part}%2E{v.mac_part}"),
    "non-canonical-id": lambda v: _session(f"{_non_canonical(v.id_part)}.{v.mac_part}"),
    "non-canonical-signature": lambda v: _session(f"{v.id_part}.{_non_canonical(v.mac_part)}"),
    "bad-signature": lambda v: _session(f"{v.id_part}.{_b64(bytes(b ^ 0x80 for b in v.mac))}"),
    "zero-signature": lambda v: _session(f"{v.id_part}.{_b64(bytes(32))}"),
    "parts-swapped": lambda v: _session(f"{v.mac_part}.{v.id_part}"),
    "signed-under-removed-key": lambda v: _session(ids.sign(Keyring(OLD_SECRET), v.sid)),
    "flask-signed-session": lambda v: _session(_flask_session(v)),
    "itsdangerous-serializer": lambda v: _session(str(URLSafeTimedSerializer(SECRET).dumps(VICTIM))),
    "itsdangerous-signer-same-shape": lambda v: _session(
        Signer(SECRET, sep=".", digest_method=hashlib.sha256).sign(v.id_part).decode()
    ),
    "hmac-of-secret-key-same-shape": lambda v: _session(
        f"{v.id_part}.{_b64(hmac.new(SECRET.encode(), v.sid, hashlib.sha256).digest())}"
    ),
    "store-key-from-dump": lambda v: _session(v.target.store_key(v.cookie)),
    "store-key-in-cookie-shape": lambda v: _session(
        f"{_b64(bytes.fromhex(v.target.store_key(v.cookie)))}.{v.mac_part}"
    ),
    "two-cookies-both-valid": lambda v: _session(f"{v.cookie}; session={v.cookie}"),
    "two-cookies-junk-first": lambda v: _session(f"junk; session={v.cookie}"),
    "two-cookies-junk-last": lambda v: _session(f"{v.cookie}; session=junk"),
}


def test_non_canonical_cases_decode_to_the_victims_bytes(victim: Victim) -> None:
    """The non-canonical spellings really are the same id and signature to a
    lenient decoder, so rejecting them tests the canonical-form check."""
    for part, raw in ((victim.id_part, victim.sid), (victim.mac_part, victim.mac)):
        spelled = _non_canonical(part)
        assert spelled != part
        assert base64.urlsafe_b64decode(spelled + "=") == raw


@pytest.mark.parametrize("case", CASES)
def test_hostile_cookie_reads_as_new_empty_session_without_store_query(
    target: Target, victim: Victim, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    header = CASES[case](victim)
    target.spy.calls.clear()
    with caplog.at_level(logging.DEBUG, logger="flask_strongbox"):
        response = target.send("/read", header)
    assert response.status_code == 200
    assert response.get_json() == {}
    assert target.spy.calls == {}, "a cookie that fails the signature must not reach the store"
    # Nothing about the cookie comes back: no Set-Cookie, no echo, no injected header.
    assert set(response.headers.keys()) <= {"Content-Type", "Content-Length", "Vary"}
    for record in caplog.records:
        message = record.getMessage()
        assert victim.id_part not in message and victim.mac_part not in message
        assert "\n" not in message and "\r" not in message
    assert target.read(victim.cookie) == VICTIM


@pytest.mark.parametrize("case", CASES)
def test_hostile_cookie_on_write_gets_a_fresh_id_and_leaves_the_victim_alone(
    target: Target, victim: Victim, case: str
) -> None:
    header = CASES[case](victim)
    records = target.count_records()
    target.spy.calls.clear()
    response = target.send("/write", header)
    assert response.status_code == 200
    assert response.get_json() == {"n": 1}
    fresh = set_cookie(response)
    assert fresh and fresh != victim.cookie
    assert fresh.encode() not in header
    assert ids.unsign(target.keyring, fresh) is not None
    assert target.spy.calls["get"] == 0
    assert target.read(fresh) == {"n": 1}
    assert target.read(victim.cookie) == VICTIM
    assert target.count_records() == records + 1


def test_session_id_in_query_string_is_ignored(target: Target, victim: Victim) -> None:
    target.spy.calls.clear()
    for name in ("session", "session_id", "sid"):
        response = target.send("/read", None, query_string={name: victim.cookie})
        assert response.get_json() == {}
    assert target.spy.calls == {}


def test_session_id_in_form_field_is_ignored(target: Target, victim: Victim) -> None:
    target.spy.calls.clear()
    response = target.send("/read", None, method="POST", data={"session": victim.cookie})
    assert response.get_json() == {}
    assert target.spy.calls == {}


def test_sql_like_cookies_leave_the_store_working(target: Target, victim: Victim) -> None:
    """After the SQL-looking cookies, the table and the victim's row are intact."""
    records = target.count_records()
    for case in ("sql-or", "sql-drop", "sql-union"):
        target.send("/write", CASES[case](victim))
    assert target.read(victim.cookie) == VICTIM
    assert target.count_records() == records + 3


_HYPOTHESIS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_PIECES = st.lists(
    st.one_of(
        st.binary(max_size=12),
        st.sampled_from([b";", b"; ", b"=", b"session", b"session=", b'"', b",", b" ", b"\\", b"."]),
    ),
    max_size=8,
).map(b"".join)


@_HYPOTHESIS
@given(raw=st.binary(max_size=300))
def test_arbitrary_cookie_bytes_open_an_empty_session(target: Target, victim: Victim, raw: bytes) -> None:
    target.spy.calls.clear()
    response = target.send("/read", b"session=" + raw)
    assert response.status_code == 200
    assert response.get_json() == {}
    assert target.spy.calls["get"] == 0


@_HYPOTHESIS
@given(text=st.text(max_size=200))
def test_arbitrary_cookie_text_opens_an_empty_session(target: Target, victim: Victim, text: str) -> None:
    response = target.send("/read", b"session=" + text.encode("utf-8", "surrogatepass"))
    assert response.status_code == 200
    assert response.get_json() == {}


@_HYPOTHESIS
@given(before=_PIECES, after=_PIECES)
def test_arbitrary_header_around_a_valid_cookie_opens_empty_or_the_right_session(
    target: Target, victim: Victim, before: bytes, after: bytes
) -> None:
    """Whatever surrounds the victim's cookie, the request sees the victim's
    session exactly when the header carries that one cookie under the session
    name (as Werkzeug parses it), and an empty session otherwise."""
    header = before + b"session=" + victim.cookie.encode() + after
    environ = EnvironBuilder(environ_overrides={"HTTP_COOKIE": header.decode("latin-1")}).get_environ()
    carried = Request(environ).cookies.getlist("session")
    expected = VICTIM if carried == [victim.cookie] else {}
    event("the victim's session" if expected else "an empty session")
    target.spy.calls.clear()
    response = target.send("/read", header)
    assert response.status_code == 200
    assert response.get_json() == expected
    assert target.spy.calls["get"] == (1 if expected else 0)


# -- replay, ids and cookie attributes -------------------------------------------------


def test_cookie_replayed_after_logout_or_expiry_is_an_empty_session(target: Target, victim: Victim) -> None:
    """The back button or a stolen copy cannot bring an ended session back."""
    assert set_cookie(target.send("/logout", f"session={victim.cookie}")) == ""
    assert target.read(victim.cookie) == {}
    idle = target.login("bob")
    target.clock.advance(DEFAULTS.idle_timeout + timedelta(seconds=1))
    assert target.read(idle) == {}
    assert target.send("/write", f"session={idle}").get_json() == {"n": 1}  # a new session, not bob's


@pytest.mark.slow
def test_session_ids_are_256_random_bits_and_never_repeat(target: Target) -> None:
    cookies = {set_cookie(target.send("/write", None)) for _ in range(500)}
    assert len(cookies) == 500
    for cookie in cookies:
        assert cookie and len(base64.urlsafe_b64decode(cookie.split(".")[0] + "=")) == 32


def test_host_prefixed_secure_httponly_cookie_settings_are_honoured(shared_store: Store) -> None:
    """With Flask's own settings for a ``__Host-`` cookie, the session cookie
    carries Secure, HttpOnly, SameSite and Path=/ without a Domain; the id
    travels only in Set-Cookie, and a second cookie of that name is refused."""
    target = make_target(shared_store, SESSION_COOKIE_NAME="__Host-session", SESSION_COOKIE_SECURE=True,
                         SESSION_COOKIE_SAMESITE="Strict")
    response = target.send("/login/alice", None, base_url="https://example.test")
    [written] = set_cookies(response, "__Host-session")
    assert written.attributes.items() >= {"secure": None, "httponly": None, "path": "/",
                                          "samesite": "Strict"}.items()
    assert "domain" not in written.attributes
    assert len(f"{written.name}={written.value}".encode()) < 4096
    cookie = written.value
    assert cookie not in response.get_data(as_text=True)
    https = {"base_url": "https://example.test"}
    assert target.send("/read", f"__Host-session={cookie}", **https).get_json() == VICTIM
    assert target.send("/read", f"__Host-session={cookie}; __Host-session={cookie}", **https).get_json() == {}
