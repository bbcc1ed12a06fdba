"""The suite's one reader of ``Set-Cookie`` headers.

It reads them as a browser does (RFC 6265 section 5.2): the name and value
before the first ``;``, then attributes whose names are case-insensitive, a
flag such as ``HttpOnly`` having no value. A cookie is cleared by an empty
value, ``Max-Age=0`` or ``Expires`` at the epoch, as Flask clears one and
Werkzeug's test client drops one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from werkzeug.http import parse_date
from werkzeug.test import TestResponse

SESSION = "session"


@dataclass(frozen=True)
class SetCookie:
    """One ``Set-Cookie`` header, read."""

    name: str
    value: str
    #: By lower-cased name; a flag (``httponly``, ``secure``, ``partitioned``) is ``None``.
    attributes: dict[str, str | None]

    @property
    def expires(self) -> datetime | None:
        """The ``Expires`` attribute, aware; ``None`` for a browser-session cookie."""
        return parse_date(self.attributes.get("expires"))

    @property
    def cleared(self) -> bool:
        """Whether it tells the browser to drop the cookie."""
        if not self.value or self.attributes.get("max-age") == "0":
            return True
        return self.expires is not None and self.expires.timestamp() == 0


def parse_set_cookie(header: str) -> SetCookie:
    pair, _, rest = header.partition(";")
    name, _, value = pair.partition("=")
    attributes: dict[str, str | None] = {}
    for item in rest.split(";"):
        key, sep, attribute = item.partition("=")
        if key.strip():
            attributes[key.strip().lower()] = attribute.strip() if sep else None
    return SetCookie(name.strip(), value.strip(), attributes)


def set_cookies(source: TestResponse | Iterable[str], name: str = SESSION) -> list[SetCookie]:
    """Every ``Set-Cookie`` for the cookie ``name`` in a response (or in
    header values), in order."""
    headers = source.headers.getlist("Set-Cookie") if isinstance(source, TestResponse) else source
    return [cookie for cookie in map(parse_set_cookie, headers) if cookie.name == name]


def set_cookie(source: TestResponse | Iterable[str], name: str = SESSION) -> str | None:
    """The value a response sets the cookie ``name`` to (the last, if more
    than once); ``""`` if it clears it; ``None`` if it leaves it alone."""
    found = set_cookies(source, name)
    if not found:
        return None
    return "" if found[-1].cleared else found[-1].value
