"""Behaviours Flask's own test suite pins down, kept by Strongbox too.

Each test reproduces, without the external suite, a difference that
``compat/run.py`` found (see docs/compatibility.md).
"""

from __future__ import annotations

from flask.globals import request_ctx

from flask_strongbox.stores.base import Store
from flask_strongbox.testing import Clock

from .apps import make_app


def test_a_request_that_never_touches_the_session_leaves_it_unaccessed(store: Store, clock: Clock) -> None:
    """As Flask's ``test_session_accessed``: after a request whose view never
    used the session, ``session.accessed`` is still false, also once the
    request has been torn down (Strongbox's teardown must not mark it)."""
    app = make_app(store, clock)

    @app.get("/nothing")
    def nothing() -> str:
        return ""

    client = app.test_client()
    client.get("/set/a/1")  # a valid cookie: the request below has a session to open
    with client:
        response = client.get("/nothing")
        assert "cookie" not in response.vary
        assert not request_ctx._session.accessed
        assert not request_ctx._session.modified
    with client:
        client.get("/dump")
        assert request_ctx._session.accessed
