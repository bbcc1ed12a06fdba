"""Session ids, the cookie that carries one, and the store key derived from it.

The cookie is ``<id>.<mac>``: 32 random bytes and an HMAC-SHA256 over them, both
unpadded URL-safe base64. It carries nothing else. The store sees only
``HMAC(lookup key, id)``, so a dump of the store holds no usable cookie, and a
store key presented as a cookie fails the format check.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import secrets
from typing import Any

from .keys import Keyring, KeySet

ID_BYTES = 32
_PART = 43  # len(urlsafe_b64encode(32 bytes)) without padding
#: Where the MAC starts in a cookie that :func:`unsign` accepted.
MAC_AT = _PART + 1
_COOKIE = re.compile(r"[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}")


def new_id() -> bytes:
    """256 bits from the operating system's CSPRNG."""
    return secrets.token_bytes(ID_BYTES)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


#: 43 characters carry 258 bits for 256: the canonical encoding leaves the last
#: character's two low bits zero. Other spellings decode to the same bytes.
_CANONICAL_LAST = frozenset("AEIMQUYcgkosw048")


_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _unb64(text: str) -> bytes | None:
    """Decode one 43-character part the regex has vetted; only the canonical
    spelling is accepted, so one id has exactly one cookie."""
    if text[-1] not in _CANONICAL_LAST:
        return None
    try:
        # base64.urlsafe_b64decode, without its argument checks: the regex
        # has let through only the 64 URL-safe characters.
        return binascii.a2b_base64(text.encode("ascii").translate(_FROM_URLSAFE) + b"=")
    except (binascii.Error, ValueError):
        return None


_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


@functools.lru_cache(maxsize=32)
def _pads(key: bytes) -> tuple[Any, Any]:
    """SHA-256 primed with ``key``'s inner and outer HMAC pads (RFC 2104),
    computed once per key."""
    block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    return hashlib.sha256(block.translate(_IPAD)), hashlib.sha256(block.translate(_OPAD))


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """``hmac.digest(key, message, "sha256")``, from the key's primed pads:
    OpenSSL's one-shot HMAC sets up its context on every call, which costs
    as much again as the hashing of a 32-byte message."""
    inner, outer = _pads(key)
    inner = inner.copy()
    inner.update(message)
    outer = outer.copy()
    outer.update(inner.digest())
    digest: bytes = outer.digest()
    return digest


def _mac(keyset: KeySet, sid: bytes) -> bytes:
    return hmac_sha256(keyset.cookie, sid)


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
    return hmac_sha256(keyset.lookup, sid).hex()


def identity_key(keyset: KeySet, identity: object) -> str:
    """The per-user index entry for ``identity``: a keyed hash, never the name."""
    return hmac_sha256(keyset.identity, str(identity).encode()).hex()
