"""The tutorial's app, unchanged but for ``Strongbox(app)``.

Only the secret differs: tests run with ``TESTING`` on, where the tutorial's
"hello" would be accepted, but a real key keeps the suite honest about what
production accepts.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, redirect, request, session, url_for

from flask_strongbox import Strongbox

from .conftest import SECRET


def make_app(store: Any, clock: Any, **config: Any) -> Flask:
    app = Flask(__name__)
    app.secret_key = SECRET
    app.config.update(TESTING=True, **config)
    Strongbox(app, store=store, clock=clock)
    app.permanent_session_lifetime = timedelta(minutes=5)

    @app.route("/")
    def home() -> str:
        return "<h1>Home</h1>"

    @app.route("/login", methods=["POST", "GET"])
    def login() -> Any:
        if request.method == "POST":
            session.permanent = True
            user = request.form["nm"]
            session["user"] = user
            return redirect(url_for("user"))
        if "user" in session:
            return redirect(url_for("user"))
        return '<form method="post"><input name="nm"></form>'

    @app.route("/user")
    def user() -> Any:
        if "user" in session:
            user = session["user"]
            return f"<h1>{user}</h1>"
        return redirect(url_for("login"))

    @app.route("/logout")
    def logout() -> Any:
        session.pop("user", None)
        return redirect(url_for("login"))

    return app
