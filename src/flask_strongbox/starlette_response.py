"""What a save writes on a Starlette response, as the app sends it: the
session cookie (or the header token), ``Vary``, or the store-unavailable page
in place of the app's answer. :mod:`flask_strongbox.cookies` does the same for
Flask; the middleware that uses this is :mod:`flask_strongbox.starlette`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.datastructures import MutableHeaders
from starlette.types import Message, Send
from werkzeug.http import dump_cookie

from . import transport
from .engine import Context, Outcome
from .errors import StoreUnavailable

if TYPE_CHECKING:
    from .starlette import StrongboxMiddleware, StrongboxSession


class CookieOptions:
    """The session cookie's name and attributes."""

    def __init__(  # noqa: PLR0913 - one per attribute
        self, name: str, path: str, domain: str | None, secure: bool, same_site: str, partitioned: bool,
    ) -> None:
        self.name = name
        self._attributes: dict[str, Any] = {
            "path": path, "domain": domain, "secure": secure, "httponly": True,
            "samesite": same_site, "partitioned": partitioned,
        }

    def set(self, value: str, max_age: int | None, expires: float | None) -> str:
        return dump_cookie(self.name, value, max_age=max_age, expires=expires, **self._attributes)

    def clear(self) -> str:
        return dump_cookie(self.name, "", max_age=0, expires=0, **self._attributes)


class Answer:
    """The response, as the app sends it: the save runs as it starts, and
    its outcome (a cookie, a cleared cookie, or a 503) goes on it."""

    def __init__(self, middleware: StrongboxMiddleware, ctx: Context, session: StrongboxSession,
                 send: Send) -> None:
        self.middleware, self.ctx, self.session, self._send = middleware, ctx, session, send
        self.saved = False
        self.replaced = False

    async def send(self, message: Message) -> None:
        if self.replaced:
            return  # the app's body, after its answer became the 503 page
        if message["type"] == "http.response.start":
            try:
                outcome = await self._save()
            except StoreUnavailable as exc:
                self.replaced = True
                await unavailable(self._send, exc)
                return
            self._apply(message, outcome)
        await self._send(message)

    async def _save(self) -> Outcome:
        session, lazy = self.session, self.session.engine_session
        assert lazy is not None
        self.saved = True
        engine = self.middleware.sessions.engine
        if not session.modified and not session.accessed and not engine.activity_due(lazy):
            return Outcome()
        if session.modified:
            lazy.data.clear()
            lazy.data.update(session)
            lazy.modified = True
            lazy.reads = None  # which keys the view read is not known: all of them
            lazy.regenerate_requested = session.regenerate_requested
        return await self.middleware.sessions.save(self.ctx, lazy)

    def _apply(self, message: Message, outcome: Outcome) -> None:
        headers = MutableHeaders(scope=message)
        cookie = self.middleware.cookie
        if self.session.accessed:
            headers.add_vary_header("Cookie")
        if self.session.header_token is not None:
            token = transport.new_token(self.session.header_token, outcome.cookie, outcome.clear)
            if token is not None:
                headers[transport.TOKEN_HEADER] = token
        elif outcome.cookie is not None:
            max_age = self.middleware.max_age
            expires = outcome.expires if max_age is None else None
            headers.append("Set-Cookie", cookie.set(outcome.cookie, max_age, expires))
        elif outcome.clear:
            headers.append("Set-Cookie", cookie.clear())


async def unavailable(send: Send, exc: StoreUnavailable) -> None:
    """Answer 503 with ``Retry-After``: the store cannot answer now, which is
    not "no session"."""
    body = b"The session store is unavailable; try again shortly.\n"
    await send({"type": "http.response.start", "status": 503, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(exc.retry_after).encode()),
    ]})
    await send({"type": "http.response.body", "body": body})
