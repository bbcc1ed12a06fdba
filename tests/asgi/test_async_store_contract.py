"""The store contract suite, run again for the async stores (memory,
SQLite in a thread pool, Redis on redis.asyncio, PostgreSQL on psycopg's
async pool), each behind a thin blocking bridge: one suite, both forms.

The ``store`` fixture below replaces conftest's for the tests imported here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..test_store_contract import *  # noqa: F403 - the one contract suite, collected again
from ..test_store_scan import *  # noqa: F403
from .bridge import ASYNC_STORES, SyncBridge, bridged


@pytest.fixture(params=ASYNC_STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SyncBridge]:
    yield from bridged(request.param, tmp_path)
