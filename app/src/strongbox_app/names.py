"""Validation of the name a visitor logs in with.

The name becomes the session identity (``session["user"]``) and is shown back
on every page, so it is checked once, at the boundary, and only a clean value
gets into the session.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import parse_qsl

from flask import Request

#: Longest accepted name, in characters after trimming surrounding whitespace.
MAX_NAME_LENGTH = 64

# Bidirectional embedding, override and isolate marks: invisible characters that
# can make a name display as something else ("Trojan Source" style spoofing).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

# Cc: C0/C1 controls, DEL, tab and newlines. Cs/Co/Cn: surrogates, private use,
# unassigned. Zl/Zp: line and paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn", "Zl", "Zp"})


INVALID_UTF8_MESSAGE = "The name was not valid UTF-8 text."


class InvalidName(ValueError):
    """The submitted name cannot be used. ``str(error)`` is a message for the user."""


def clean_name(raw: str | None) -> str:
    """Return the name to store, or raise :class:`InvalidName`.

    Surrounding whitespace is trimmed and the result is normalised to NFC, so
    the same name typed on two keyboards is the same identity.

    Werkzeug decodes multipart form fields with invalid UTF-8 bytes turned into
    U+FFFD, so that character is refused too. (URL-encoded bodies are checked
    before parsing, see :func:`form_body_is_utf8`.)

    :param raw: the ``nm`` form field, or ``None`` if it was missing.
    """
    if raw is None:
        raise InvalidName("Please enter a name.")
    if "\ufffd" in raw:
        raise InvalidName(INVALID_UTF8_MESSAGE)
    # Checked before trimming: str.strip() also removes some control characters.
    for char in raw:
        if char in _BIDI_CONTROLS or unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise InvalidName("The name contains control characters.")
    name = unicodedata.normalize("NFC", raw).strip()
    if not name:
        raise InvalidName("Please enter a name.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(f"Please use at most {MAX_NAME_LENGTH} characters.")
    return name


def form_body_is_utf8(req: Request) -> bool:
    """Whether a URL-encoded request body decodes as UTF-8, raw and after
    percent-decoding.

    Werkzeug's parser is lenient: it quietly drops a body with raw invalid
    bytes and keeps percent-encoded invalid bytes as literal ``%FF`` text, so
    the body is checked strictly before ``request.form`` is used. The body is
    cached, and bounded by ``MAX_CONTENT_LENGTH``.
    """
    if req.mimetype != "application/x-www-form-urlencoded":
        return True
    try:
        body = req.get_data(cache=True).decode("utf-8")
        parse_qsl(body, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        return False
    return True
