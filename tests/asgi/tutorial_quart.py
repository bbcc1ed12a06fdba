"""The tutorial's app (``tests/tutorial.py``) on Quart: the same code, made
async (``async def`` views, ``await request.form``), with ``Strongbox`` from
``flask_strongbox.quart``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from quart import Quart, redirect, request, session, url_for

from flask_strongbox.quart import Strongbox


def make_app(store: Any, clock: Any, **config: Any) -> Quart:
    app = Quart(__name__)
    app.secret_key = "x7Jq2mV9sL4pR8tY1wE6uI3oP5aS0dFgHjKlZ"
    app.config.update(TESTING=True, **config)
    Strongbox(app, store=store, clock=clock)
    app.permanent_session_lifetime = timedelta(minutes=5)

    @app.route("/")
    async def home() -> str:
        return "<h1>Home</h1>"

    @app.route("/login", methods=["POST", "GET"])
    async def login() -> Any:
        if request.method == "POST":
            session.permanent = True
            user = (await request.form)["nm"]
            session["user"] = user
            return redirect(url_for("user"))
        if "user" in session:
            return redirect(url_for("user"))
        return '<form method="post"><input name="nm"></form>'

    @app.route("/user")
    async def user() -> Any:
        if "user" in session:
            user = session["user"]
            return f"<h1>{user}</h1>"
        return redirect(url_for("login"))

    @app.route("/logout")
    async def logout() -> Any:
        session.pop("user", None)
        return redirect(url_for("login"))

    return app
