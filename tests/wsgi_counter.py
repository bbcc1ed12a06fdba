"""The app ``test_multiprocess`` serves with gunicorn: :func:`tests.apps.make_app`
on the store named by ``STRONGBOX_STORE``, signed with ``SECRET_KEY``.

    gunicorn -w 4 'tests.wsgi_counter:create_app()'
"""

from __future__ import annotations

import os

from flask import Flask

from .apps import make_app


def create_app() -> Flask:
    named = ("STRONGBOX_KEY_PREFIX", "STRONGBOX_TABLE")
    extra = {name: os.environ[name] for name in named if name in os.environ}
    return make_app(
        None,  # the store comes from STRONGBOX_STORE
        secret=os.environ["SECRET_KEY"],
        STRONGBOX_STORE=os.environ["STRONGBOX_STORE"],
        STRONGBOX_EXCLUSIVE=os.environ.get("STRONGBOX_EXCLUSIVE") == "1",
        TESTING=False,
        **extra,
    )
