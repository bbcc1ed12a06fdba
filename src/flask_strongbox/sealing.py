"""Authenticated encryption of session data at rest.

Envelope, version 2 (session records and successor pointers)::

    0x02 | key id (4) | nonce (12) | AES-256-GCM ciphertext and tag

Its data key is HKDF-SHA256 (expand) of the key set's sealing key, itself an
HKDF output, with the session id in the info: the id only the browser's
cookie carries (the store sees a keyed hash of it). A store dump together with every secret of the app opens
nothing without the cookie. The associated data is the header, the store
key, the creation time and the identity hash (:class:`Binding`), so a record
copied to another key, given another creation time (and so a later absolute
deadline) or re-pointed to another user's index fails to open.

Envelope, version 1 (device hints, and session records written by 0.1)::

    0x01 | key id (4) | nonce (12) | AES-256-GCM ciphertext and tag

sealed under the key set's sealing key itself; the associated data is the
header and the store key. A version 1 session record still opens, and is
written as version 2 by its next write.

Both bind a ``purpose``, so a blob made for one use never opens as another.
"""

from __future__ import annotations

import os
import struct
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from .keys import Keyring, KeySet

#: The envelope version :func:`seal_record` writes.
VERSION = 2
#: The envelope version :func:`seal` writes: under the app's key alone.
APP_KEY_VERSION = 1
_HEADER = 5
_NONCE = 12
_TAG = 16
_INFO = b"flask-strongbox/v2 session data key"
_NO_USER = b"\x00"
_TIME = struct.Struct(">d").pack
_SHA256 = hashes.SHA256()
_V2 = bytes([VERSION])


class InvalidSeal(Exception):
    """The blob is not a sealed envelope this keyring can open for this key.

    :param reason: a short, log-safe cause such as ``"unknown key id"``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Binding(NamedTuple):
    """What a version 2 envelope is sealed for: the session id (the data
    key's other half), and the record metadata that may never change.

    :param sid: the raw session id, from the verified cookie.
    :param key: the store key the record is filed under.
    :param created: the record's creation time; its absolute deadline
        follows from it.
    :param user_hash: the record's per-user index entry, or ``None``.
    """

    sid: bytes
    key: str
    created: float
    user_hash: str | None = None

    def __repr__(self) -> str:
        # Never the id (it opens the session) nor the key or user hash.
        return f"Binding(created={self.created!r})"

    def associated_data(self, header: bytes, purpose: bytes) -> bytes:
        # Fixed-width fields first, then a tagged user hash, then the purpose:
        # no two bindings encode alike.
        user = self.user_hash
        tagged = _NO_USER if user is None else b"\x01%s|" % user.encode()
        return b"%s%s%s%s%s" % (header, self.key.encode(), _TIME(self.created), tagged, purpose)


def kid_of(blob: bytes) -> bytes | None:
    """The key id in an envelope's header, or ``None`` if ``blob`` is not one."""
    if len(blob) < _HEADER + _NONCE + _TAG or blob[0] not in (VERSION, APP_KEY_VERSION):
        return None
    return blob[1:_HEADER]


def _data_key(keyset: KeySet, sid: bytes) -> AESGCM:
    # The sealing key is an HKDF output already (uniformly random), so the
    # extract step adds nothing (RFC 5869, section 3.3): expand it with the id.
    return AESGCM(HKDFExpand(algorithm=_SHA256, length=32, info=_INFO + sid).derive(keyset.seal))


def seal_record(
    keyring: Keyring, plaintext: bytes, binding: Binding, purpose: bytes = b"", keyset: KeySet | None = None,
) -> bytes:
    """Encrypt ``plaintext`` (version 2) under the primary key set (or
    ``keyset``, one of the keyring's) and ``binding.sid``, bound to the rest
    of ``binding``."""
    keyset = keyset or keyring.primary
    header = bytes([VERSION]) + keyset.kid
    nonce = os.urandom(_NONCE)
    aad = binding.associated_data(header, purpose)
    return header + nonce + _data_key(keyset, binding.sid).encrypt(nonce, plaintext, aad)


def open_record(keyring: Keyring, blob: bytes, binding: Binding, purpose: bytes = b"") -> bytes:
    """Decrypt a blob made by :func:`seal_record` for the same ``binding``,
    or, for a session record of 0.1, by :func:`seal` for ``binding.key``."""
    if len(blob) < _HEADER + _NONCE + _TAG:
        raise InvalidSeal("envelope too short")
    version = blob[0]
    if version == APP_KEY_VERSION:
        return unseal(keyring, blob, binding.key, purpose)
    if version != VERSION:
        raise InvalidSeal("unknown envelope version")
    keyset = keyring.by_kid(blob[1:_HEADER])
    if keyset is None:
        raise InvalidSeal("unknown key id")
    header, nonce = blob[:_HEADER], blob[_HEADER:_HEADER + _NONCE]
    aad = binding.associated_data(header, purpose)
    try:
        return _data_key(keyset, binding.sid).decrypt(nonce, blob[_HEADER + _NONCE:], aad)
    except InvalidTag:
        raise InvalidSeal("authentication failed") from None


def is_current(keyring: Keyring, blob: bytes) -> bool:
    """Whether ``blob`` is a version 2 envelope under the primary key set:
    a record that is not is rewritten by its next request (see
    :mod:`~flask_strongbox.engine.decide`)."""
    return blob[:1] == _V2 and blob[1:_HEADER] == keyring.primary.kid


def seal(keyring: Keyring, plaintext: bytes, store_key: str, purpose: bytes = b"") -> bytes:
    """Encrypt ``plaintext`` (version 1) under the primary key, bound to
    ``store_key``: for what must open without the cookie (device hints)."""
    keyset = keyring.primary
    header = bytes([APP_KEY_VERSION]) + keyset.kid
    nonce = os.urandom(_NONCE)
    aad = header + store_key.encode() + purpose
    return header + nonce + keyset.aead.encrypt(nonce, plaintext, aad)


def unseal(keyring: Keyring, blob: bytes, store_key: str, purpose: bytes = b"") -> bytes:
    """Decrypt a blob made by :func:`seal` for the same ``store_key``."""
    if len(blob) < _HEADER + _NONCE + _TAG:
        raise InvalidSeal("envelope too short")
    if blob[0] != APP_KEY_VERSION:
        raise InvalidSeal("unknown envelope version")
    keyset = keyring.by_kid(blob[1:_HEADER])
    if keyset is None:
        raise InvalidSeal("unknown key id")
    header, nonce = blob[:_HEADER], blob[_HEADER:_HEADER + _NONCE]
    try:
        return keyset.aead.decrypt(nonce, blob[_HEADER + _NONCE:], header + store_key.encode() + purpose)
    except InvalidTag:
        raise InvalidSeal("authentication failed") from None
