"""Switching to Strongbox under a real Chromium: logged in on Flask's own
cookie session (or Flask-Session on Redis), the server restarts on Strongbox
with migration on, and the browser is still logged in, with the same data,
now holding an opaque cookie. A replayed legacy cookie, and any legacy cookie
after ``STRONGBOX_MIGRATE_UNTIL``, gets no session.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, session
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from flask_strongbox import Strongbox
from flask_strongbox.stores.sqlite import SQLiteStore
from flask_strongbox.testing import Clock as FakeClock

from .legacy_apps import cookie_app, typed
from .legacy_stores import redis_legacy
from .legacy_switch import STRONGBOX_COOKIE, as_strongbox_keeps

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::DeprecationWarning:flask_session.*")]

CHROMIUM = Path("/usr/bin/chromium")


class QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class Restartable:
    """A WSGI server whose app can be replaced, as a deploy replaces it."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, self, threaded=True,
                                                  request_handler=QuietHandler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def with_show_typed(app: Flask) -> Flask:
    @app.route("/typed")
    def show_typed() -> Response:
        shown = repr(typed({k: v for k, v in session.items() if k != "_permanent"}))
        return Response(shown, mimetype="text/plain")

    return app


def strongbox_app(old: Flask, store: SQLiteStore, clock: FakeClock, **config: Any) -> Flask:
    app = Flask(__name__)
    kept = {k: v for k, v in old.config.items()
            if k.startswith("SESSION_") or k in ("SECRET_KEY", "PERMANENT_SESSION_LIFETIME")}
    app.config.update({**kept, "TESTING": True,
                       "STRONGBOX_MIGRATE_UNTIL": datetime.fromtimestamp(clock.now, timezone.utc)
                       + timedelta(days=1), **config})
    Strongbox(app, store=store, clock=clock)
    return with_show_typed(app)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is not installed")
        pytest.skip(f"{CHROMIUM} is not installed")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def new_context(browser: Any) -> Iterator[Callable[[], Any]]:
    contexts: list[Any] = []

    def make() -> Any:
        context = browser.new_context()
        context.set_default_timeout(5_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def clock() -> FakeClock:
    clock = FakeClock()
    clock.advance(30)
    return clock


def cookie_of(context: Any) -> str:
    [cookie] = [c for c in context.cookies() if c["name"] == "session"]
    return str(cookie["value"])


def page_text(context: Any, url: str) -> str:
    page = context.new_page()
    page.goto(url)
    text = str(page.inner_text("body"))
    page.close()
    return text


def replay(new_context: Callable[[], Any], server: Restartable, cookie: str) -> str:
    context = new_context()
    context.add_cookies([{"name": "session", "value": cookie, "url": server.url}])
    return page_text(context, server.url + "/typed")


def test_chromium_stays_logged_in_from_flask_cookie_sessions(
    new_context: Callable[[], Any], tmp_path: Path, clock: FakeClock,
) -> None:
    old = with_show_typed(cookie_app())
    server = Restartable(old)
    try:
        browsers = [new_context() for _ in range(3)]
        for name, context in zip(("ada", "grace", "linus"), browsers, strict=True):
            page_text(context, f"{server.url}/login/{name}")
        before = [page_text(context, server.url + "/typed") for context in browsers]
        legacy = [cookie_of(context) for context in browsers]
        later = new_context()
        page_text(later, f"{server.url}/login/late")
        late_cookie = cookie_of(later)
        assert all(kind in before[0] for kind in ("'ada'", "tuple", "bytes", "Markup", "UUID", "datetime"))

        clock.now = time.time() + 1  # the restart: after every legacy cookie was signed
        store = SQLiteStore(str(tmp_path / "s.sqlite3"))
        server.app = strongbox_app(old, store, clock, STRONGBOX_MIGRATE_FROM="flask-cookie")

        after = [page_text(context, server.url + "/typed") for context in browsers]
        assert after == before
        assert all(STRONGBOX_COOKIE.fullmatch(cookie_of(context)) for context in browsers)
        assert [page_text(context, server.url + "/typed") for context in browsers] == before
        assert replay(new_context, server, legacy[0]) == repr(typed({}))
        clock.advance(timedelta(days=1).total_seconds() + 1)
        assert replay(new_context, server, late_cookie) == repr(typed({}))  # the door closed
    finally:
        server.close()


def test_chromium_stays_logged_in_from_flask_session_on_redis(
    new_context: Callable[[], Any], tmp_path: Path, clock: FakeClock,
) -> None:
    for legacy in redis_legacy(tmp_path):
        old = with_show_typed(legacy.app)
        server = Restartable(old)
        try:
            context = new_context()
            page_text(context, f"{server.url}/login/ada")
            old_cookie = cookie_of(context)
            loaded = as_strongbox_keeps(legacy.flask_session_loads(old_cookie))
            expected = repr(typed({k: v for k, v in loaded.items() if k != "_permanent"}))

            clock.now = time.time() + 1  # the restart
            store = SQLiteStore(str(tmp_path / "s.sqlite3"))
            server.app = strongbox_app(old, store, clock, STRONGBOX_MIGRATE_FROM="flask-session",
                                       STRONGBOX_MIGRATE_STORE=legacy.url)

            assert page_text(context, server.url + "/typed") == expected
            assert page_text(context, server.url + "/typed") == expected
            assert STRONGBOX_COOKIE.fullmatch(cookie_of(context))
            assert replay(new_context, server, old_cookie) == repr(typed({}))
        finally:
            server.close()
