"""A Flask app and a Starlette app on one store and one key share their
sessions in-process, tagged types included: what Flask's tagged JSON stores
(tuple, bytes, Markup, UUID, datetime) is the same Python value in a
Starlette view, and what the Starlette view writes back is what Flask reads."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from flask import Flask, session
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from flask_strongbox import Strongbox
from flask_strongbox.starlette import StrongboxMiddleware
from flask_strongbox.stores import MemoryStore

KEY = "x7Jq2mV9sL4pR8tY1wE6uI3oP5aS0dFgHjKlZ"
VALUES: dict[str, Any] = {
    "pair": (1, "two"), "raw": b"\x00\xff", "html": Markup("<b>hi</b>"),
    "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "when": datetime(2026, 12, 2, 1, 30, tzinfo=timezone.utc), "nested": {" t": "a dict shaped like a tag"},
}


def make_flask(store: MemoryStore) -> Flask:
    app = Flask(__name__)
    app.secret_key = KEY
    Strongbox(app, store=store)

    @app.post("/store")
    def put() -> str:
        session.update(VALUES)
        session["user"] = "alice"
        return "ok"

    @app.get("/seen")
    def seen() -> str:
        return repr(session.get("from_starlette"))

    return app


async def check(request: Request) -> PlainTextResponse:
    found = request.session
    same = {k: found.get(k) == v and type(found.get(k)) is type(v) for k, v in VALUES.items()}
    request.session["from_starlette"] = (request.session["pair"], request.session["id"])
    return PlainTextResponse(repr(same))


def test_tagged_values_cross_from_flask_to_starlette_and_back() -> None:
    store = MemoryStore()
    flask_client = make_flask(store).test_client()
    response = flask_client.post("/store")
    cookie = response.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    starlette = Starlette(routes=[Route("/check", check)], middleware=[
        Middleware(StrongboxMiddleware, secret_key=KEY, store=store, max_age=None)])
    with TestClient(starlette, cookies={"session": cookie}) as client:
        answer = client.get("/check")
    assert answer.text == repr(dict.fromkeys(VALUES, True))
    assert flask_client.get("/seen").text == repr(((1, "two"), VALUES["id"]))
