"""Real apps on the session systems Strongbox migrates from: Flask's signed
cookie and Flask-Session 0.8, each with views that log a user in with data of
every type the system can store, and one that records what the system itself
loaded back, so a reader's output can be compared with the real thing.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from flask import Flask, session
from markupsafe import Markup

from .conftest import SECRET as SECRET  # imported from here too

#: Every type Flask's tagged JSON keeps, nested too, plus a dict that looks like a tag.
TAGGED = {
    "tuple": (1, "a", (2.5, None)),
    "bytes": b"\x00\xffraw",
    "markup": Markup("<b>bold</b>"),
    "uuid": uuid.UUID("6f9f3f8e-3c0a-4a5e-9b7e-0c6a2d1f4b11"),
    "datetime": datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc),
    "nested": {"list": [1, 2.5, None, True, "é"], " t": "not a tag", "deep": {"b": b"\x01"}},
}

#: What Flask-Session 0.8 (msgspec msgpack, no tags) can store: it raises on
#: Markup, so that is left out; tuples, UUIDs and naive datetimes it turns
#: into lists and strings, which the tests check it does.
FLASK_SESSION_DATA = {
    "tuple": (1, "a", (2.5, None)),
    "bytes": b"\x00\xffraw",
    "uuid": uuid.UUID("6f9f3f8e-3c0a-4a5e-9b7e-0c6a2d1f4b11"),
    "naive": datetime(2024, 5, 6, 7, 8, 9, 123456),
    "aware": datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc),
    "nested": {"list": [1, 2.5, None, True, "é"], "deep": {"b": b"\x01"}},
    "big": 2**63,
}

#: What cachelib's JSONSerializer can store (it writes nothing for anything else).
JSON_DATA = {
    "tuple": (1, "a", (2.5, None)),
    "nested": {"list": [1, 2.5, None, True, "é"], "deep": {"n": -3}},
}


def add_views(app: Flask, data: dict[str, Any]) -> Flask:
    """``/login/<name>`` stores ``data`` and the user; ``/show`` appends what
    the session system loaded to ``app.config["LOADED"]``."""
    app.config["LOADED"] = []

    @app.route("/login/<name>")
    def login(name: str) -> str:
        session.permanent = True
        session.update(data)
        session["user"] = name
        return "ok"

    @app.route("/show")
    def show() -> str:
        app.config["LOADED"].append(dict(session))
        return "ok"

    return app


def cookie_app(data: dict[str, Any] = TAGGED, **config: Any) -> Flask:
    """An app on Flask's own signed-cookie session."""
    app = Flask(__name__)
    app.config.update({"TESTING": True, "SECRET_KEY": SECRET, **config})
    return add_views(app, data)


def typed(value: Any) -> Any:
    """``value`` with each part paired with its exact type, so ``==`` also
    compares types (``Markup("x") == "x"`` and ``(1,) != [1]`` otherwise
    hide what a reader changed)."""
    if isinstance(value, dict):
        return (dict, {k: typed(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return (type(value), [typed(v) for v in value])
    return (type(value), value)
