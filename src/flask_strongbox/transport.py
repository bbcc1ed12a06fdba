"""The header transport, for API clients (``STRONGBOX_HEADER``, off by
default): the session token in a request header instead of the cookie.

The token is exactly what the cookie would hold. ``Authorization`` carries
it as ``Authorization: Bearer <token>``; any other header carries the raw
token. A request that carries the header (with any value: a forged, unknown
or empty token is an anonymous session, as a forged cookie is) is an API
client's: it learns each new token from the :data:`TOKEN_HEADER` response
header, sent when its session is created or rotated (empty when it ends),
instead of ``Set-Cookie``. Requests without the header use the cookie as
before.
"""

from __future__ import annotations

from collections.abc import Callable

#: The response header that carries a new token to a client using the
#: header transport.
TOKEN_HEADER = "Strongbox-Token"  # noqa: S105 - a header name, not a secret


def header_tokens(name: str | None, get: Callable[[str], str | None]) -> list[str] | None:
    """The session tokens the request's header ``name`` carries (``[]``:
    the header names no token), or ``None`` if the transport is off or the
    request carries no such header (use the cookie).

    :param name: ``STRONGBOX_HEADER``.
    :param get: reads one request header by name.
    """
    if name is None:
        return None
    value = get(name)
    if value is None:
        return None
    value = value.strip()
    if name.lower() != "authorization":
        return [value] if value else []
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        return None  # another kind of authorization (Basic...): not ours, use the cookie
    token = token.strip()
    return [token] if token else []


def new_token(sent: str, cookie: str | None, clear: bool) -> str | None:
    """What :data:`TOKEN_HEADER` tells a client that sent ``sent``: the
    session's new token, ``""`` when its session ended, or ``None``
    (nothing to say: the token it has still holds)."""
    if cookie is not None:
        return None if cookie == sent else cookie
    return "" if clear and sent else None
