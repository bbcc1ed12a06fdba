"""Authenticated encryption of session data at rest.

Envelope, version 1::

    0x01 | key id (4) | nonce (12) | AES-256-GCM ciphertext and tag

The header and the record's store key are the associated data, so a blob
copied into another record, sealed under a removed key, truncated or changed
in a single bit fails to open.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag

from .keys import Keyring

VERSION = 1
_HEADER = 5
_NONCE = 12
_TAG = 16


class InvalidSeal(Exception):
    """The blob is not a sealed envelope this keyring can open for this key.

    :param reason: a short, log-safe cause such as ``"unknown key id"``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def seal(keyring: Keyring, plaintext: bytes, store_key: str, purpose: bytes = b"") -> bytes:
    """Encrypt ``plaintext`` under the primary key, bound to ``store_key``."""
    keyset = keyring.primary
    header = bytes([VERSION]) + keyset.kid
    nonce = os.urandom(_NONCE)
    aad = header + store_key.encode() + purpose
    return header + nonce + keyset.aead.encrypt(nonce, plaintext, aad)


def unseal(keyring: Keyring, blob: bytes, store_key: str, purpose: bytes = b"") -> bytes:
    """Decrypt a blob made by :func:`seal` for the same ``store_key``."""
    if len(blob) < _HEADER + _NONCE + _TAG:
        raise InvalidSeal("envelope too short")
    if blob[0] != VERSION:
        raise InvalidSeal("unknown envelope version")
    keyset = keyring.by_kid(blob[1:_HEADER])
    if keyset is None:
        raise InvalidSeal("unknown key id")
    header, nonce = blob[:_HEADER], blob[_HEADER:_HEADER + _NONCE]
    try:
        return keyset.aead.decrypt(nonce, blob[_HEADER + _NONCE:], header + store_key.encode() + purpose)
    except InvalidTag:
        raise InvalidSeal("authentication failed") from None
