"""A short, human device hint from a ``User-Agent`` header, for session lists."""

from __future__ import annotations

from . import sealing
from .keys import Keyring

#: Associated data that keeps a sealed hint from opening as session data.
_PURPOSE = b"|info"

_BROWSERS = (
    ("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chromium/", "Chromium"),
    ("HeadlessChrome/", "Chrome"), ("Chrome/", "Chrome"), ("Safari/", "Safari"), ("curl/", "curl"),
)
_SYSTEMS = (
    ("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
    ("Mac OS X", "macOS"), ("Macintosh", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"),
)


def describe(user_agent: str | None) -> str:
    """``"Firefox on Linux"``, or ``"Unknown device"``: never the raw header,
    so a session list shows no attacker-chosen text beyond these names."""
    ua = user_agent or ""
    browser = next((name for marker, name in _BROWSERS if marker in ua), None)
    system = next((name for marker, name in _SYSTEMS if marker in ua), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown device"


def seal_hint(keyring: Keyring, user_agent: str | None, key: str) -> bytes:
    """The hint for ``user_agent``, sealed for the record under ``key``."""
    return sealing.seal(keyring, describe(user_agent).encode(), key, purpose=_PURPOSE)


def open_hint(keyring: Keyring, sealed: bytes | None, key: str) -> str | None:
    """The hint sealed by :func:`seal_hint`, or ``None`` if there is none or
    it cannot be opened (sealed under a key that was since removed)."""
    if not sealed:
        return None
    try:
        return sealing.unseal(keyring, sealed, key, purpose=_PURPOSE).decode()
    except (sealing.InvalidSeal, UnicodeDecodeError):
        return None
