"""Validation of the name a visitor logs in with.

The name becomes the session identity (``session["user"]``) and is shown back
on every page, so it is checked once, at the boundary, and only a clean value
gets into the session.

A name is judged by how it displays. It is normalised to NFC first (the same
name typed on two keyboards is the same identity), then:

1. **Controls and formatting characters are refused.** That is every
   character of the Unicode categories Cc (C0 and C1 controls, DEL, tab,
   newlines), Cf (format: zero-width space, word joiner, soft hyphen, BOM,
   the direction marks LRM, RLM and ALM, bidirectional embeddings, overrides
   and isolates, the tag characters of the U+E0000 block, ...), Zl and Zp
   (line and paragraph separators), Cs, Co and Cn (surrogates, private use,
   unassigned). Each displays as nothing or changes how its neighbours
   display: ``"ali\\u200bce"`` looks like ``"alice"``, ``"alice\\u202egpj.exe"``
   like ``"aliceexe.jpg"``.
2. **Characters that show nothing are refused** even where their category is
   an ordinary one: the variation selectors, the combining grapheme joiner,
   the Mongolian free variation selectors, the Khmer inherent vowels, the
   Khitan filler (the default-ignorable code points outside Cf), the Hangul
   fillers U+115F, U+1160, U+3164 and U+FFA0, and the braille blank U+2800.
3. **Except the two joiners where a script needs them.** ZERO WIDTH
   NON-JOINER (U+200C) and ZERO WIDTH JOINER (U+200D) are kept in the
   contexts IDNA allows them (:rfc:`5892`, appendices A.1 and A.2, checked by
   the ``idna`` package): right after a virama, where they choose between a
   conjunct and a half form (Sinhala ``"ශ්\\u200dරී"``, Devanagari), and a
   non-joiner between Arabic-script letters that would otherwise join (the
   Persian surname ``"نیک\\u200cبین"``). There the joiner visibly changes the
   word. Anywhere else, emoji sequences such as ``"👩\\u200d💻"`` included,
   they are refused like the rest of rule 1.
4. **Every space is a plain space.** The space separators (Zs: no-break,
   ideographic, en, em, thin spaces, ...) are read as U+0020, runs of spaces
   become one and the ends are trimmed, so ``"Ada\\u3000 Lovelace "`` is
   ``"Ada Lovelace"``. What remains must not be empty: together with rules 1
   and 2 that means at least one visible character.
5. **A combining mark needs a base.** An accent or other mark (Mn, Mc, Me)
   may not start the name or follow a space or a joiner, where it would sit
   on nothing or on the text around the name.

At most :data:`MAX_NAME_LENGTH` characters remain. Look-alike letters from
other scripts (Cyrillic ``"\\u0430"`` for Latin ``"a"``) are not refused: they are
visible letters, and real names mix scripts.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import parse_qsl

import idna
from flask import Request

#: Longest accepted name, in characters after the spaces are normalised.
MAX_NAME_LENGTH = 64

_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_MARK_CATEGORIES = frozenset({"Mn", "Mc", "Me"})
_JOINERS = frozenset("\u200c\u200d")

# Rule 2. unicodedata has no Default_Ignorable_Code_Point property; outside
# Cf and the variation selector blocks it is this short, stable list.
_SHOW_NOTHING = frozenset(
    "\u034f"  # combining grapheme joiner
    "\u115f\u1160\u3164\uffa0"  # Hangul fillers
    "\u17b4\u17b5"  # Khmer inherent vowels
    "\u180b\u180c\u180d\u180f"  # Mongolian free variation selectors
    "\U00016fe4"  # Khitan small script filler
    "\u2800"  # braille pattern blank
)
_VARIATION_SELECTORS = (("\ufe00", "\ufe0f"), ("\U000e0100", "\U000e01ef"))

EMPTY_MESSAGE = "Please enter a name."
INVISIBLE_MESSAGE = "The name contains invisible or control characters."
LONE_MARK_MESSAGE = "The name has an accent or mark that is not on a letter."
INVALID_UTF8_MESSAGE = "The name was not valid UTF-8 text."


class InvalidName(ValueError):
    """The submitted name cannot be used. ``str(error)`` is a message for the user."""


def clean_name(raw: str | None) -> str:
    """Return the name to store, or raise :class:`InvalidName`. The rules are
    in this module's docstring.

    Werkzeug decodes multipart form fields with invalid UTF-8 bytes turned into
    U+FFFD, so that character is refused too. (URL-encoded bodies are checked
    before parsing, see :func:`form_body_is_utf8`.)

    :param raw: the ``nm`` form field, or ``None`` if it was missing.
    """
    if raw is None:
        raise InvalidName(EMPTY_MESSAGE)
    if "\ufffd" in raw:
        raise InvalidName(INVALID_UTF8_MESSAGE)
    name = unicodedata.normalize("NFC", raw)
    if any(shows_nothing(char) for char in name):
        raise InvalidName(INVISIBLE_MESSAGE)
    # Without an argument, split() splits on every Zs space, and on tabs and
    # newlines, which rule 1 has refused already.
    name = " ".join(name.split())
    if not name:
        raise InvalidName(EMPTY_MESSAGE)
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(f"Please use at most {MAX_NAME_LENGTH} characters.")
    if not all(idna.valid_contextj(name, i) for i, char in enumerate(name) if char in _JOINERS):
        raise InvalidName(INVISIBLE_MESSAGE)
    if has_mark_without_base(name):
        raise InvalidName(LONE_MARK_MESSAGE)
    return name


def shows_nothing(char: str) -> bool:
    """Whether ``char`` is refused wherever it stands (rules 1 and 2). The
    joiners are not: where they may stand is rule 3."""
    if char in _JOINERS:
        return False
    if unicodedata.category(char) in _REFUSED_CATEGORIES or char in _SHOW_NOTHING:
        return True
    return any(low <= char <= high for low, high in _VARIATION_SELECTORS)


def has_mark_without_base(name: str) -> bool:
    """Whether a combining mark starts ``name`` or follows a space or a joiner
    (rule 5). A mark after a mark sits on the same base as the first one."""
    return any(
        unicodedata.category(char) in _MARK_CATEGORIES and (i == 0 or name[i - 1] in " \u200c\u200d")
        for i, char in enumerate(name)
    )


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
