"""Where the app's ``SECRET_KEY`` comes from.

In order: the config passed to :func:`~strongbox_app.create_app`, the
``FLASK_SECRET_KEY`` environment variable (read with the rest of ``FLASK_*``),
then ``SECRET_KEY``. With none of them, a development app (debug mode, or
``GENERATE_SECRET_KEY`` set, which ``python -m strongbox_app`` does) keeps a
generated key in ``SECRET_KEY_FILE`` (default ``<instance_path>/secret_key``)
so sessions survive restarts; any other app refuses to start.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from pathlib import Path

from flask import Flask

log = logging.getLogger(__name__)

KEY_FILE_NAME = "secret_key"

MISSING_KEY_MESSAGE = (
    "FLASK_SECRET_KEY is not set: generate one with "
    "`python -c 'import secrets; print(secrets.token_hex(32))'` and export it as "
    "FLASK_SECRET_KEY before starting the app."
)


class MissingSecretKey(RuntimeError):
    """No secret key is configured and the app is not in development mode."""


def configure_secret_key(app: Flask) -> None:
    """Make sure ``app.config["SECRET_KEY"]`` is set, or raise :class:`MissingSecretKey`."""
    if app.config.get("SECRET_KEY"):
        return
    from_env = os.environ.get("SECRET_KEY")
    if from_env:
        app.config["SECRET_KEY"] = from_env
    elif app.debug or app.config.get("GENERATE_SECRET_KEY"):
        key_file = app.config.get("SECRET_KEY_FILE") or Path(app.instance_path) / KEY_FILE_NAME
        app.config["SECRET_KEY"] = load_or_create_key_file(Path(key_file))
    else:
        raise MissingSecretKey(MISSING_KEY_MESSAGE)


def load_or_create_key_file(path: Path) -> str:
    """Read the key in ``path``, creating it (mode 0600) with 32 random bytes
    as hex on first use. Safe when several processes start at once: only one
    creates the file, the others read it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(path)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(key + "\n")
    log.warning("Generated a development secret key in %s", path)
    return key


def _read_key_file(path: Path) -> str:
    # Another process may have created the file a moment ago and still be writing it.
    for _ in range(20):
        key = path.read_text(encoding="ascii").strip()
        if len(key) >= 32:
            break
        time.sleep(0.05)
    else:
        raise MissingSecretKey(
            f"{path} holds no usable key: delete it to generate a new one, or set FLASK_SECRET_KEY."
        )
    if path.stat().st_mode & 0o077:
        log.warning("%s is readable by other users; run `chmod 600 %s`", path, path)
    return key
