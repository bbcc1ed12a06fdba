"""The app and probes shared by the hostile-input suite.

:class:`Target` is a Strongbox app on a real store, seen through a
:class:`~tests.conftest.CountingStore` spy. Requests go out with a raw
``Cookie`` header in the WSGI environ (exactly what a server hands the app),
from a client without a cookie jar: a jar would overwrite the header.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from flask import Flask, jsonify, request, session
from werkzeug.test import TestResponse

from flask_strongbox import Strongbox, ids
from flask_strongbox.keys import Keyring
from flask_strongbox.stores.base import Record, Store
from flask_strongbox.testing import Clock

from .conftest import OLD_SECRET as OLD_SECRET  # imported from here too
from .conftest import SECRET as SECRET
from .cookies import set_cookie as set_cookie  # imported from here too
from .doubles import CountingStore

COOKIE = "session"


@dataclass
class Target:
    app: Flask
    box: Strongbox
    spy: CountingStore
    store: Store
    clock: Clock

    @property
    def keyring(self) -> Keyring:
        return Keyring(self.app.secret_key or "", self.app.config.get("SECRET_KEY_FALLBACKS") or ())

    def send(self, path: str, cookie_header: bytes | str | None, method: str = "GET",
             **kwargs: Any) -> TestResponse:
        """One request whose ``Cookie`` header is exactly ``cookie_header``
        (bytes are passed through as a server does, latin-1 per PEP 3333)."""
        environ = dict(kwargs.pop("environ_overrides", {}))
        if cookie_header is not None:
            raw = cookie_header if isinstance(cookie_header, bytes) else cookie_header.encode("latin-1")
            environ["HTTP_COOKIE"] = raw.decode("latin-1")
        client = self.app.test_client(use_cookies=False)
        return client.open(path, method=method, environ_overrides=environ, **kwargs)

    def read(self, cookie: str | None) -> dict[str, Any]:
        """The session a request carrying ``session=<cookie>`` sees."""
        response = self.send("/read", None if cookie is None else f"{COOKIE}={cookie}")
        assert response.status_code == 200
        data: dict[str, Any] = response.get_json()
        return data

    def login(self, name: str, **values: Any) -> str:
        """Log ``name`` in on a fresh browser; the cookie value it gets."""
        response = self.send(f"/login/{name}", None, query_string=values)
        cookie = set_cookie(response)
        assert cookie, "logging in must set a session cookie"
        return cookie

    def store_key(self, cookie: str) -> str:
        """The store key a cookie's session is filed under (what a dump shows)."""
        verified = ids.unsign(self.keyring, cookie)
        assert verified is not None
        sid, keyset = verified
        return ids.store_key(keyset, sid)

    def record(self, cookie: str) -> Record | None:
        return self.store.get(self.store_key(cookie), self.clock())

    def put_blob(self, cookie: str, blob: bytes) -> None:
        """Overwrite the sealed blob of ``cookie``'s record, as an attacker
        with write access to the store would."""
        current = self.record(cookie)
        assert current is not None
        changed = replace(current, blob=blob, version=current.version + 1)
        assert self.store.replace(changed, current.version, self.clock())

    def count_records(self) -> int:
        stats = self.store.stats(self.clock())
        return stats.live + stats.expired


def make_target(store: Store, **config: Any) -> Target:
    """A Strongbox app on ``store`` with views that read and write the session."""
    clock = Clock()
    spy = CountingStore(store)
    app = Flask(__name__)
    app.config.update({"SECRET_KEY": SECRET, "TESTING": True, **config})
    box = Strongbox(app, store=spy, clock=clock)  # type: ignore[arg-type]

    @app.route("/read", methods=["GET", "POST"])
    def read() -> Any:
        # repr() for what JSON cannot show (bytes, tuples' tags, datetimes).
        return app.response_class(json.dumps(dict(session), default=repr), mimetype="application/json")

    @app.route("/peek")
    def peek() -> Any:
        return jsonify("user" in session)

    @app.route("/write")
    def write() -> Any:
        session["n"] = session.get("n", 0) + 1
        return jsonify(dict(session))

    @app.route("/login/<name>")
    def login(name: str) -> str:
        session["user"] = name
        for key, value in request.args.items():
            session[key] = value
        return "ok"

    @app.route("/logout")
    def logout() -> str:
        session.pop("user", None)
        return "ok"

    @app.route("/big/<int:size>")
    def big(size: int) -> str:
        session["big"] = secrets.token_urlsafe(size)[:size]
        return "ok"

    @app.route("/deep/<int:depth>")
    def deep(depth: int) -> str:
        session["deep"] = nested(depth)
        return "ok"

    @app.route("/unstorable")
    def unstorable() -> str:
        session["when"] = object()
        return "ok"

    @app.route("/cart/new")
    def new_cart() -> str:
        session["cart"] = []
        return "ok"

    @app.route("/cart/add-deep/<int:depth>")
    def add_deep(depth: int) -> str:
        session["cart"].append(nested(depth))  # nested mutation: refused only at save
        return "ok"

    @app.route("/cart/add-unstorable")
    def add_unstorable() -> str:
        session["cart"].append(object())
        return "ok"

    return Target(app, box, spy, store, clock)


def nested(depth: int, wrap: Callable[[Any], Any] = lambda inner: [inner]) -> Any:
    """A value nested ``depth`` containers deep."""
    value: Any = "leaf"
    for _ in range(depth):
        value = wrap(value)
    return value



