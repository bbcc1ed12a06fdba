"""Session ids, the cookie that carries one, and the store key derived from it.

The cookie is ``<id>.<mac>``: 32 random bytes and an HMAC-SHA256 over them, both
unpadded URL-safe base64. It carries nothing else. The store sees only
``HMAC(lookup key, id)``, so a dump of the store holds no usable cookie, and a
store key presented as a cookie fails the format check.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets

from .keys import Keyring, KeySet

ID_BYTES = 32
_PART = 43  # len(urlsafe_b64encode(32 bytes)) without padding
_COOKIE = re.compile(r"[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}")


def new_id() -> bytes:
    """256 bits from the operating system's CSPRNG."""
    return secrets.token_bytes(ID_BYTES)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


#: 43 characters carry 258 bits for 256: the canonical encoding leaves the last
#: character's two low bits zero. Other spellings decode to the same bytes.
_CANONICAL_LAST = frozenset("AEIMQUYcgkosw048")


def _unb64(text: str) -> bytes | None:
    """Decode one 43-character part the regex has vetted; only the canonical
    spelling is accepted, so one id has exactly one cookie."""
    if text[-1] not in _CANONICAL_LAST:
        return None
    try:
        return base64.urlsafe_b64decode(text + "=")
    except (binascii.Error, ValueError):
        return None


def _mac(keyset: KeySet, sid: bytes) -> bytes:
    return hmac.digest(keyset.cookie, sid, "sha256")


def sign(keyring: Keyring, sid: bytes) -> str:
    """The cookie value for ``sid``, signed with the primary key."""
    return sign_with(keyring.primary, sid)


def sign_with(keyset: KeySet, sid: bytes) -> str:
    """The cookie value for ``sid``, signed with ``keyset`` (a session under
    a fallback key keeps its cookie until it moves to the primary key)."""
    return f"{_b64(sid)}.{_b64(_mac(keyset, sid))}"


def unsign(keyring: Keyring, cookie: str) -> tuple[bytes, KeySet] | None:
    """The id in ``cookie`` and the key set that signed it, or ``None`` for
    anything malformed or forged. Does no I/O."""
    if len(cookie) != 2 * _PART + 1 or not _COOKIE.fullmatch(cookie):
        return None
    sid, mac = _unb64(cookie[:_PART]), _unb64(cookie[_PART + 1:])
    if sid is None or mac is None:
        return None
    for keyset in keyring.sets:
        if hmac.compare_digest(mac, _mac(keyset, sid)):
            return sid, keyset
    return None


def store_key(keyset: KeySet, sid: bytes) -> str:
    """The key the store files ``sid`` under: a keyed hash, never the id."""
    return hmac.digest(keyset.lookup, sid, "sha256").hex()


def identity_key(keyset: KeySet, identity: object) -> str:
    """The per-user index entry for ``identity``: a keyed hash, never the name."""
    return hmac.digest(keyset.identity, str(identity).encode(), "sha256").hex()
