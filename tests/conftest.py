"""Fixtures shared by the whole suite.

``store`` runs a test once per store. Memory and SQLite need nothing; Redis and
PostgreSQL use the machine's servers (or throwaway ones), see ``services.py``.
Under ``CI=true`` a missing server fails the run instead of skipping.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flask_strongbox.stores.base import Store

from .doubles import FakeClock
from .hostile import Target, make_target
from .log_guard import no_secrets_in_logs  # noqa: F401 - autouse: no test may log a secret
from .services import STORES, make_store


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from make_store(request.param, tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module", params=STORES)
def shared_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One store per test module and store kind: each test has its own app and
    sessions in it, and counts records relative to where it started."""
    yield from make_store(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture
def target(shared_store: Store) -> Target:
    """A fresh hostile-input app on the module's shared store."""
    return make_target(shared_store)
