"""``/healthz`` and ``/metrics``: absent unless ``MONITORING_ENDPOINTS`` is on;
then a readiness answer and Prometheus' text that counts what the app did,
without ever touching the prober's session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.test import TestResponse

Login = Callable[[FlaskClient, str], TestResponse]


def counter(text: str, name: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and not sample.labels:
                return sample.value
    raise AssertionError(f"{name} is not in the scrape")


def test_the_endpoints_are_off_by_default(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 404
    assert client.get("/metrics").status_code == 404


def test_healthz_answers_ready_with_the_store(make_app: Callable[..., Flask]) -> None:
    client = make_app(MONITORING_ENDPOINTS=True).test_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["ok"], body["store"]) == (True, "sqlite")
    assert 0 <= body["latency"] < 2
    assert "Set-Cookie" not in response.headers and "Cookie" not in response.headers.get("Vary", "")


def test_healthz_is_503_when_the_store_cannot_answer(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "sessions.sqlite3"
    app = make_app(MONITORING_ENDPOINTS=True, STRONGBOX_STORE=f"sqlite:///{missing}")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"ok": False, "store": "sqlite", "latency": response.get_json()["latency"]}
    assert "no-such-folder" not in response.get_data(as_text=True)  # the reason is for the log


def test_metrics_count_a_login_a_read_and_a_logout(make_app: Callable[..., Flask], login: Login) -> None:
    app = make_app(MONITORING_ENDPOINTS=True)
    client = app.test_client()
    scraper = app.test_client(use_cookies=False)
    before = scraper.get("/metrics").get_data(as_text=True)
    login(client, "Alice")
    assert client.get("/user").status_code == 200
    client.post("/logout")
    response = scraper.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    after = response.get_data(as_text=True)
    for name, more in [("strongbox_sessions_created_total", 1), ("strongbox_sessions_destroyed_total", 1),
                       ("strongbox_sessions_expired_total", 0)]:
        assert counter(after, name) - counter(before, name) == more, name
    assert "Alice" not in after
    assert "Set-Cookie" not in response.headers
