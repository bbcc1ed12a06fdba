"""The tutorial's app (``tests/tutorial.py``) on FastAPI: the same views,
``request.session`` for ``session``, and ``StrongboxMiddleware`` for
``Strongbox(app)``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from flask_strongbox.starlette import StrongboxMiddleware

KEY = "x7Jq2mV9sL4pR8tY1wE6uI3oP5aS0dFgHjKlZ"


def make_app(store: Any, clock: Any, **settings: Any) -> FastAPI:
    app = FastAPI()
    app.add_middleware(StrongboxMiddleware, secret_key=KEY, store=store, clock=clock,
                       max_age=5 * 60, **settings)

    @app.get("/", response_class=HTMLResponse)
    async def home() -> str:
        return "<h1>Home</h1>"

    @app.post("/login")
    async def login(request: Request, nm: Annotated[str, Form()]) -> Any:
        request.session["user"] = nm
        return RedirectResponse(request.url_for("user"), status_code=302)

    @app.get("/login", response_model=None)
    async def login_form(request: Request) -> Any:
        if "user" in request.session:
            return RedirectResponse(request.url_for("user"), status_code=302)
        return HTMLResponse('<form method="post"><input name="nm"></form>')

    @app.get("/user", response_model=None)
    async def user(request: Request) -> Any:
        if "user" in request.session:
            return HTMLResponse(f"<h1>{request.session['user']}</h1>")
        return RedirectResponse(request.url_for("login_form"), status_code=302)

    @app.get("/logout")
    async def logout(request: Request) -> Any:
        request.session.pop("user", None)
        return RedirectResponse(request.url_for("login_form"), status_code=302)

    return app
