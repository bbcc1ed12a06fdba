"""The app ``test_shared_store`` serves from two gunicorn processes on one
store, configured from the environment: ``STRONGBOX_STORE``, ``SECRET_KEY``
and, optionally, ``STRONGBOX_KEY_PREFIX`` and ``STRONGBOX_TABLE``.

    gunicorn 'tests.wsgi_shared:create_app()'
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, jsonify, session

from flask_strongbox import Strongbox


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=os.environ["SECRET_KEY"], STRONGBOX_STORE=os.environ["STRONGBOX_STORE"])
    for name in ("STRONGBOX_KEY_PREFIX", "STRONGBOX_TABLE"):
        if name in os.environ:
            app.config[name] = os.environ[name]
    box = Strongbox(app)

    @app.get("/health")
    def health() -> str:
        return "ok"

    @app.get("/login/<name>")
    def login(name: str) -> str:
        session["user"] = name
        return "ok"

    @app.get("/whoami")
    def whoami() -> Any:
        return jsonify(user=session.get("user"), note=session.get("note"))

    @app.get("/note/<text>")
    def note(text: str) -> Any:
        if "user" not in session:
            return "log in first", 401
        session["note"] = text
        return "ok"

    @app.get("/revoke-others")
    def revoke_others() -> Any:
        if "user" not in session:
            return "log in first", 401
        return str(box.revoke_user(session["user"], keep_current=True))

    @app.get("/logout")
    def logout() -> str:
        session.clear()
        return "ok"

    return app
