"""The legacy systems an app can move from on the fly, as the engine's
:class:`~flask_strongbox.engine.adopt.LegacySource`: Flask's signed cookie
and Flask-Session 0.8, chosen by ``STRONGBOX_MIGRATE_FROM``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..audit import logger
from ..errors import StoreUnavailable
from .flask_cookie import FlaskCookieReader
from .flask_session import FlaskSessionConfig
from .readers import open_reader
from .record_format import require_msgspec
from .results import LegacyReader, LegacyResult, Missing


class FlaskCookieSource:
    """Sessions kept in Flask's own signed cookie.

    :param config: the app's config, read on each request as Flask reads it
        (``SECRET_KEY``, ``SECRET_KEY_FALLBACKS``, ``PERMANENT_SESSION_LIFETIME``),
        so an app may set its key after ``init_app``.

    .. versionadded:: 0.2
    """

    name = "flask-cookie"
    imports = False

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self._reader: tuple[tuple[Any, ...], FlaskCookieReader | None] | None = None

    def reader(self) -> FlaskCookieReader | None:
        """The reader for the config's current keys, or ``None`` without a key."""
        config = self.config
        source = (config.get("SECRET_KEY"), config.get("SECRET_KEY_FALLBACKS"),
                  config.get("PERMANENT_SESSION_LIFETIME"))
        cached = self._reader
        if cached is None or cached[0] != source:
            cached = self._reader = (source, FlaskCookieReader.from_config(config) if source[0] else None)
        return cached[1]

    def read(self, cookie: str, now: float) -> LegacyResult:
        reader = self.reader()
        return (reader.load(cookie, now) if reader is not None else None) or Missing()

    def token(self, cookie: str) -> str | None:
        # The signed part: a signature has several base64 spellings that all
        # verify, and each must name the same session.
        return cookie.rpartition(".")[0] or cookie

    def forget(self, cookie: str) -> None:
        """Nothing is kept but the cookie, which the response replaces."""


class FlaskSessionSource:
    """Sessions kept by Flask-Session 0.8 in its store.

    :param config: the app's Flask-Session settings (cookie signing, prefix).
    :param reader: reads the old store; ``None`` once ``flask sessions
        import`` has moved every record, so only its pointers are followed.

    .. versionadded:: 0.2
    """

    name = "flask-session"
    imports = True

    def __init__(self, config: FlaskSessionConfig, reader: LegacyReader | None) -> None:
        self.config = config
        self.reader = reader

    def read(self, cookie: str, now: float) -> LegacyResult:
        sid = self.config.sid(cookie)
        return Missing() if sid is None or self.reader is None else self.reader.load(sid, now)

    def token(self, cookie: str) -> str | None:
        # The old store's record key, which a bulk import knows for every
        # record (for files, a hash of the prefixed id, as the reader knows).
        sid = self.config.sid(cookie)
        if sid is None:
            return None
        return self.config.key_prefix + sid if self.reader is None else self.reader.record_key(sid)

    def forget(self, cookie: str) -> None:
        sid = self.config.sid(cookie)
        if sid is None or self.reader is None:
            return
        try:
            self.reader.delete(sid)
        except StoreUnavailable as exc:
            # The move stands (its marker refuses a replay); the record ages out.
            logger.warning("moved Flask-Session record not deleted from the old store: %s", exc)


def source_from_config(
    kind: str, config: Mapping[str, Any], store_url: str | None, instance_path: str = ".",
) -> FlaskCookieSource | FlaskSessionSource:
    """The source ``STRONGBOX_MIGRATE_FROM`` names, from the app's config.
    Nothing connects yet.

    :raises ConfigurationError: naming the setting that is missing or wrong.
    """
    if kind == "flask-cookie":
        return FlaskCookieSource(config)
    fs_config = FlaskSessionConfig.from_config(config)
    if store_url is None:
        logger.info("STRONGBOX_MIGRATE_STORE is not set: Flask-Session cookies find only the "
                    "sessions 'flask sessions import' moved")
        return FlaskSessionSource(fs_config, None)
    require_msgspec()
    return FlaskSessionSource(fs_config, open_reader(store_url, fs_config, instance_path))
