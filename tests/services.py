"""Real servers for the tests: the machine's own, or throwaway ones.

Redis and PostgreSQL are reached on 127.0.0.1 (6379 and 5432). Where one is
missing, a throwaway server is started from the binary on PATH; where neither
works the test is skipped with the reason, except under ``CI=true``, where a
missing service is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from flask_strongbox.stores.base import Store


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)")
    pytest.skip(reason)


def redis_store() -> Iterator[Store]:
    unavailable("the Redis store is not built yet")
    yield  # type: ignore[misc]


def postgres_store() -> Iterator[Store]:
    unavailable("the PostgreSQL store is not built yet")
    yield  # type: ignore[misc]
