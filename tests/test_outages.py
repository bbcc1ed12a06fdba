""""Store unavailable" is not "no session", through a real app on a real server
that really goes away.

Each outage test runs twice: on a throwaway ``redis-server`` that is killed
(SIGKILL, as a crash) and started again on the same port, with an fsync'd
append-only file so that acknowledged writes survive; and on the machine's
PostgreSQL behind a loopback TCP proxy that is cut (every connection closed,
new ones refused) and restored. The app object is never rebuilt: recovery is
the library's own. Then: an app started while Redis is unreachable, a session
flushed from Redis, and a login the database refuses half way.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask, jsonify, session
from flask.testing import FlaskClient
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from werkzeug.test import TestResponse

from flask_strongbox import Store, Strongbox
from flask_strongbox.stores.postgres import PostgresStore
from flask_strongbox.stores.redis import RedisStore

from . import services
from .conftest import SECRET
from .services import RedisServer, free_port
from .test_postgres import Proxy, via

RETRY_AFTER = 7
#: The words of the 503 page a user sees (StoreUnavailable.description).
USER_MESSAGE = "temporarily unavailable"


def make_app(store: str | Store, **config: Any) -> Flask:
    """A small app: log in (permanent), read, write, and a page that never
    touches the session. ``app.config["MIDWAY"]`` runs inside ``/note`` after
    the session is loaded and before it is saved."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, TESTING=True, STRONGBOX_STORE=store,
                      STRONGBOX_RETRY_AFTER=RETRY_AFTER, **config)
    Strongbox(app)

    @app.get("/login/<name>")
    def login(name: str) -> str:
        session["user"] = name
        session.permanent = True
        return "ok"

    @app.get("/whoami")
    def whoami() -> str:
        return str(session.get("user", ""))

    @app.get("/note/<text>")
    def note(text: str) -> str:
        session.permanent  # loads the session
        app.config.get("MIDWAY", lambda: None)()
        session["note"] = text
        return "ok"

    @app.get("/dump")
    def dump() -> Any:
        return jsonify(dict(session))

    @app.get("/health")
    def health() -> str:
        return "ok"

    return app


def close_store(app: Flask) -> None:
    app.extensions["strongbox"].store.close()


@dataclass
class Outage:
    """A store whose server a test can take away and bring back."""

    name: str
    store: str | Store
    #: What the operator's log line must name: the server's address.
    where: str
    down: Callable[[], object]
    up: Callable[[], object]


def redis_outage(tmp_path: Path, cache: int = 0) -> Iterator[Outage]:
    server = RedisServer("--appendonly", "yes", "--appendfsync", "always", "--dir", str(tmp_path))
    with server:
        store: str | Store = RedisStore.from_url(server.url, cache=cache) if cache else server.url
        yield Outage("redis", store, f"127.0.0.1:{server.port}", server.kill, server.start)


def postgres_outage() -> Iterator[Outage]:
    for schema in services.postgres_schema():  # yields once, drops the schema after
        params = conninfo_to_dict(services.postgres_url())
        proxy = Proxy((str(params.get("host", "127.0.0.1")), int(str(params.get("port", 5432)))))
        store = PostgresStore(via(proxy, f"pw-{secrets.token_hex(8)}"), schema=schema,
                              connect_timeout=0.5)
        try:
            yield Outage("postgres", store, f"port={proxy.port}", proxy.cut, proxy.restore)
        finally:
            store.close()
            proxy.close()


@pytest.fixture(params=["redis", "redis-cached", "postgres"])
def outage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Outage]:
    if request.param == "redis":
        yield from redis_outage(tmp_path)
    elif request.param == "redis-cached":
        yield from redis_outage(tmp_path, cache=1000)
    else:
        yield from postgres_outage()


@pytest.fixture
def app(outage: Outage) -> Iterator[Flask]:
    app = make_app(outage.store)
    yield app
    close_store(app)


def cookie_of(client: FlaskClient) -> str | None:
    """The session cookie the test client holds."""
    cookie = client.get_cookie("session")
    return None if cookie is None else cookie.value


def log_in(client: FlaskClient, name: str = "alice", note: str = "before") -> str:
    """Log in and write a note; return the session cookie."""
    assert client.get(f"/login/{name}").status_code == 200
    assert client.get(f"/note/{note}").status_code == 200
    cookie = cookie_of(client)
    assert cookie
    return cookie


def assert_unavailable(response: TestResponse) -> None:
    """A 503 that asks the client to retry, says so plainly, shows nothing of
    the server or the code, and leaves the session cookie alone."""
    body = response.get_data(as_text=True)
    assert response.status_code == 503, body
    assert response.headers.getlist("Retry-After") == [str(RETRY_AFTER)]
    assert USER_MESSAGE in body
    assert "Traceback" not in body and "127.0.0.1" not in body and "store unavailable" not in body
    assert response.headers.getlist("Set-Cookie") == []


def back_up(client: FlaskClient, outage: Outage) -> TestResponse:
    """Bring the server back and return the first successful ``/whoami``.
    Until then every answer must be a 503 that leaves the cookie alone."""
    outage.up()
    deadline = time.monotonic() + 10
    while True:
        response = client.get("/whoami")
        if response.status_code == 200:
            return response
        assert_unavailable(response)
        assert time.monotonic() < deadline, f"the app did not recover from the {outage.name} outage"
        time.sleep(0.05)


