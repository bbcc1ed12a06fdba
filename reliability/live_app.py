"""The app ``./dev prove`` serves with gunicorn: the simulator's pages
(:mod:`reliability.sim.views`) as routes, on the store ``STRONGBOX_STORE``
names, with a clock the prover moves through a file.

    gunicorn 'reliability.live_app:create_app()'

``GET /op/<operation>?key=K&value=V[&exclusive=1][&permanent=1]`` answers
``{"seen": <the session as loaded>}``. A 503 says in ``X-Outcome`` whether
nothing happened (``conflict``: a refused merge, a busy lease, a failed load)
or the store failed during the save (``unknown``: a write may have landed).
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, jsonify, request, session

from flask_strongbox import SaveConflict, SessionBusy, StoreUnavailable, Strongbox
from flask_strongbox.session import StrongboxSession

from .sim.plan import Spec
from .sim.views import VIEWS


def _clock_at(path: Path) -> float:
    try:
        return time.time() + float(path.read_text() or 0)
    except (OSError, ValueError):
        return time.time()


def create_app() -> Flask:
    app = Flask(__name__)
    app.secret_key = os.environ["SECRET_KEY"]
    app.config.update(
        STRONGBOX_STORE=os.environ["STRONGBOX_STORE"], STRONGBOX_STORE_TIMEOUT=0.5,
        STRONGBOX_EXCLUSIVE_WAIT=1.0, STRONGBOX_EXCLUSIVE_LEASE=3.0, STRONGBOX_RETRY_AFTER=1,
        **{name: os.environ[name] for name in ("STRONGBOX_TABLE", "STRONGBOX_KEY_PREFIX")
           if name in os.environ},
    )
    clock_file = Path(os.environ["STRONGBOX_LIVE_CLOCK"])
    box = Strongbox(app, clock=lambda: _clock_at(clock_file))

    @app.route("/op/<op>")
    def page(op: str) -> Any:
        if request.args.get("exclusive"):
            box.exclusive()
        assert isinstance(session, StrongboxSession)
        seen = copy.deepcopy(session.data)  # what the page could show, read without noting reads
        spec = Spec(0, 0, op, request.args.get("key"), request.args.get("value"), 0.0)
        VIEWS[op](session, spec, bool(request.args.get("permanent")))
        g.viewed = True
        return jsonify(seen=seen)

    @app.route("/admin/revoke")
    def revoke() -> Any:
        assert isinstance(session, StrongboxSession)
        handle = session.handle
        session.failed = True  # the operator's request saves nothing of its own
        return jsonify(revoked=handle is not None and box.revoke(handle))

    @app.route("/admin/revoke_user/<name>")
    def revoke_user(name: str) -> Any:
        return jsonify(revoked=box.revoke_user(name))

    @app.route("/health")
    def health() -> str:
        return "ok"

    @app.errorhandler(StoreUnavailable)
    def unavailable(exc: StoreUnavailable) -> Response:
        definite = isinstance(exc, (SaveConflict, SessionBusy)) or not g.get("viewed")
        response = jsonify(error=type(exc).__name__)
        response.status_code = 503
        response.headers["Retry-After"] = str(exc.retry_after)
        response.headers["X-Outcome"] = "conflict" if definite else "unknown"
        return response

    return app
