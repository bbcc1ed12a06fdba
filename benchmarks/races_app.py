"""The app ``races.py`` serves: the tutorial's login with a flash message, a
page that shows the flashed messages, a form that flashes, and ``/whoami``.

Each view that races waits ``RACE_DELAY`` seconds after it loaded the session,
so two requests sent together have both loaded the same version before either
saves: the overlap browsers produce by chance, produced every round. The store
comes from ``RACE_STORE`` (a ``STRONGBOX_STORE`` URL) with ``RACE_NAME`` as
its table or key prefix.
"""

from __future__ import annotations

import os
import time

from flask import Flask, flash, get_flashed_messages, jsonify, request
from flask.typing import ResponseReturnValue

from flask_strongbox import Strongbox, session

SECRET = "4c1f0e8a9b2d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f"


def from_env() -> Flask:
    app = Flask(__name__)
    name = os.environ.get("RACE_NAME", "races")
    app.config.update(SECRET_KEY=SECRET, STRONGBOX_STORE=os.environ["RACE_STORE"],
                      STRONGBOX_TABLE=name, STRONGBOX_KEY_PREFIX=f"{name}:")
    Strongbox(app)
    delay = float(os.environ.get("RACE_DELAY", "0.05"))

    def loaded() -> None:
        """Load the session, then give the other racer time to load it too."""
        session.permanent  # noqa: B018 - reading it loads the session
        time.sleep(delay)

    @app.get("/read")
    def read() -> ResponseReturnValue:
        return session.get("user", "")

    @app.post("/login")
    def login() -> ResponseReturnValue:
        # The tutorial's login: Strongbox rotates the id as the user changes.
        loaded()
        session.permanent = True
        session["user"] = request.form["nm"]
        flash("Login successful")
        return "ok"

    @app.get("/page")
    def page() -> ResponseReturnValue:
        loaded()
        return jsonify(get_flashed_messages())

    @app.post("/submit")
    def submit() -> ResponseReturnValue:
        loaded()
        flash(f"saved {request.form['item']}")
        return "ok"

    @app.get("/whoami")
    def whoami() -> ResponseReturnValue:
        return jsonify(user=session.get("user"), flashes=session.get("_flashes", []))

    return app
