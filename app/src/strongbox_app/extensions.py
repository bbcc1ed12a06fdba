"""The Strongbox extension instance, bound to an app by :func:`~strongbox_app.create_app`."""

from __future__ import annotations

from flask_strongbox import Strongbox

strongbox = Strongbox()
