"""The Flask-Strongbox reference app: the classic Flask sessions tutorial's
login system, with server-side, encrypted sessions and the care a real
deployment needs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException

from . import account, auth, monitoring
from .extensions import strongbox
from .protection import add_security_headers, refuse_cross_site_requests
from .secret_key import MissingSecretKey, configure_secret_key

__all__ = ["MissingSecretKey", "create_app"]

DEFAULTS: dict[str, Any] = {
    "PERMANENT_SESSION_LIFETIME": timedelta(minutes=5),
    "SESSION_COOKIE_SAMESITE": "Lax",
    "STRONGBOX_DEVICE_HINTS": True,
    # The only form field is a short name; anything bigger is refused with 413.
    "MAX_CONTENT_LENGTH": 16 * 1024,
    "GENERATE_SECRET_KEY": False,
    # /healthz and /metrics (see monitoring.py), with STRONGBOX_METRICS.
    "MONITORING_ENDPOINTS": False,
}


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the app.

    Settings are read from :data:`DEFAULTS`, then ``FLASK_*`` environment
    variables (``FLASK_SECRET_KEY``, ``FLASK_PERMANENT_SESSION_LIFETIME`` in
    seconds, ``FLASK_STRONGBOX_STORE``, ...), then ``config``, which wins.
    Flask reads a ``PERMANENT_SESSION_LIFETIME`` given in seconds as a
    :class:`~datetime.timedelta` itself.

    :param config: settings for this app, e.g. in tests.
    :raises MissingSecretKey: no secret key is configured outside development.
    :raises flask_strongbox.ConfigurationError: Strongbox refuses the settings,
        e.g. a weak ``SECRET_KEY`` in production.
    """
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env()
    if "FLASK_SECRET_KEY" in os.environ:
        # from_prefixed_env() parses values as JSON; a key must stay the exact string.
        app.config["SECRET_KEY"] = os.environ["FLASK_SECRET_KEY"]
    if config is not None:
        app.config.from_mapping(config)
    configure_secret_key(app)
    if app.config["MONITORING_ENDPOINTS"]:
        app.config.setdefault("STRONGBOX_METRICS", True)

    strongbox.init_app(app)
    # First of the before-request hooks: a refused request never reaches the session.
    app.before_request(refuse_cross_site_requests)
    app.after_request(add_security_headers)
    app.register_blueprint(auth.bp)
    app.register_blueprint(account.bp)
    if app.config["MONITORING_ENDPOINTS"]:
        app.register_blueprint(monitoring.bp)
    app.add_url_rule("/", endpoint="index", view_func=index)
    app.register_error_handler(HTTPException, render_http_error)
    lifetime = describe_duration(app.permanent_session_lifetime)
    app.context_processor(lambda: {"session_lifetime": lifetime})
    app.add_template_filter(format_utc, "utc")
    # Keys the session layer would refuse (such as a weak SECRET_KEY outside
    # debug and testing) stop start-up instead of failing the first request.
    strongbox.check_config(app)
    return app


def index() -> str:
    """The home page."""
    return render_template("index.html")


def render_http_error(error: HTTPException) -> tuple[str, int, list[tuple[str, str]]]:
    """Show HTTP errors in the site layout, keeping headers such as ``Allow``
    and ``Retry-After``."""
    headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
    return render_template("error.html", error=error), error.code or 500, headers


def describe_duration(duration: timedelta) -> str:
    """``5 minutes``, ``1 hour``, ``90 seconds``: the session lifetime for people."""
    seconds = int(duration.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


def format_utc(moment: datetime) -> str:
    """``2025-01-31 14:05 UTC``: session times in one unambiguous zone."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
