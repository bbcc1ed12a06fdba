"""A guard that fails any test whose log output holds something shaped like a
session id, a cookie, a store key or key material.

Strongbox logs only reasons, counts and 12-hex-digit fingerprints, so no log
line (its own, Flask's error log, any other) should ever hold a long random
token. Importing :func:`no_secrets_in_logs` into a test module turns the guard
on for that module; importing it into ``conftest.py`` turns it on everywhere.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# A session id, a MAC or a raw key in URL-safe or standard base64 is 43-44
# characters of mixed case and digits; a store key, an identity hash or a key
# in hex is 64 hex digits. File names and test names are neither.
_BASE64_RUN = re.compile(r"[A-Za-z0-9_+/-]{40,}")
_HEX_RUN = re.compile(r"[0-9a-fA-F]{32,}")


# Where the suite and its interpreter live: a traceback names these, and a
# checkout under a random folder such as ``/tmp/tmp.6MHYfUBhYB`` must not pass
# for key material. Replaced before scanning, longest first.
_KNOWN_PATHS = sorted(
    {str(Path(__file__).resolve().parent.parent), os.path.abspath(Path(__file__).parent.parent),
     sys.prefix, sys.base_prefix, sys.exec_prefix},
    key=len, reverse=True,
)


def secret_shaped(text: str) -> list[str]:
    """The substrings of ``text`` that look like random key material."""
    for path in _KNOWN_PATHS:
        text = text.replace(path, "<path>")
    found = [m for m in _HEX_RUN.findall(text)]
    for run in _BASE64_RUN.findall(text):
        if re.search(r"[A-Z]", run) and re.search(r"[a-z]", run) and re.search(r"[0-9]", run):
            found.append(run)
    return found


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.name}: {text}")


@pytest.fixture(autouse=True)
def no_secrets_in_logs() -> Iterator[list[str]]:
    """Collect every log line of the test (Strongbox's at DEBUG) and fail the
    test if one holds a secret-shaped token. Yields the lines collected."""
    collector = _Collector()
    root, ours = logging.getLogger(), logging.getLogger("flask_strongbox")
    level = ours.level
    root.addHandler(collector)
    ours.setLevel(logging.DEBUG)
    try:
        yield collector.lines
    finally:
        ours.setLevel(level)
        root.removeHandler(collector)
    leaks = [(line, secret_shaped(line)) for line in collector.lines if secret_shaped(line)]
    assert not leaks, f"log lines hold secret-shaped tokens: {leaks[:3]}"
