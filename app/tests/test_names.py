"""The rule for names (see :mod:`strongbox_app.names`): nothing that displays
as nothing or changes how a name displays, every space a plain space, no
mark without a base; real names in every script still accepted.

Characters are written as escapes so that this file shows what it tests.
"""

from __future__ import annotations

from typing import Any

import pytest
from strongbox_app.names import (
    EMPTY_MESSAGE,
    INVISIBLE_MESSAGE,
    LONE_MARK_MESSAGE,
    MAX_NAME_LENGTH,
    InvalidName,
    clean_name,
)

#: Characters that show nothing, or only change how their neighbours show.
INVISIBLE = {
    "zero-width space": "\u200b",
    "zero-width non-joiner": "\u200c",
    "zero-width joiner": "\u200d",
    "word joiner": "\u2060",
    "soft hyphen": "\u00ad",
    "byte order mark": "\ufeff",
    "Mongolian vowel separator": "\u180e",
    "invisible times": "\u2062",
    "interlinear annotation anchor": "\ufff9",
    "Hangul choseong filler": "\u115f",
    "Hangul jungseong filler": "\u1160",
    "Hangul filler": "\u3164",
    "halfwidth Hangul filler": "\uffa0",
    "braille pattern blank": "\u2800",
    "combining grapheme joiner": "\u034f",
    "Khmer inherent vowel": "\u17b4",
    "Khitan filler": "\U00016fe4",
    "left-to-right mark": "\u200e",
    "right-to-left mark": "\u200f",
    "Arabic letter mark": "\u061c",
    "left-to-right embedding": "\u202a",
    "right-to-left override": "\u202e",
    "first strong isolate": "\u2068",
    "pop directional isolate": "\u2069",
    "language tag": "\U000e0001",
    "tag letter A": "\U000e0041",
    "cancel tag": "\U000e007f",
    "variation selector 1": "\ufe00",
    "variation selector 16 (emoji)": "\ufe0f",
    "ideographic variation selector": "\U000e0100",
    "Mongolian free variation selector": "\u180b",
}

#: Space separators (Zs) other than U+0020.
SPACES = {
    "no-break space": "\u00a0",
    "Ogham space mark": "\u1680",
    "en quad": "\u2000",
    "em space": "\u2003",
    "figure space": "\u2007",
    "thin space": "\u2009",
    "hair space": "\u200a",
    "narrow no-break space": "\u202f",
    "medium mathematical space": "\u205f",
    "ideographic space": "\u3000",
}

PLACES = {
    "alone": "{c}",
    "around a name": "{c}alice{c}",
    "inside a name": "ali{c}ce",
}


def each(characters: dict[str, str]) -> list[Any]:
    return [
        pytest.param(place.format(c=char), id=f"{what}, {where}")
        for what, char in characters.items()
        for where, place in PLACES.items()
    ]


@pytest.mark.parametrize("raw", each(INVISIBLE))
def test_invisible_and_formatting_characters_are_refused(raw: str) -> None:
    with pytest.raises(InvalidName, match=INVISIBLE_MESSAGE):
        clean_name(raw)


SPOOFS = {
    "text hidden in tag characters": "alice\U000e0061\U000e0064\U000e006d\U000e0069\U000e006e",
    "override that reverses the end": "alice\u202egpj.exe",
    "isolate that moves a part": "\u2067bob\u2069alice",
    "zero-width space splitting a name": "ad\u200bmin",
    "Hangul filler as a blank first name": "\u3164 Lovelace",
    "joiner outside a conjunct": "ali\u200dce",
    "non-joiner between Latin letters": "ali\u200cce",
    "non-joiner after an Arabic letter that does not join left": "\u0631\u200c\u0628",
    "joiner of an emoji sequence": "\U0001f469\u200d\U0001f4bb",
    "joiner after a consonant without a virama": "\u0915\u200d\u0937",
    "emoji presentation selector": "alice\u2764\ufe0f",
}


@pytest.mark.parametrize("raw", SPOOFS.values(), ids=SPOOFS.keys())
def test_names_that_display_as_someone_else_are_refused(raw: str) -> None:
    with pytest.raises(InvalidName, match=INVISIBLE_MESSAGE):
        clean_name(raw)


