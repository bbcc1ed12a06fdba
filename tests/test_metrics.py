"""Prometheus metrics: what a scrape of ``/metrics`` shows after a scripted
life (logins, reads, a logout, an expired and a forged cookie, a revocation
by the CLI, a Redis server killed), and that no label value or any other part
of the exposition ever holds a cookie, an id, a handle, a user or a key."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask, Response
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from flask_strongbox import ConfigurationError, MemoryStore, signals
from flask_strongbox.interface import strongbox_of
from flask_strongbox.metered import OPERATIONS, MeteredStore
from flask_strongbox.metrics import REJECTION_REASONS, metrics_for
from flask_strongbox.stores.redis import RedisStore

from .apps import SECRET, SEEN_COOKIES, Browser, Clock, Slow, _forbidden, make_app, store_key
from .log_guard import secret_shaped
from .services import RedisServer

LIFECYCLE = ("created", "rotated", "destroyed", "revoked", "expired")


def with_metrics_route(app: Flask, registry: CollectorRegistry) -> Flask:
    """Serve ``registry`` at ``/metrics``, as an app would."""
    app.add_url_rule("/metrics", "metrics",
                     lambda: Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST))
    return app


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text)[(name, tuple(sorted(labels.items())))]


def strongbox_label_values(text: str) -> set[tuple[str, str]]:
    return {
        (label, v) for (name, labels), _ in samples(text).items() if name.startswith("strongbox_")
        for label, v in labels
    }


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def test_a_scrape_after_a_scripted_life_shows_what_happened(redis_server: RedisServer) -> None:
    SEEN_COOKIES.clear()
    registry, clock = CollectorRegistry(), Clock()
    store = RedisStore.from_url(redis_server.url, timeout=1.0)
    app = with_metrics_route(make_app(store, clock, metrics=registry), registry)
    users = ["alice-3f9c1e", "bob-8a2d47", "carol-51b0e3"]

    alice = Browser(app)
    alice.get(f"/login/{users[0]}")                                  # created
    assert alice.get("/dump").status_code == alice.get("/dump").status_code == 200
    logged_in = alice.cookie
    assert alice.get("/logout").status_code == 200                   # destroyed
    Browser(app, logged_in).get("/dump")                              # expired: the record is gone
    forged = "A" * 43 + "." + "B" * 43
    Browser(app, forged).get("/dump")                                 # rejected: bad cookie
    bob, carol = Browser(app), Browser(app)
    bob.get(f"/login/{users[1]}")                                    # created
    carol.get(f"/login/{users[2]}")                                  # created
    handles = {store_key(app, c) for c in SEEN_COOKIES if "." in c and c != forged}
    result = app.test_cli_runner().invoke(args=["sessions", "revoke-user", users[2]])  # revoked
    assert result.exit_code == 0, result.output
    redis_server.kill()
    outage = bob.get("/dump")                                         # store error: get
    assert outage.status_code == 503

    scrape = Browser(app).get("/metrics")
    assert scrape.status_code == 200 and scrape.content_type == CONTENT_TYPE_LATEST
    text = scrape.get_data(as_text=True)
    assert {event: value(text, f"strongbox_sessions_{event}_total") for event in LIFECYCLE} == {
        "created": 3, "rotated": 0, "destroyed": 1, "revoked": 1, "expired": 1,
    }
    assert value(text, "strongbox_sessions_rejected_total", reason="bad_cookie") == 1
    assert value(text, "strongbox_sessions_rejected_total", reason="duplicate_cookie") == 0
    assert value(text, "strongbox_save_conflicts_total") == 0
    errors = {op: value(text, "strongbox_store_errors_total", operation=op) for op in OPERATIONS}
    assert errors == {op: 1 if op == "get" else 0 for op in OPERATIONS}
    # Two reads, the logout's load, the expired cookie's lookup, the failed read.
    assert value(text, "strongbox_store_latency_seconds_count", operation="get") == 5
    assert value(text, "strongbox_store_latency_seconds_count", operation="create") == 3
    assert value(text, "strongbox_store_latency_seconds_count", operation="delete_user") == 1

    # Nothing secret anywhere in the exposition: not in a label, not anywhere.
    forbidden = {*handles, *users, SECRET, forged}
    for cookie in SEEN_COOKIES:
        forbidden |= _forbidden(cookie) if "." in cookie else {cookie}
    assert len(handles) == 3 and SEEN_COOKIES
    assert [f for f in forbidden if f in text] == []
    assert secret_shaped(text) == []
    allowed = {("operation", op) for op in OPERATIONS} | {
        ("reason", r) for r in (*REJECTION_REASONS.values(), "other")
    }
    assert {lv for lv in strongbox_label_values(text) if lv[0] != "le"} <= allowed


def test_rotations_and_every_rejection_reason_are_counted() -> None:
    registry, clock = CollectorRegistry(), Clock()
    app = make_app(MemoryStore(), clock, metrics=registry)
    browser = Browser(app)
    browser.get("/set/theme/dark")
    browser.get("/login/dora")                    # rotated: a new id at login
    browser.get("/regenerate")                    # rotated again
    cookie = browser.cookie
    assert cookie
    Browser(app, "not-a-cookie").get("/dump")
    app.test_client(use_cookies=False).get("/dump", headers={"Cookie": f"session={cookie}; session={cookie}"})
    signals.session_rejected.send(app, handle=None, reason="a reason no one planned")
    text = generate_latest(registry).decode()
    assert value(text, "strongbox_sessions_rotated_total") == 2
    assert {r: value(text, "strongbox_sessions_rejected_total", reason=r)
            for r in (*REJECTION_REASONS.values(), "other")} == {
        "bad_cookie": 1, "duplicate_cookie": 1, "unreadable_record": 0, "other": 1,
    }
    assert "a reason no one planned" not in text


def test_the_conflict_signal_is_counted() -> None:
    registry = CollectorRegistry()
    app = make_app(MemoryStore(), Clock(), metrics=registry)
    signals.session_conflict.send(app, handle="0" * 64, reason="read and changed")
    text = generate_latest(registry).decode()
    assert value(text, "strongbox_save_conflicts_total") == 1
    assert "0" * 64 not in text


def test_a_save_that_cannot_merge_is_counted_as_a_conflict() -> None:
    """Two increments read n=0; the second to save is refused with 503 and
    counted."""
    registry, clock = CollectorRegistry(), Clock()
    app = make_app(MemoryStore(), clock, metrics=registry)
    first = Browser(app)
    first.get("/login/erin")
    slow = app.config["SYNC"] = Slow()
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(Browser(app, first.cookie).get, "/incr?slow=1")
        assert slow.loaded.wait(10)
        assert Browser(app, first.cookie).get("/incr").status_code == 200
        slow.go.set()
        assert pending.result(10).status_code == 503
    assert value(generate_latest(registry).decode(), "strongbox_save_conflicts_total") == 1


def test_metrics_are_off_by_default_and_the_store_is_not_wrapped() -> None:
    store = MemoryStore()
    app = make_app(store)
    assert strongbox_of(app).store is store


def test_the_setting_counts_on_the_default_registry() -> None:
    app = make_app(MemoryStore(), STRONGBOX_METRICS=True)
    assert isinstance(strongbox_of(app).store, MeteredStore)
    before = REGISTRY.get_sample_value("strongbox_sessions_created_total") or 0
    Browser(app).get("/login/frank")
    assert REGISTRY.get_sample_value("strongbox_sessions_created_total") == before + 1


def test_apps_on_one_registry_add_up_and_one_app_is_counted_once() -> None:
    registry = CollectorRegistry()
    one, two = (make_app(MemoryStore(), metrics=registry) for _ in range(2))
    metrics_for(registry).connect(one)  # again: still counted once
    Browser(one).get("/login/gina")
    Browser(two).get("/login/hal")
    assert registry.get_sample_value("strongbox_sessions_created_total") == 2


def test_an_app_on_another_registry_is_not_counted_here() -> None:
    mine, theirs = CollectorRegistry(), CollectorRegistry()
    make_app(MemoryStore(), metrics=mine)
    other = make_app(MemoryStore(), metrics=theirs)
    Browser(other).get("/login/ivy")
    assert mine.get_sample_value("strongbox_sessions_created_total") == 0


def test_a_bad_setting_names_itself() -> None:
    with pytest.raises(ConfigurationError, match="STRONGBOX_METRICS must be True or False"):
        make_app(MemoryStore(), STRONGBOX_METRICS="yes")


def test_without_the_extra_the_setting_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # The one fault here that a real install cannot be made to show in this process.
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    monkeypatch.delitem(sys.modules, "flask_strongbox.metrics")
    with pytest.raises(ConfigurationError, match=r"STRONGBOX_METRICS needs the metrics extra: pip install"):
        make_app(MemoryStore(), STRONGBOX_METRICS=True)


def test_counting_is_safe_from_many_threads() -> None:
    registry = CollectorRegistry()
    app = make_app(MemoryStore(), metrics=registry)

    def logins(n: int) -> None:
        for i in range(n):
            Browser(app).get(f"/login/user{i}")

    threads = [threading.Thread(target=logins, args=(50,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert registry.get_sample_value("strongbox_sessions_created_total") == 200
    assert registry.get_sample_value(
        "strongbox_store_latency_seconds_count", {"operation": "create"}) == 200
