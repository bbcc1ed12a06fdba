"""The session cookie a Flask request carries, and what a save writes onto
the response: the session cookie, ``Vary``, or the store-unavailable page in
place of the app's answer."""

from __future__ import annotations

import functools
import re
from datetime import datetime, timezone
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface
from werkzeug.datastructures import Headers

from .engine import Outcome
from .errors import StoreUnavailable
from .transport import TOKEN_HEADER, new_token

#: Headers that describe the app's own answer and must not survive its
#: replacement by the 503 page.
_RESPONSE_SPECIFIC = frozenset({
    "set-cookie", "location", "content-type", "content-length", "etag", "last-modified",
    "content-encoding", "content-range",
})


@functools.lru_cache(maxsize=8)
def _named(name: str) -> re.Pattern[str]:
    # One ``name[=value]`` pair between semicolons, as werkzeug's
    # ``parse_cookie`` reads a pair without quotes: a value with a space in
    # it is no value, and ``name`` alone is an empty one.
    return re.compile(rf"(?:^|;)[ \t]*{re.escape(name)}(?:[ \t]*=[ \t]*([^ \t\";]*))?[ \t]*(?=;|$)")


def session_cookies(request: Request, name: str) -> list[str]:
    """The values of every cookie called ``name`` in the request, as
    ``request.cookies.getlist(name)`` gives them, without parsing the other
    cookies into a dict on every request. A header with a quoted value is
    left to werkzeug, which unquotes it."""
    header = request.environ.get("HTTP_COOKIE")
    if not header or name not in header:
        return []
    if '"' in header:
        return request.cookies.getlist(name)
    return _named(name).findall(header)


def _options(interface: SessionInterface, app: Flask) -> dict[str, Any]:
    """Flask's ``SESSION_COOKIE_*`` attributes, the same for setting and clearing."""
    return {
        "domain": interface.get_cookie_domain(app), "path": interface.get_cookie_path(app),
        "secure": interface.get_cookie_secure(app), "samesite": interface.get_cookie_samesite(app),
        "httponly": interface.get_cookie_httponly(app),
        "partitioned": interface.get_cookie_partitioned(app),
    }


def apply(
    interface: SessionInterface, app: Flask, response: Response, outcome: Outcome,
    header_token: str | None = None,
) -> None:
    """Write the engine's answer onto the response: set the cookie (expiring
    with a permanent session), or clear it with the attributes it was set
    with (or the browser keeps it). A request that came with the header
    transport's token gets its new token (or an empty one, when its session
    ended) in :data:`~flask_strongbox.transport.TOKEN_HEADER` instead."""
    if header_token is not None:
        token = new_token(header_token, outcome.cookie, outcome.clear)
        if token is not None:
            response.headers[TOKEN_HEADER] = token
        return
    if outcome.cookie is None and not outcome.clear:
        return  # the common read: nothing to send
    name = interface.get_cookie_name(app)
    if outcome.cookie is not None:
        expires = None if outcome.expires is None else datetime.fromtimestamp(outcome.expires, timezone.utc)
        response.set_cookie(name, outcome.cookie, expires=expires, **_options(interface, app))
    else:
        response.delete_cookie(name, **_options(interface, app))
    vary_on_cookie(response)


def vary_on_cookie(response: Response) -> None:
    """``response.vary.add("Cookie")``, without parsing and re-serializing the
    header on every request that reads its session."""
    # Iterating the few headers costs a fraction of ``headers.get``, which
    # raises and catches a KeyError inside when there is no ``Vary``.
    vary = [value for key, value in response.headers if key.lower() == "vary"]
    if not vary:
        response.headers.add("Vary", "Cookie")
    elif not any(part.strip().lower() == "cookie" for part in vary[0].split(",")):
        response.headers["Vary"] = f"{vary[0]}, Cookie"


def become_error(app: Flask, response: Response, exc: StoreUnavailable) -> None:
    """Turn the finished response into the app's 503 page in place (a session
    interface cannot replace the response object): its status, body and
    ``Retry-After``, none of its cookies, and the app's other headers kept."""
    error = app.make_response(app.handle_http_exception(exc))
    headers = Headers([(k, v) for k, v in response.headers if k.lower() not in _RESPONSE_SPECIFIC])
    for name, value in error.headers:
        if name.lower() not in ("content-length", "set-cookie"):
            headers.set(name, value)
    response.headers = headers
    response.status_code = error.status_code
    response.set_data(error.get_data())