def test_a_read_while_the_store_is_down_is_a_503_and_the_user_stays_logged_in(
    app: Flask, outage: Outage, caplog: pytest.LogCaptureFixture,
) -> None:
    client = app.test_client()
    cookie = log_in(client)
    outage.down()
    with caplog.at_level(logging.ERROR, logger="flask_strongbox"):
        assert_unavailable(client.get("/whoami"))
        assert_unavailable(client.get("/dump"))
    assert outage.where in caplog.text, "the operator's log must name the server"
    assert cookie_of(client) == cookie

    assert back_up(client, outage).get_data(as_text=True) == "alice"
    assert client.get("/dump").json == {"_permanent": True, "user": "alice", "note": "before"}
    assert cookie_of(client) == cookie


def test_a_write_while_the_store_is_down_is_a_503_and_saves_nothing(
    app: Flask, outage: Outage,
) -> None:
    client, newcomer = app.test_client(), app.test_client()
    cookie = log_in(client)
    outage.down()
    assert_unavailable(client.get("/note/during"))
    assert_unavailable(newcomer.get("/login/bob"))  # no cookie for a session never stored
    assert cookie_of(client) == cookie
    assert cookie_of(newcomer) is None

    back_up(client, outage)
    assert client.get("/dump").json == {"_permanent": True, "user": "alice", "note": "before"}
    assert newcomer.get("/whoami").get_data(as_text=True) == ""


def test_a_store_lost_between_load_and_save_is_a_503_and_keeps_the_old_data(
    app: Flask, outage: Outage,
) -> None:
    """The server goes away while a request that loaded the session runs: its
    save fails, and the finished response becomes the 503 without the cookie
    the save would have sent."""
    client = app.test_client()
    cookie = log_in(client)
    app.config["MIDWAY"] = outage.down
    assert_unavailable(client.get("/note/lost"))
    app.config["MIDWAY"] = lambda: None

    back_up(client, outage)
    assert client.get("/dump").json == {"_permanent": True, "user": "alice", "note": "before"}
    assert cookie_of(client) == cookie


def test_requests_that_never_touch_the_session_are_served_while_the_store_is_down(
    app: Flask, outage: Outage,
) -> None:
    client = app.test_client()
    log_in(client)
    outage.down()
    response = client.get("/health")
    assert (response.status_code, response.get_data(as_text=True)) == (200, "ok")
    assert response.headers.getlist("Set-Cookie") == []
    back_up(client, outage)


def test_an_app_started_while_redis_is_unreachable_serves_and_recovers_when_it_appears(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Start-up logs one error (its wording is pinned in test_config); the app
    answers pages without a session, 503s those with one, and works as soon as
    a server listens on the configured port, without a restart."""
    port, password = free_port(), f"pw-{secrets.token_hex(8)}"
    with caplog.at_level(logging.ERROR, logger="flask_strongbox"):
        app = make_app(f"redis://:{password}@127.0.0.1:{port}/0", STRONGBOX_STORE_TIMEOUT=0.5)
    errors = [r for r in caplog.records if r.name.startswith("flask_strongbox")]
    assert len(errors) == 1 and f"127.0.0.1:{port}" in errors[0].getMessage()
    client = app.test_client()
    try:
        assert client.get("/health").status_code == 200
        assert_unavailable(client.get("/login/alice"))
        with RedisServer(port=port) as server:
            admin = server.client()
            admin.config_set("requirepass", password)
            admin.close()
            assert client.get("/login/alice").status_code == 200
            assert client.get("/whoami").get_data(as_text=True) == "alice"
    finally:
        close_store(app)
    assert password not in caplog.text


def test_a_flushed_session_is_simply_logged_out() -> None:
    """FLUSHALL (or eviction) while logged in: the next request is a fresh,
    empty session and the stale cookie is cleared, not an error."""
    with RedisServer() as server:
        app = make_app(server.url)
        client = app.test_client()
        try:
            log_in(client)
            admin = server.client()
            admin.flushall()
            admin.close()
            response = client.get("/whoami")
            assert (response.status_code, response.get_data(as_text=True)) == (200, "")
            assert cookie_of(client) is None, "the stale cookie must be cleared"
            assert client.get("/dump").json == {}
            assert client.get("/note/fresh").status_code == 200  # a new session, no user in it
            assert client.get("/dump").json == {"note": "fresh"}
            assert client.get("/login/alice").status_code == 200
            assert client.get("/whoami").get_data(as_text=True) == "alice"
        finally:
            close_store(app)


@pytest.fixture
def schema() -> Iterator[str]:
    yield from services.postgres_schema()


def test_a_login_the_store_refuses_half_way_leaves_the_previous_session_as_it_was(
    schema: str,
) -> None:
    """An anonymous session holding a cart logs in while the database accepts
    updates but refuses inserts (a full disk, shown by a real trigger). The
    login gets a 503; after it, the cart must still be there to retry with."""
    store = PostgresStore(services.postgres_url(), schema=schema, connect_timeout=1)
    app = make_app(store)
    client = app.test_client()
    table = sql.Identifier(schema, "strongbox_sessions")
    refuse = sql.Identifier(schema, "refuse_inserts")
    with psycopg.connect(services.postgres_url(), autocommit=True) as admin:
        try:
            assert client.get("/note/cart").status_code == 200
            admin.execute(sql.SQL(
                "CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'could not extend file: No space left on device' "
                "USING ERRCODE = 'disk_full'; END $$").format(refuse))
            admin.execute(sql.SQL(
                "CREATE TRIGGER refuse_inserts BEFORE INSERT ON {} "
                "FOR EACH ROW EXECUTE FUNCTION {}()").format(table, refuse))
            assert_unavailable(client.get("/login/alice"))
            admin.execute(sql.SQL("DROP TRIGGER refuse_inserts ON {}").format(table))
            assert client.get("/dump").json == {"note": "cart"}
        finally:
            close_store(app)
