"""The read path's shortcuts give exactly what the general code gives.

Reading only the session cookie out of the ``Cookie`` header must find the
same values as werkzeug's full parse (so a duplicated or malformed cookie is
refused alike), and the HMAC from primed pads must be the standard one, or
every cookie and store key would change.
"""

from __future__ import annotations

import hmac

from flask import Request
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.sansio.http import parse_cookie

from flask_strongbox.cookies import session_cookies
from flask_strongbox.ids import hmac_sha256

PIECES = st.sampled_from([
    "session", "sessionx", "xsession", "Session", "=", ";", " ", "\t", '"', "\\", ",", "a", "b.c",
    "-_", "==", "ses", "sion", "é", "%20", "\x7f",
])


@settings(deadline=None)  # a loaded machine is no reason to fail
@given(st.lists(PIECES, max_size=14).map("".join))
def test_only_the_session_cookie_is_read_as_werkzeug_reads_it(header: str) -> None:
    request = Request({"REQUEST_METHOD": "GET", "HTTP_COOKIE": header})
    assert session_cookies(request, "session") == parse_cookie(header).getlist("session")


@settings(deadline=None)
@given(st.sampled_from(["session", "__Host-sid", "a.b", "x*y"]), st.lists(PIECES, max_size=10).map("".join))
def test_any_cookie_name_is_matched_literally(name: str, rest: str) -> None:
    header = f"{rest}; {name}=v1;{name}=v2"
    request = Request({"REQUEST_METHOD": "GET", "HTTP_COOKIE": header})
    assert session_cookies(request, name) == parse_cookie(header).getlist(name)


def test_no_cookie_header_is_no_cookie() -> None:
    assert session_cookies(Request({"REQUEST_METHOD": "GET"}), "session") == []


@settings(deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=300))
def test_primed_hmac_is_hmac_sha256(key: bytes, message: bytes) -> None:
    assert hmac_sha256(key, message) == hmac.digest(key, message, "sha256")
