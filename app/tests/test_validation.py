"""Bad names are refused with the form and status 400, and nothing is stored:
no cookie, no store record."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from strongbox_app.names import MAX_NAME_LENGTH
from werkzeug.test import TestResponse

NoTrace = Callable[[TestResponse], None]

BAD_NAMES = {
    "empty": ("", "Please enter a name."),
    "whitespace only": (" \u00a0\u3000 ", "Please enter a name."),
    "too long": ("x" * (MAX_NAME_LENGTH + 1), f"at most {MAX_NAME_LENGTH} characters"),
    "NUL": ("ali\x00ce", "control characters"),
    "newline": ("alice\nbob", "control characters"),
    "tab": ("\talice", "control characters"),
    "escape sequence": ("\x1b[31malice", "control characters"),
    "trailing unit separator": ("alice\x1f", "control characters"),
    "DEL": ("alice\x7f", "control characters"),
    "C1 control": ("alice\x85", "control characters"),
    "right-to-left override": ("alice\u202egpj.exe", "control characters"),
    "line separator": ("alice\u2028", "control characters"),
    "replacement character": ("alice\ufffd", "not valid UTF-8"),
    "zero-width space inside": ("ali\u200bce", "invisible or control characters"),
    "Hangul filler alone": ("\u3164", "invisible or control characters"),
    "braille blank alone": ("\u2800", "invisible or control characters"),
    "text hidden in tag characters": ("alice\U000e0061\U000e0064", "invisible or control characters"),
    "right-to-left mark around": ("\u200falice\u200f", "invisible or control characters"),
    "accent without a letter": ("\u0301", "accent or mark that is not on a letter"),
}


@pytest.mark.parametrize(("name", "message"), BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_bad_name_rerenders_form_with_400_and_stores_nothing(
    client: FlaskClient, anonymous_and_storing_nothing: NoTrace, name: str, message: str
) -> None:
    response = client.post("/login", data={"nm": name})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    assert 'aria-invalid="true"' in page
    assert 'name="nm"' in page
    anonymous_and_storing_nothing(response)


def test_missing_field_is_400_and_stores_nothing(
    client: FlaskClient, anonymous_and_storing_nothing: NoTrace
) -> None:
    response = client.post("/login", data={"name": "alice"})
    assert response.status_code == 400
    assert "Please enter a name." in response.get_data(as_text=True)
    anonymous_and_storing_nothing(response)


@pytest.mark.parametrize("body", [b"nm=%FF%FEalice", b"nm=alice\xc3", b"nm=\xed\xa0\x80"])
def test_invalid_utf8_body_is_400_and_stores_nothing(
    client: FlaskClient, anonymous_and_storing_nothing: NoTrace, body: bytes
) -> None:
    response = client.post("/login", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert "not valid UTF-8" in response.get_data(as_text=True)
    anonymous_and_storing_nothing(response)


def test_bad_name_is_echoed_escaped(client: FlaskClient) -> None:
    response = client.post("/login", data={"nm": '"><script>x</script>' + "x" * 80})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "<script>x" not in page
    assert "&#34;&gt;&lt;script&gt;x&lt;/script&gt;" in page


def test_oversized_body_is_refused(client: FlaskClient, anonymous_and_storing_nothing: NoTrace) -> None:
    response = client.post("/login", data={"nm": "x" * 20_000})
    assert response.status_code == 413
    anonymous_and_storing_nothing(response)


def test_bad_name_keeps_an_existing_login(
    client: FlaskClient, login: Callable[[FlaskClient, str], TestResponse]
) -> None:
    login(client, "Alice")
    assert client.post("/login", data={"nm": ""}).status_code == 400
    assert '<h1 class="name">Alice</h1>' in client.get("/user").get_data(as_text=True)


def test_invalid_utf8_in_multipart_body_is_400(
    client: FlaskClient, anonymous_and_storing_nothing: NoTrace
) -> None:
    body = b'--b\r\nContent-Disposition: form-data; name="nm"\r\n\r\nalice\xff\r\n--b--\r\n'
    response = client.post("/login", data=body, content_type="multipart/form-data; boundary=b")
    assert response.status_code == 400
    assert "not valid UTF-8" in response.get_data(as_text=True)
    anonymous_and_storing_nothing(response)


def test_percent_sign_typed_in_a_name_is_kept(
    client: FlaskClient, login: Callable[[FlaskClient, str], TestResponse]
) -> None:
    login(client, "100%FF")
    assert '<h1 class="name">100%FF</h1>' in client.get("/user").get_data(as_text=True)


@pytest.mark.parametrize("name", ["Zoë", "김민수", "ශ්\u200dරී", "نیک\u200cبین", "Ada Lovelace"])
def test_names_in_other_scripts_log_in_and_show_unchanged(
    client: FlaskClient, login: Callable[[FlaskClient, str], TestResponse], name: str
) -> None:
    login(client, name)
    assert f'<h1 class="name">{name}</h1>' in client.get("/user").get_data(as_text=True)


def test_spaces_in_a_name_are_shown_as_one_plain_space(
    client: FlaskClient, login: Callable[[FlaskClient, str], TestResponse]
) -> None:
    login(client, "\u3000Ada\u00a0\u2003Lovelace\u202f")
    assert '<h1 class="name">Ada Lovelace</h1>' in client.get("/user").get_data(as_text=True)
