"""``strongbox.health()``: whether the store answers within
``STRONGBOX_STORE_TIMEOUT``, as a small result and never an exception: on
every store, with no ``SECRET_KEY``, and with a Redis server killed or hung."""

from __future__ import annotations

import time

import pytest
from flask import Flask

from flask_strongbox import Health, Strongbox
from flask_strongbox.health import PROBE_KEY, check
from flask_strongbox.stores.base import Store
from flask_strongbox.stores.redis import RedisStore

from .apps import extension, make_app
from .services import RedisServer


def health_of(app: Flask) -> Health:
    with app.app_context():
        return extension(app).health()


def test_a_store_that_answers_is_healthy(store: Store) -> None:
    found = health_of(make_app(store))
    assert found == Health(ok=True, store=store.name, latency=found.latency)
    assert 0 <= found.latency < 2.0
    assert found.error is None


def test_the_probe_reads_and_writes_nothing(store: Store) -> None:
    app = make_app(store)
    before = store.stats(time.time())
    health_of(app)
    assert store.stats(time.time()) == before
    assert store.get(PROBE_KEY, time.time()) is None


def test_health_needs_no_secret_key(store: Store) -> None:
    app = Flask(__name__)
    box = Strongbox(app, store=store)
    with app.app_context():
        assert box.health().ok


def test_a_killed_server_is_not_ok_and_nothing_is_raised() -> None:
    with RedisServer() as server:
        store = RedisStore.from_url(server.url, timeout=0.5)
        app = make_app(store)
        assert health_of(app).ok
        server.kill()
        started = time.monotonic()
        found = health_of(app)
        elapsed = time.monotonic() - started
    assert not found.ok
    assert found.store == "redis"
    assert found.error is not None and found.error.startswith("redis store unavailable")
    assert elapsed < 3  # about the timeout, never a hang


@pytest.mark.slow
def test_a_hung_server_is_not_ok_within_about_the_timeout() -> None:
    """A server that takes the connection but holds every command
    (``CLIENT PAUSE``) is given ``STRONGBOX_STORE_TIMEOUT``, then reported."""
    with RedisServer() as server:
        store = RedisStore.from_url(server.url, timeout=0.3)
        app = make_app(store)
        assert health_of(app).ok
        admin = server.client()
        admin.client_pause(3000)
        found = health_of(app)
        admin.client_unpause()
        admin.close()
    assert not found.ok
    assert 0.25 <= found.latency < 1.5
    assert found.error is not None and "redis store unavailable" in found.error


class SlowAnswers:
    """A store whose reads answer, but late (a store with no timeout of its own)."""

    name = "slow"

    def get(self, key: str, now: float) -> None:
        time.sleep(0.05)


def test_an_answer_later_than_the_timeout_is_not_ok() -> None:
    found = check(SlowAnswers(), time.time(), timeout=0.01)  # type: ignore[arg-type]
    assert not found.ok
    assert found.latency >= 0.05
    assert found.error is not None and "STRONGBOX_STORE_TIMEOUT=0.01" in found.error
