"""How each ``STRONGBOX_*`` value is checked, and normalized, on its own:
one small function per kind of value, each raising a
:class:`~flask_strongbox.errors.ConfigurationError` that names the setting
and what it must be.

The settings themselves, their defaults, and the checks that take several
settings together are in :mod:`flask_strongbox.settings`, whose
:meth:`Settings.from_config <flask_strongbox.settings.Settings.from_config>`
runs :func:`check` on every value it reads.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import Field
from datetime import datetime, timedelta
from typing import Any

from .errors import ConfigurationError
from .keys import fallbacks_of
from .stores.base import Store


def check(field: Field[Any], value: Any) -> Any:
    """``value``, checked (and normalized) for the setting whose field is
    ``field``: by the setting's own check if it has one, else by its type's
    (a duration, a flag), else as a positive number.

    :raises ConfigurationError: naming the setting and what it must be.
    """
    setting = f"STRONGBOX_{field.name.upper()}"
    found = _CHECKS.get(field.name) or _CHECKS_BY_KIND.get(field.type, _positive_number)
    return found(setting, value)


def _identity_keys(setting: str, value: Any) -> tuple[str, ...]:
    keys = (value,) if isinstance(value, str) else tuple(value)
    if not keys or not all(isinstance(k, str) and k for k in keys):
        raise ConfigurationError(f"{setting} must be a non-empty list of session keys")
    return keys


def _secret(setting: str, value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, (str, bytes)) or not value:
        raise ConfigurationError(f"{setting} must be a non-empty str or bytes key")
    return value


def _secret_fallbacks(setting: str, value: Any) -> tuple[str | bytes, ...]:
    keys = fallbacks_of(value, setting)
    for i, key in enumerate(keys):
        _secret(f"{setting}[{i}]", key)
    return keys


def _path(setting: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise ConfigurationError(f"{setting} must be a file path")
    return str(os.fspath(value))


def _clock(setting: str, value: Any) -> Any:
    if not callable(value):
        raise ConfigurationError(f"{setting} must be a callable returning Unix seconds")
    return value


def _store(setting: str, value: Any) -> Any:
    from .aio.base import AsyncStore  # for the async adapters

    if not isinstance(value, (str, Store, AsyncStore)):
        raise ConfigurationError(f"{setting} must be a URL string or a store object")
    return value


def _flag(setting: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{setting} must be True or False, not {value!r}")
    return value


def _name(setting: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{setting} must be a non-empty string")
    return value


def _header(setting: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or not all(c.isalnum() or c in "-_" for c in value):
        raise ConfigurationError(f"{setting} must be a header name such as 'Authorization', or None")
    return value


def _count(setting: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"{setting} must be a whole number, 0 or more, not {value!r}")
    return value


def _cap(setting: str, value: Any) -> Any:
    return None if value is None else _positive_number(setting, value)


def _duration(setting: str, value: Any) -> timedelta:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = timedelta(seconds=value)
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ConfigurationError(
            f"{setting} must be a positive timedelta or number of seconds, not {value!r}"
        )
    return value


def _positive_number(setting: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigurationError(f"{setting} must be a positive number, not {value!r}")
    return value


def _migrate_from(setting: str, value: Any) -> Any:
    if value not in (None, "flask-cookie", "flask-session"):
        raise ConfigurationError(f"{setting} must be 'flask-cookie' or 'flask-session', not {value!r}")
    return value


def _moment(setting: str, value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ConfigurationError(f"{setting} must be an ISO 8601 date and time, not {value!r}") from None
    if value is None:
        return None
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ConfigurationError(
            f"{setting} must be a timezone-aware datetime, such as "
            f"datetime(2030, 1, 31, tzinfo=timezone.utc), not {value!r}"
        )
    return value


def _optional_name(setting: str, value: Any) -> str | None:
    return None if value is None else _name(setting, value)


_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "identity_keys": _identity_keys, "clock": _clock, "store": _store,
    "key_prefix": _name, "table": _name, "max_sessions_per_user": _cap, "header": _header,
    "redis_cache": _count,
    "migrate_from": _migrate_from, "migrate_until": _moment, "migrate_store": _optional_name,
    "secret_key": _secret, "secret_key_fallbacks": _secret_fallbacks, "secret_key_file": _path,
}
# By a field's annotation as written: settings.py postpones annotations, so they are text.
_CHECKS_BY_KIND: dict[object, Callable[[str, Any], Any]] = {"timedelta": _duration, "bool": _flag}
