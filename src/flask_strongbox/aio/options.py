"""The ``STRONGBOX_*`` settings as keyword arguments, typed: what
``StrongboxMiddleware(..., idle_timeout=1800)`` takes, so a type checker
catches a misspelt or mistyped setting (a test keeps it in step with
:class:`~flask_strongbox.Settings`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypedDict

Duration = timedelta | float


class SettingsOptions(TypedDict, total=False):
    """Every :class:`~flask_strongbox.Settings` field but ``store`` and the
    migration settings (Flask apps only), under its own name, with what its
    check accepts."""

    absolute_lifetime: Duration
    idle_timeout: Duration
    touch_interval: Duration
    identity_keys: tuple[str, ...] | list[str] | str
    max_sessions_per_user: int | None
    device_hints: bool
    max_size: int
    save_attempts: int
    exclusive: bool
    exclusive_wait: Duration
    exclusive_lease: Duration
    key_prefix: str
    table: str
    store_timeout: float
    purge_interval: Duration
    purge_batch: int
    retry_after: int
    clock: Callable[[], float]
    metrics: bool
    header: str | None
