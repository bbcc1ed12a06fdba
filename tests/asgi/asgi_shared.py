"""``tests/wsgi_shared.py``'s app on FastAPI, for the cross-framework test:
the same routes, on the same store, configured from the same environment
(``STRONGBOX_STORE``, ``SECRET_KEY``, ``STRONGBOX_KEY_PREFIX``, ``STRONGBOX_TABLE``).

    uvicorn --factory tests.asgi.asgi_shared:create_app
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from flask_strongbox.starlette import StrongboxMiddleware, strongbox


def create_app() -> FastAPI:
    app = FastAPI()
    # max_age=None: a browser-session cookie ended by the idle timeout, as Flask's default session.
    app.add_middleware(
        StrongboxMiddleware, secret_key=os.environ["SECRET_KEY"], store=os.environ["STRONGBOX_STORE"],
        max_age=None, key_prefix=os.environ.get("STRONGBOX_KEY_PREFIX", "strongbox:"),
        table=os.environ.get("STRONGBOX_TABLE", "strongbox_sessions"),
    )

    @app.get("/health", response_class=PlainTextResponse)
    async def health() -> str:
        return "ok"

    @app.get("/login/{name}", response_class=PlainTextResponse)
    async def login(request: Request, name: str) -> str:
        request.session["user"] = name
        return "ok"

    @app.get("/whoami")
    async def whoami(request: Request) -> Any:
        return {"user": request.session.get("user"), "note": request.session.get("note")}

    @app.get("/note/{text}", response_class=PlainTextResponse)
    async def note(request: Request, text: str) -> Any:
        if "user" not in request.session:
            return PlainTextResponse("log in first", 401)
        request.session["note"] = text
        return "ok"

    @app.get("/revoke-others", response_class=PlainTextResponse)
    async def revoke_others(request: Request) -> Any:
        if "user" not in request.session:
            return PlainTextResponse("log in first", 401)
        return str(await strongbox(request).revoke_user(request.session["user"], keep_current=True))

    @app.get("/logout", response_class=PlainTextResponse)
    async def logout(request: Request) -> str:
        request.session.clear()
        return "ok"

    return app
