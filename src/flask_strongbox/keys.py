"""Key material: one key per purpose, derived from ``SECRET_KEY`` with HKDF.

Rotation follows Flask's idiom: ``SECRET_KEY`` signs and seals, every key in
``SECRET_KEY_FALLBACKS`` still verifies and opens. Derived keys never appear in
``repr``, logs or error messages.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import ConfigurationError

_SALT = b"flask-strongbox/v1"
_MIN_SECRET_BYTES = 32
_WELL_KNOWN = frozenset({
    "hello", "dev", "development", "secret", "secret key", "secret-key", "secret_key",
    "secretkey", "changeme", "change-me", "change me", "changethis", "password", "test",
    "testing", "default", "key", "flask", "super secret key", "supersecretkey",
    "your-secret-key", "your_secret_key", "your secret key", "mysecretkey", "my secret key",
    "please-change-me", "replace-me", "insecure",
})
_GENERATE_HINT = (
    "generate one with: python -c 'import secrets; print(secrets.token_hex(32))' "
    "or flask sessions generate-key"
)
#: The settings Flask's own keys come from.
FLASK_KEYS = ("SECRET_KEY", "SECRET_KEY_FALLBACKS")


def derive(secret: str | bytes, purpose: str) -> bytes:
    """A 32-byte key for one ``purpose``, independent of every other purpose's."""
    material = secret.encode() if isinstance(secret, str) else secret
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=purpose.encode())
    return hkdf.derive(material)


@dataclass(frozen=True)
class KeySet:
    """The keys derived from one secret. ``kid`` names the secret in sealed
    envelopes without revealing anything about it."""

    cookie: bytes = field(repr=False)
    lookup: bytes = field(repr=False)
    seal: bytes = field(repr=False)
    identity: bytes = field(repr=False)
    log: bytes = field(repr=False)
    kid: bytes = field(repr=False)
    aead: AESGCM = field(repr=False, compare=False)

    @classmethod
    def from_secret(cls, secret: str | bytes) -> KeySet:
        seal = derive(secret, "seal")
        return cls(
            cookie=derive(secret, "cookie-signing"),
            lookup=derive(secret, "store-lookup"),
            seal=seal,
            identity=derive(secret, "identity-index"),
            log=derive(secret, "log-fingerprint"),
            kid=hashlib.sha256(b"kid" + seal).digest()[:4],
            aead=AESGCM(seal),
        )

    def __repr__(self) -> str:
        return f"<KeySet kid={self.kid.hex()}>"


class Keyring:
    """The primary key set (``SECRET_KEY``) and the fallbacks, newest first.

    :param names: the settings the primary key and the fallbacks come from,
        for messages: ``("SECRET_KEY", "SECRET_KEY_FALLBACKS")`` by default.
    """

    def __init__(
        self, secret: str | bytes, fallbacks: Sequence[str | bytes] = (),
        names: tuple[str, str] = ("SECRET_KEY", "SECRET_KEY_FALLBACKS"),
    ) -> None:
        self.sets: tuple[KeySet, ...] = tuple(
            KeySet.from_secret(s) for s in (secret, *fallbacks)
        )
        self.primary = self.sets[0]
        self._by_kid = {ks.kid: ks for ks in reversed(self.sets)}
        #: The setting each key set comes from, in the order of :attr:`sets`.
        self.names: tuple[str, ...] = (names[0], *(f"{names[1]}[{i}]" for i in range(len(fallbacks))))

    def __repr__(self) -> str:
        return f"<Keyring primary={self.primary.kid.hex()} fallbacks={len(self.sets) - 1}>"

    def by_kid(self, kid: bytes) -> KeySet | None:
        return self._by_kid.get(kid)

    def fingerprint(self, store_key: str) -> str:
        """A keyed hash of a store key, safe to log: it links log lines about
        one session without letting the reader find or replay it."""
        return hmac.new(self.primary.log, store_key.encode(), hashlib.sha256).hexdigest()[:12]


def weakness(secret: object) -> str | None:
    """Why ``secret`` is too weak for production, or ``None`` if it is fine.

    Length alone is not enough: ``changeme-changeme-...`` and long placeholder
    phrases are refused by :func:`~flask_strongbox.entropy.random_bits`, which
    counts only what no dictionary word, repeat or sequence explains.
    """
    if not secret:
        return "is not set"
    if not isinstance(secret, (str, bytes)):
        return f"must be str or bytes, not {type(secret).__name__}"
    raw = secret.encode() if isinstance(secret, str) else secret
    text = raw.decode("utf-8", "replace").strip().lower()
    if text in _WELL_KNOWN:
        return "is a well-known example value"
    if len(raw) < _MIN_SECRET_BYTES:
        return f"is {len(raw)} bytes long; it needs at least {_MIN_SECRET_BYTES}"
    if len(set(raw)) < 8:
        return "repeats too few distinct characters"
    from .entropy import MIN_RANDOM_BITS, random_bits

    bits = random_bits(raw.decode("latin-1") if isinstance(secret, bytes) else secret)
    if bits < MIN_RANDOM_BITS:
        return (
            f"looks like words, repeats or a sequence, not a random value (about {bits:.0f} "
            f"bits of it are random; it needs {MIN_RANDOM_BITS})"
        )
    return None


def fallbacks_of(value: object, setting: str = "SECRET_KEY_FALLBACKS") -> tuple[str | bytes, ...]:
    """``SECRET_KEY_FALLBACKS`` (or ``setting``) as a tuple of keys: ``None``
    or empty is none, one ``str`` or ``bytes`` is one key (not one key per
    character), a list or tuple is its keys.

    :raises ConfigurationError: for anything else, naming the setting.
    """
    if not value:
        return ()
    if isinstance(value, (str, bytes)):
        return (value,)
    if isinstance(value, (list, tuple)):
        return tuple(value)
    raise ConfigurationError(f"{setting} must be a list of old keys, not {type(value).__name__}")


def check_production_secrets(
    secret: object, fallbacks: Sequence[object], names: tuple[str, str] = FLASK_KEYS,
) -> None:
    """Refuse weak keys: a weak primary forges cookies, and so does a weak
    fallback, since fallbacks still verify. ``names`` are the settings they
    come from, for the message."""
    for name, value in [(names[0], secret)] + [
        (f"{names[1]}[{i}]", v) for i, v in enumerate(fallbacks)
    ]:
        reason = weakness(value)
        if reason:
            raise ConfigurationError(
                f"{name} {reason}, which is unsafe outside debug and testing; "
                f"set a random value of at least {_MIN_SECRET_BYTES} bytes ({_GENERATE_HINT})"
            )


def keyring_for(
    secret: object, fallbacks: object, relaxed: bool, names: tuple[str, str] = FLASK_KEYS,
) -> Keyring | ConfigurationError | None:
    """The keyring for an app's secret key and its fallbacks (Flask's
    ``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS``, or the settings ``names``),
    the reason they are refused (checked unless ``relaxed``: debug or
    testing), or ``None`` if no secret key is set."""
    try:
        listed = fallbacks_of(fallbacks, names[1])
        if not relaxed:
            check_production_secrets(secret, listed, names)
    except ConfigurationError as exc:
        return exc
    if not secret:
        return None
    assert isinstance(secret, (str, bytes))
    return Keyring(secret, listed, names)
