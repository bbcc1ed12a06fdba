"""How much of a secret key is random, for refusing weak keys in production.

A long key is not a strong key: ``changeme-changeme-changeme-changeme`` and
``your-secret-key-goes-here-replace-me-now`` are both past 32 bytes. zxcvbn's
pattern matchers find the parts of a key a guesser would try first: words and
common passwords, sequences such as ``abcde`` or ``56789``, keyboard walks and
years; a stretch that repeats an earlier one counts once, and the words of a
phrase (``my-flask-app``, ``MySecretKey``) count whatever their length. Only
the rest counts, at the bits per character of the alphabet it uses. zxcvbn's
own total is not used: it scores a long phrase of common words as highly as a
random key.

The check runs once per process when the keys are derived, outside debug and
testing, so its cost (about 20 ms) is off the request path.
"""

from __future__ import annotations

import math
import re
import string
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zxcvbn.matching import _Match

#: Random bits a production key must carry beyond what the matchers explain.
#: ``secrets.token_hex(16)`` has about 128 and ``uuid.uuid4().hex`` 122; chance
#: matches in them (a year, a word) cost at most about 50 in 16,000 tries, so
#: 64 refuses no random key of 32 characters, and every phrase or repeat
#: tried (see the tests) scores below 40.
MIN_RANDOM_BITS = 64
#: Shortest match of each kind that counts: shorter ones occur by chance in
#: random text (``2525``, ``face`` in hex). Digit-pad walks (``1598``) are
#: ignored for the same reason.
_SHORTEST = {"dictionary": 4, "sequence": 5, "spatial": 8}
#: Words spelled with digits for letters count from this length
#: (``Tr0ub4dor``), as short ones (``5afe``) turn up by chance in hex.
_SHORTEST_L33T = 8
#: A stretch that already occurred earlier in the key, this long or longer,
#: adds nothing (``changeme-changeme-...``, ``Tr0ub4dor&3-Tr0ub4dor&3``).
_SHORTEST_REPEAT = 6
_HEX = frozenset(string.hexdigits)
#: A phrase: words between separators, or CamelCase words.
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_SEPARATOR = frozenset(" -_.,:;/+")
#: Long keys are judged on this many leading characters: the matchers' cost
#: grows with the square of the length.
_WINDOW = 128


def random_bits(secret: str) -> float:
    """Bits of ``secret`` that no word, repeat, sequence, keyboard walk or
    year explains."""
    from zxcvbn.matching import omnimatch

    text = secret[:_WINDOW]
    explained = [False] * len(text)
    for match in omnimatch(text):
        if _explains(match, text):
            explained[match["i"]:match["j"] + 1] = [True] * (match["j"] + 1 - match["i"])
    _explain_phrase_words(text, explained)
    _explain_repeats(text, explained)
    rest = "".join(c for c, known in zip(text, explained, strict=True) if not known)
    return len(rest) * math.log2(_alphabet(rest)) if rest else 0.0


def _explains(match: _Match, text: str) -> bool:
    pattern = match["pattern"]
    if pattern == "regex":
        # A year on its own (``-2024``), not four digits inside a longer run.
        i, j = match["i"], match["j"]
        alone = (i == 0 or not text[i - 1].isdigit()) and (j + 1 == len(text) or not text[j + 1].isdigit())
        return match.get("regex_name") == "recent_year" and alone
    if match.get("reversed") or match.get("graph") == "keypad":
        return False
    if match.get("l33t") and len(match["token"]) < _SHORTEST_L33T:
        return False
    return pattern in _SHORTEST and len(match["token"]) >= _SHORTEST[pattern]


def _explain_phrase_words(text: str, explained: list[bool]) -> None:
    """Mark whole words of a phrase that a dictionary holds, and the
    separators between explained parts."""
    from zxcvbn.matching import RANKED_DICTIONARIES

    for found in _WORDS.finditer(text):
        start, end = found.span()
        bounded = (start == 0 or not text[start - 1].isalnum() or found.group()[0].isupper()) and (
            end == len(text) or not text[end].islower()
        )
        word = found.group().lower()
        if bounded and (len(word) > 1 or word in "ai") and any(
            word in ranked for ranked in RANKED_DICTIONARIES.values()
        ):
            explained[start:end] = [True] * (end - start)
    for i, char in enumerate(text):
        if char in _SEPARATOR and (i == 0 or explained[i - 1] or i + 1 == len(text) or explained[i + 1]):
            explained[i] = True


def _explain_repeats(text: str, explained: list[bool]) -> None:
    """Mark every stretch that copies an earlier one (as LZ77 would)."""
    i = 0
    while i < len(text):
        longest = 0
        for start in range(i):
            length = 0
            while i + length < len(text) and text[start + length] == text[i + length]:
                length += 1
            longest = max(longest, length)
        if longest >= _SHORTEST_REPEAT:
            explained[i:i + longest] = [True] * longest
            i += longest
        else:
            i += 1


def _alphabet(text: str) -> int:
    """The size of the smallest usual alphabet ``text`` fits in."""
    if all(c in _HEX for c in text) and (text.islower() or text.isupper() or text.isdigit()):
        return 16
    size = 0
    size += 26 if any(c in string.ascii_lowercase for c in text) else 0
    size += 26 if any(c in string.ascii_uppercase for c in text) else 0
    size += 10 if any(c in string.digits for c in text) else 0
    size += 33 if any(c in string.punctuation or c == " " for c in text) else 0
    size += 128 if any(ord(c) > 127 for c in text) else 0
    return max(size, 2)
