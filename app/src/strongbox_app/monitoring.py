"""``/healthz`` and ``/metrics``, for a load balancer and Prometheus.

Registered only when ``MONITORING_ENDPOINTS`` is on (it is off by default),
which also turns on ``STRONGBOX_METRICS``. Neither endpoint reads the
session. Serve them to the monitoring network only: the counts say how busy
the site is, though never who uses it.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from flask.typing import ResponseReturnValue

from .extensions import strongbox

bp = Blueprint("monitoring", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Readiness: 200 if the session store answers within
    ``STRONGBOX_STORE_TIMEOUT``, else 503. The reason for a 503 goes to the
    log, not to the prober."""
    found = strongbox.health()
    if not found.ok:
        current_app.logger.warning("not ready: %s", found.error)
    body = {"ok": found.ok, "store": found.store, "latency": round(found.latency, 6)}
    return body, 200 if found.ok else 503


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus' text format: Strongbox's metrics and the process's own,
    from ``prometheus_client``'s default registry."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(), content_type=CONTENT_TYPE_LATEST)
