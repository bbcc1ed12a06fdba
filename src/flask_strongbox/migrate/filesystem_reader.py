"""Flask-Session's filesystem backend: cachelib's ``FileSystemCache`` files.

``FileSystemSessionInterface`` (``flask_session/filesystem/filesystem.py``,
0.8) and ``CacheLibSessionInterface`` with a ``FileSystemCache`` hand
``dict(session)`` to cachelib, which ignores ``SESSION_SERIALIZATION_FORMAT``.
cachelib (``cachelib/file.py``) writes one file per key, named by the hex
digest of the key (SHA-256 from cachelib 0.17, MD5 before), holding a 4-byte
native-order unsigned expiry (Unix seconds, 0 for never) and then the value
as its serializer writes it: pickle by default, so such records are refused
here unread; JSON if the cache was given cachelib's ``JSONSerializer``.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Iterator
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import ConfigurationError, StoreUnavailable
from .flask_session import FlaskSessionConfig
from .record_format import PICKLE_REASON, checked, looks_pickled
from .results import LegacyRecord, LegacyResult, Missing, Refused

Hash = Literal["sha256", "md5"]
_HEADER = struct.Struct("I")  # as cachelib packs it: native order and size
#: cachelib's own files: the item counter, and writes in progress.
_COUNT_FILE = "__wz_cache_count"
_TEMP_SUFFIX = ".__wz_cache"


def _file_name(key: str, hash_name: Hash) -> str:
    # MD5 names a file here, as cachelib did; it protects nothing.
    return hashlib.new(hash_name, key.encode(), usedforsecurity=False).hexdigest()


class FileSystemReader:
    """Reads and deletes Flask-Session records in a cachelib cache directory.

    Deleting a record leaves cachelib's item counter as it was (it is a pickle,
    so it is not read); cachelib only prunes a little earlier because of it.

    :param directory: the cache directory (``SESSION_FILE_DIR``).
    :param config: the app's Flask-Session settings.
    :param hash_name: how cachelib named the files; ``None`` tells it from the
        counter file cachelib keeps, and takes SHA-256 without one.

    .. versionadded:: 0.2
    """

    name = "flask-session filesystem"

    def __init__(
        self, directory: str | os.PathLike[str], config: FlaskSessionConfig, hash_name: Hash | None = None,
    ) -> None:
        self.directory = os.fspath(directory)
        self.config = config
        self.hash_name: Hash = hash_name or self._detect_hash()

    @classmethod
    def from_url(cls, url: str, config: FlaskSessionConfig) -> FileSystemReader:
        """The reader for ``filesystem:///absolute/dir[?hash=md5|sha256]``."""
        parts = urlsplit(url)
        path = unquote(parts.path)
        if parts.netloc or not os.path.isabs(path):
            raise ConfigurationError(
                "STRONGBOX_MIGRATE_STORE must look like filesystem:///absolute/directory"
            )
        asked = parse_qs(parts.query).get("hash", [""])[-1]
        hash_name: Hash | None = "md5" if asked == "md5" else "sha256" if asked == "sha256" else None
        if asked and hash_name is None:
            raise ConfigurationError("STRONGBOX_MIGRATE_STORE: a filesystem:/// hash is sha256 or md5")
        return cls(path, config, hash_name)

    def __repr__(self) -> str:
        return f"<FileSystemReader {self.directory!r} hash={self.hash_name}>"

    def _detect_hash(self) -> Hash:
        md5_count = os.path.join(self.directory, _file_name(_COUNT_FILE, "md5"))
        sha_count = os.path.join(self.directory, _file_name(_COUNT_FILE, "sha256"))
        return "md5" if os.path.exists(md5_count) and not os.path.exists(sha_count) else "sha256"

    def record_key(self, sid: str) -> str:
        """The file name of session ``sid``'s record."""
        return _file_name(self.config.key_prefix + sid, self.hash_name)

    def load(self, sid: str, now: float) -> LegacyResult:
        return self._read(self.record_key(sid), now)

    def delete(self, sid: str) -> bool:
        return self.delete_record(self.record_key(sid))

    def delete_record(self, key: str) -> bool:
        try:
            os.remove(self._path(key))
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise self._unavailable(exc) from None
        return True

    def scan(self, now: float, batch_size: int = 500) -> Iterator[list[LegacyRecord]]:
        """Every file in the directory but cachelib's own. A directory shared
        with other cache items shows those too (refused: they are not sessions,
        or are pickles)."""
        own = {_file_name(_COUNT_FILE, "md5"), _file_name(_COUNT_FILE, "sha256")}
        batch: list[LegacyRecord] = []
        try:
            entries = os.scandir(self.directory)
        except OSError as exc:
            raise self._unavailable(exc) from None
        with entries:
            for entry in entries:
                if entry.name in own or entry.name.endswith(_TEMP_SUFFIX) or not entry.is_file():
                    continue
                batch.append(LegacyRecord(entry.name, self._read(entry.name, now)))
                if len(batch) >= batch_size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def close(self) -> None:
        """Nothing is held open."""

    def _path(self, key: str) -> str:
        if os.path.basename(key) != key or key in ("", ".", ".."):
            raise ValueError("a filesystem record key is a bare file name")
        return os.path.join(self.directory, key)

    def _read(self, key: str, now: float) -> LegacyResult:
        try:
            with open(self._path(key), "rb") as file:
                raw = file.read()
        except FileNotFoundError:
            return Missing()
        except OSError as exc:
            raise self._unavailable(exc) from None
        if len(raw) < _HEADER.size:
            return Refused("malformed", "shorter than cachelib's header")
        (expires,) = _HEADER.unpack_from(raw)
        if expires != 0 and expires < now:  # cachelib keeps a record through its last second
            return Missing(expired=True)
        body = raw[_HEADER.size:]
        if looks_pickled(body):
            return Refused("pickle", PICKLE_REASON)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):  # ValueError includes UnicodeDecodeError
            return Refused("malformed", "neither pickle nor JSON")
        return checked(data, float(expires) if expires else None)

    def _unavailable(self, exc: OSError) -> StoreUnavailable:
        return StoreUnavailable(self.name, f"directory {self.directory!r}: {exc.strerror or exc}")
