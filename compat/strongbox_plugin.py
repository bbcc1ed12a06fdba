"""A pytest plugin that puts ``Strongbox(app)`` on every Flask app a suite makes.

Loaded with ``-p strongbox_plugin`` (``compat/`` on ``PYTHONPATH``) by
``compat/run.py``. It wraps :meth:`flask.Flask.__init__`: once Flask has set
the app up, the app gets ``STRONGBOX_STORE = "memory://"`` (a store of its
own, so tests stay apart) and ``Strongbox(app)``. The suite then runs
unchanged, with Strongbox's session interface in place of Flask's signed
cookie.

Test suites use keys such as ``"test key"`` or ``"1234"``, which Strongbox
refuses outside debug and testing, as it should in production. A production
app has a strong key, so when a test's key is refused the plugin has
Strongbox derive its keys from a strong stand-in (a SHA-256 of the test's
key) instead. Only Strongbox sees the stand-in: ``app.secret_key`` is left as
the test set it, for Flask-Login, Flask-WTF and the others to sign with.

With ``STRONGBOX_COMPAT_DECODE=1`` (``run.py --decode``), Flask-Security's
test helpers that decode Flask's signed cookie by hand (``get_session``,
``get_existing_session`` in its ``tests/test_utils.py``) ask Strongbox for the
session instead, so the tests that use them check the session's content.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import weakref
from typing import Any

import flask

from flask_strongbox import Strongbox, StrongboxSessionInterface
from flask_strongbox.errors import ConfigurationError
from flask_strongbox.keys import Keyring, fallbacks_of, keyring_for

_original_init = flask.Flask.__init__
_original_keyring = StrongboxSessionInterface.keyring
_original_open = StrongboxSessionInterface.open_session
#: How many apps got Strongbox and how many sessions it opened, reported at
#: the end so a run shows the plugin was in effect.
_counts = {"apps": 0, "sessions": 0, "stand-in keys": 0}
#: The newest app, the one a cookie helper decodes for; weakly, so that apps
#: are freed as without the plugin (Flask tests that they are).
_newest_app: list[weakref.ref[flask.Flask]] = []


def _stand_in(key: str | bytes) -> str:
    """A strong key standing for a weak one, the same for the same key, so
    a fallback still opens what the key it stands for sealed."""
    raw = key.encode() if isinstance(key, str) else key
    return hashlib.sha256(b"strongbox-compat:" + raw).hexdigest()


@functools.wraps(_original_init)
def _init_with_strongbox(self: flask.Flask, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    self.config.setdefault("STRONGBOX_STORE", "memory://")
    Strongbox(self)
    _counts["apps"] += 1
    _newest_app[:] = [weakref.ref(self)]


def _counted_open(self: StrongboxSessionInterface, app: flask.Flask, request: flask.Request) -> Any:
    _counts["sessions"] += 1
    return _original_open(self, app, request)


def _keyring_with_stand_ins(self: StrongboxSessionInterface, app: flask.Flask) -> Keyring | None:
    try:
        return _original_keyring(self, app)
    except ConfigurationError:
        if not isinstance(app.secret_key, (str, bytes)) or not app.secret_key:
            raise  # no key at all: Strongbox's own answer is what is under test
        fallbacks = fallbacks_of(app.config.get("SECRET_KEY_FALLBACKS"))
        return _stand_in_keyring(app.secret_key, fallbacks)


@functools.lru_cache(maxsize=64)
def _stand_in_keyring(secret: str | bytes, fallbacks: tuple[str | bytes, ...]) -> Keyring:
    found = keyring_for(_stand_in(secret), [_stand_in(k) for k in fallbacks], False)
    assert isinstance(found, Keyring), found
    _counts["stand-in keys"] += 1
    return found


def _session_of(cookie: str | None) -> dict[str, Any] | None:
    """The session a ``session`` cookie names, as Strongbox opens it."""
    if not cookie:
        return None
    app = _newest_app[0]()
    assert app is not None, "the app that set the cookie is gone"
    with app.test_request_context(headers={"Cookie": f"session={cookie}"}):
        return dict(flask.session)


def _set_cookie_session(response: Any) -> dict[str, Any] | None:
    for header, value in response.headers:
        if header == "Set-Cookie" and value.startswith("session="):
            return _session_of(value.split(";", 1)[0].removeprefix("session="))
    return None


def _existing_session(client: Any) -> dict[str, Any] | None:
    cookie = client.get_cookie("session")
    return _session_of(cookie.value if cookie else None)


def _decode_with_strongbox() -> None:
    helpers = sys.modules.get("tests.test_utils")
    if helpers is not None and hasattr(helpers, "get_existing_session"):
        helpers.get_session = _set_cookie_session  # type: ignore[attr-defined]
        helpers.get_existing_session = _existing_session  # type: ignore[attr-defined]


def pytest_configure() -> None:
    if os.environ.get("STRONGBOX_COMPAT_DECODE") == "1":
        _decode_with_strongbox()
    flask.Flask.__init__ = _init_with_strongbox  # type: ignore[method-assign]
    StrongboxSessionInterface.keyring = _keyring_with_stand_ins  # type: ignore[method-assign]
    StrongboxSessionInterface.open_session = _counted_open  # type: ignore[method-assign]


def pytest_unconfigure() -> None:
    flask.Flask.__init__ = _original_init  # type: ignore[method-assign]
    StrongboxSessionInterface.keyring = _original_keyring  # type: ignore[method-assign]
    StrongboxSessionInterface.open_session = _original_open  # type: ignore[method-assign]


def pytest_report_header() -> str:
    return "strongbox_plugin: Strongbox(app) on every Flask app, STRONGBOX_STORE=memory://"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    counts = ", ".join(f"{n} {what}" for what, n in _counts.items())
    terminalreporter.write_line(f"strongbox_plugin: {counts}")