@pytest.mark.parametrize("space", SPACES.values(), ids=SPACES.keys())
def test_every_space_separator_is_a_plain_space(space: str) -> None:
    assert clean_name(f"{space}Ada{space}Lovelace{space}") == "Ada Lovelace"
    assert clean_name(f"Ada{space}{space} Lovelace") == "Ada Lovelace"
    with pytest.raises(InvalidName, match=EMPTY_MESSAGE):
        clean_name(space * 3)


LONE_MARKS = {
    "acute accent alone": "\u0301",
    "acute accent first": "\u0301alice",
    "acute accent after a space": "alice \u0301",
    "diaeresis after a no-break space": "Ada\u00a0\u0308Lovelace",
    "enclosing circle alone": "\u20dd",
    "Devanagari visarga alone": "\u0903",
    "Hebrew point after a space": "\u05d0 \u05b8",
    "vowel sign after a joiner": "\u0915\u094d\u200d\u093f",
}


@pytest.mark.parametrize("raw", LONE_MARKS.values(), ids=LONE_MARKS.keys())
def test_combining_marks_without_a_base_are_refused(raw: str) -> None:
    with pytest.raises(InvalidName, match=LONE_MARK_MESSAGE):
        clean_name(raw)


REAL_NAMES = {
    "ASCII": ("Alice", "Alice"),
    "surrounding spaces trimmed": ("  Zoë  ", "Zoë"),
    "Latin with diaeresis": ("Zoë", "Zoë"),
    "Latin, decomposed": ("Zoe\u0308", "Zoë"),
    "Polish": ("Łukasz", "Łukasz"),
    "Vietnamese, decomposed": ("Nguye\u0302\u0303n", "Nguyễn"),
    "Chinese": ("李雷", "李雷"),
    "Chinese, three characters": ("李小龍", "李小龍"),
    "Japanese": ("山田 花子", "山田 花子"),
    "Arabic": ("محمد", "محمد"),
    "Hebrew with points": ("יִצְחָק", "יִצְחָק"),
    "Korean syllables": ("김민수", "김민수"),
    "Korean conjoining jamo": ("\u1100\u1175\u11b7\u1106\u1175\u11ab\u1109\u116e", "김민수"),
    "Devanagari": ("लक्ष्मी", "लक्ष्मी"),
    "Devanagari half form (virama, joiner)": ("पृथ्\u200dवी", "पृथ्\u200dवी"),
    "Devanagari explicit virama (virama, non-joiner)": ("पृथ्\u200cवी", "पृथ्\u200cवी"),
    "Sinhala Sri (virama, joiner)": ("ශ්\u200dරී", "ශ්\u200dරී"),
    "Persian compound (non-joiner between joining letters)": ("نیک\u200cبین", "نیک\u200cبین"),
    "Persian -zadeh suffix": ("حسین\u200cزاده", "حسین\u200cزاده"),  # noqa: RUF001 - real Persian letters
    "Thai": ("สมชาย", "สมชาย"),
    "Tibetan stacks": ("བསྟན་འཛིན", "བསྟན་འཛིན"),
    "Burmese": ("အောင်ဆန်း", "အောင်ဆန်း"),
    "Greek": ("Ελένη", "Ελένη"),
    "mark on a digit": ("R2\u0301", "R2\u0301"),
    "ASCII punctuation": ("{{7*7}}", "{{7*7}}"),
    "longest": ("x" * MAX_NAME_LENGTH, "x" * MAX_NAME_LENGTH),
    "longest once spaces collapse": ("x" * 31 + "\u3000 " + "y" * 32, "x" * 31 + " " + "y" * 32),
}


@pytest.mark.parametrize(("raw", "clean"), REAL_NAMES.values(), ids=REAL_NAMES.keys())
def test_real_names_in_every_script_are_accepted(raw: str, clean: str) -> None:
    assert clean_name(raw) == clean


def test_a_missing_field_is_an_empty_name() -> None:
    with pytest.raises(InvalidName, match=EMPTY_MESSAGE):
        clean_name(None)
