"""End-to-end tests in a real Chromium against the app on a real WSGI server.

The server runs in a thread of the test process, so the tests can move the
app's clock. The login flow test also takes the screenshots shown in the README
(``docs/screenshots/``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Cookie, Page, ViewportSize, expect, sync_playwright
from strongbox_app import DEFAULTS, create_app
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from flask_strongbox.testing import Clock

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
#: The README's screenshots are refreshed only on request
#: (``STRONGBOX_SCREENSHOTS=1 ./dev test -m browser``); otherwise they go to a
#: temporary folder, so a test run leaves the work tree as it found it.
README_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT: ViewportSize = {"width": 1000, "height": 700}
DESKTOP_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)
PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


class QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class LiveServer:
    url: str
    clock: Clock
    cookie_name: str


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, secret_key: str) -> Iterator[LiveServer]:
    clock = Clock()
    store = tmp_path_factory.mktemp("browser") / "sessions.sqlite3"
    app = create_app(
        {
            "SECRET_KEY": secret_key,
            "TESTING": True,
            "STRONGBOX_STORE": f"sqlite:///{store}",
            "STRONGBOX_CLOCK": clock,
        }
    )
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", clock, app.config["SESSION_COOKIE_NAME"])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """Open a fresh browser context (its own cookie jar); all are closed after the test."""
    contexts: list[BrowserContext] = []

    def make(user_agent: str = DESKTOP_UA) -> BrowserContext:
        context = browser.new_context(viewport=VIEWPORT, user_agent=user_agent)
        context.set_default_timeout(5_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def log_in(page: Page, server: LiveServer, name: str) -> None:
    page.goto(server.url + "/login")
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page).to_have_url(server.url + "/user")


def session_cookie(context: BrowserContext, server: LiveServer) -> Cookie:
    [cookie] = [c for c in context.cookies() if c["name"] == server.cookie_name]
    return cookie


def test_log_in_reload_log_out_and_screenshots(
    live_server: LiveServer, new_context: Callable[..., BrowserContext], tmp_path: Path
) -> None:
    url = live_server.url
    shots = README_SCREENSHOTS if os.environ.get("STRONGBOX_SCREENSHOTS") == "1" else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    page = new_context().new_page()

    page.goto(url + "/")
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
    page.screenshot(path=shots / "home.png")

    page.get_by_role("main").get_by_role("link", name="Log in").click()
    expect(page).to_have_url(url + "/login")
    expect(page.get_by_label("Your name")).to_be_visible()
    page.screenshot(path=shots / "login.png")

    page.get_by_label("Your name").fill("Ada Lovelace")
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page).to_have_url(url + "/user")
    expect(page.get_by_role("heading", name="Ada Lovelace")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("You are logged in")
    page.screenshot(path=shots / "user.png")

    page.reload()
    expect(page).to_have_url(url + "/user")
    expect(page.get_by_role("heading", name="Ada Lovelace")).to_be_visible()
    expect(page.get_by_role("status")).to_have_count(0)

    log_in(new_context(user_agent=PHONE_UA).new_page(), live_server, "Ada Lovelace")
    page.get_by_role("link", name="Your sessions").click()
    expect(page).to_have_url(url + "/sessions")
    expect(page.locator(".sessions > li")).to_have_count(2)
    expect(page.get_by_text("This session", exact=True)).to_have_count(1)
    page.screenshot(path=shots / "sessions.png")

    page.get_by_role("navigation").get_by_role("button", name="Log out").click()
    expect(page).to_have_url(url + "/login?notice=logged_out")
    expect(page.get_by_role("status")).to_have_text("You have been logged out")
    page.goto(url + "/user")
    expect(page).to_have_url(url + "/login")


def test_idle_session_expires_after_five_minutes(
    live_server: LiveServer, new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context().new_page()
    log_in(page, live_server, "Grace Hopper")
    lifetime: timedelta = DEFAULTS["PERMANENT_SESSION_LIFETIME"]  # five minutes
    live_server.clock.advance(lifetime - timedelta(minutes=1))
    page.reload()
    expect(page.get_by_role("heading", name="Grace Hopper")).to_be_visible()
    live_server.clock.advance(lifetime + timedelta(seconds=1))
    page.reload()
    expect(page).to_have_url(live_server.url + "/login?notice=expired")
    expect(page.get_by_role("status")).to_have_text("Your session expired, please log in again")


def test_edited_cookie_does_not_log_in_as_someone_else(
    live_server: LiveServer, new_context: Callable[..., BrowserContext]
) -> None:
    alice = new_context()
    log_in(alice.new_page(), live_server, "alice")
    alice_value = session_cookie(alice, live_server)["value"]

    mallory = new_context()
    page = mallory.new_page()
    log_in(page, live_server, "mallory")
    cookie = session_cookie(mallory, live_server)
    value = cookie["value"]
    half = len(value) // 2
    forgeries = [
        value[:-1] + ("A" if value[-1] != "A" else "B"),
        ("A" if value[0] != "A" else "B") + value[1:],
        value[:half] + alice_value[half:],
        alice_value[:half] + value[half:],
        "alice",
        '{"user": "alice"}',
    ]
    for forged in forgeries:
        mallory.clear_cookies()
        mallory.add_cookies([{"name": cookie["name"], "value": forged, "domain": cookie["domain"],
                              "path": cookie["path"], "httpOnly": cookie["httpOnly"]}])
        page.goto(live_server.url + "/user")
        expect(page).to_have_url(live_server.url + "/login")
        expect(page.get_by_text("alice")).to_have_count(0)

    mallory.clear_cookies()
    mallory.add_cookies([cookie])  # type: ignore[list-item]
    page.goto(live_server.url + "/user")
    expect(page.get_by_role("heading", name="mallory")).to_be_visible()


def test_logging_in_again_gives_the_browser_a_new_cookie(
    live_server: LiveServer, new_context: Callable[..., BrowserContext]
) -> None:
    """The login form open in two tabs, submitted in both: the second login
    under the same name still gets a new id."""
    context = new_context()
    first, second = context.new_page(), context.new_page()
    for page in (first, second):
        page.goto(live_server.url + "/login")
        page.get_by_label("Your name").fill("alice")
    first.get_by_role("button", name="Log in", exact=True).click()
    expect(first).to_have_url(live_server.url + "/user")
    before = session_cookie(context, live_server)
    second.get_by_role("button", name="Log in", exact=True).click()
    expect(second.get_by_role("heading", name="alice")).to_be_visible()
    assert session_cookie(context, live_server)["value"] != before["value"]
    first.reload()
    expect(first.get_by_role("heading", name="alice")).to_be_visible()

    replay = new_context()
    replay.add_cookies([before])  # type: ignore[list-item]
    old = replay.new_page()
    old.goto(live_server.url + "/user")
    expect(old).to_have_url(live_server.url + "/login?notice=expired")


def test_two_browser_contexts_are_two_users(
    live_server: LiveServer, new_context: Callable[..., BrowserContext]
) -> None:
    first, second = new_context().new_page(), new_context().new_page()
    log_in(first, live_server, "alice")
    log_in(second, live_server, "bob")
    first.reload()
    second.reload()
    expect(first.get_by_role("heading", name="alice")).to_be_visible()
    expect(second.get_by_role("heading", name="bob")).to_be_visible()

    first.get_by_role("navigation").get_by_role("button", name="Log out").click()
    expect(first).to_have_url(live_server.url + "/login?notice=logged_out")
    second.reload()
    expect(second.get_by_role("heading", name="bob")).to_be_visible()
