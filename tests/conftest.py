"""Fixtures shared by the whole suite.

``store`` runs a test once per store. Memory and SQLite need nothing; Redis and
PostgreSQL use the machine's servers (or throwaway ones), see ``services.py``.
Under ``CI=true`` a missing server fails the run instead of skipping.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from flask_strongbox import Settings
from flask_strongbox.stores.base import Store
from flask_strongbox.testing import Clock

from .log_guard import no_secrets_in_logs  # noqa: F401 - autouse: no test may log a secret
from .services import STORES, make_store

if TYPE_CHECKING:
    from .hostile import Target

#: The suite's one ``SECRET_KEY``, and the one it was rotated from (for tests
#: of ``SECRET_KEY_FALLBACKS``). Test-only values: never used anywhere else.
SECRET = "Wq7vN2kR9xLp4TzB8mYc3HsJ6dFg1AeU0oQi5rEt"
OLD_SECRET = "Zk4Jm8Pw2Qs6Vx0Ty3Nb7Lc1Hd5Rf9Ga2Ue6Io8"
#: Every setting's default: tests that pin a default read it from here by
#: name (``DEFAULTS.idle_timeout``), never as a number of their own.
DEFAULTS = Settings()


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from make_store(request.param, tmp_path)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module", params=STORES)
def shared_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One store per test module and store kind: each test has its own app and
    sessions in it, and counts records relative to where it started."""
    yield from make_store(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture
def target(shared_store: Store) -> Target:
    """A fresh hostile-input app on the module's shared store."""
    from .hostile import make_target  # here, not above: hostile imports SECRET from this module

    return make_target(shared_store)
