"""Flask's own signed-cookie session, read as Flask reads it.

Flask's :class:`~flask.sessions.SecureCookieSessionInterface` keeps the whole
session in the cookie: tagged JSON, signed by itsdangerous's
:class:`~itsdangerous.URLSafeTimedSerializer` with salt ``cookie-session``,
``hmac`` key derivation and SHA-1, under ``SECRET_KEY`` or any of
``SECRET_KEY_FALLBACKS``, and valid for ``PERMANENT_SESSION_LIFETIME`` after
it was signed. :class:`FlaskCookieReader` builds that same serializer from the
interface's own attributes, with the clock injected, so a cookie Flask would
accept gives the same dict and one Flask would reject gives ``None``.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from flask.sessions import SecureCookieSessionInterface
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from .record_format import checked
from .results import Loaded

_FINGERPRINT_LABEL = b"flask-strongbox legacy cookie\x00"


class _SignerAt(TimestampSigner):
    """itsdangerous's timestamp signer, with "now" given rather than read."""

    def __init__(self, *args: Any, now: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._now = now

    def get_timestamp(self) -> int:
        return self._now


class FlaskCookieReader:
    """Reads cookies of Flask's default session.

    :param secret_key: the app's ``SECRET_KEY``.
    :param fallbacks: the app's ``SECRET_KEY_FALLBACKS``, any order.
    :param max_age: the app's ``PERMANENT_SESSION_LIFETIME``; Flask checks
        every cookie against it, permanent or not.
    :param interface: the interface that wrote the cookies, if the app used a
        subclass with another salt, digest or serializer.

    .. versionadded:: 0.2
    """

    def __init__(
        self, secret_key: str | bytes, fallbacks: Iterable[str | bytes] = (),
        max_age: timedelta | int = timedelta(days=31),
        interface: SecureCookieSessionInterface | None = None,
    ) -> None:
        if not secret_key:
            raise ValueError("reading Flask's session cookies needs the app's SECRET_KEY")
        # itsdangerous verifies with every key and signs with the last.
        self._keys = [_bytes(key) for key in (*fallbacks, secret_key)]
        seconds = max_age.total_seconds() if isinstance(max_age, timedelta) else max_age
        self.max_age = int(seconds)  # as Flask's open_session rounds it
        self._interface = interface or SecureCookieSessionInterface()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FlaskCookieReader:
        """The reader for an app's config: ``SECRET_KEY``,
        ``SECRET_KEY_FALLBACKS`` and ``PERMANENT_SESSION_LIFETIME``."""
        return cls(
            config.get("SECRET_KEY") or "", config.get("SECRET_KEY_FALLBACKS") or (),
            config.get("PERMANENT_SESSION_LIFETIME", timedelta(days=31)),
        )

    def __repr__(self) -> str:
        return f"<FlaskCookieReader keys={len(self._keys)} max_age={self.max_age}>"

    def load(self, cookie: str, now: float) -> Loaded | None:
        """The session in ``cookie`` as Flask would load it at ``now``, or
        ``None`` if it is empty, malformed, forged, signed by an unknown key,
        expired or signed in the future. Never raises for the cookie's content.

        :attr:`Loaded.expires` is when Flask would stop accepting the cookie.
        """
        if not cookie:
            return None
        try:
            data, signed = self._serializer(int(now)).loads(
                cookie, max_age=self.max_age, return_timestamp=True
            )
        except Exception:
            # BadData for anything forged, malformed, expired or not tagged
            # JSON; UnicodeError for a value that is not text. Never raised on.
            return None
        result = checked(data, signed.timestamp() + self.max_age)
        return result if isinstance(result, Loaded) else None

    def _serializer(self, now: int) -> URLSafeTimedSerializer:
        interface = self._interface
        return URLSafeTimedSerializer(
            self._keys, salt=interface.salt, serializer=interface.serializer, signer=_SignerAt,
            signer_kwargs={
                "key_derivation": interface.key_derivation,
                "digest_method": interface.digest_method,
                "now": now,
            },
        )


def _bytes(key: str | bytes) -> bytes:
    return key.encode() if isinstance(key, str) else key


def cookie_fingerprint(key: bytes, cookie: str) -> str:
    """A keyed fingerprint of a legacy Flask session cookie, to remember that
    it was migrated without keeping it (64 hex digits; do not log it whole).

    It covers the signed part (payload and timestamp), not the signature: a
    signature has several base64 spellings that all verify, and each must
    count as the same cookie.

    :param key: a secret key kept for this purpose alone.
    :param cookie: the cookie value.
    """
    signed = cookie.rpartition(".")[0] or cookie
    return hmac.digest(key, _FINGERPRINT_LABEL + signed.encode(), "sha256").hex()
