"""Whether the session store answers, for readiness probes."""

from __future__ import annotations

from dataclasses import dataclass
from time import perf_counter

from .errors import StoreUnavailable, UnreadableRecord
from .stores.base import Store

#: The key the probe reads: a store key is an HMAC, so no session has it.
PROBE_KEY = "0" * 64


@dataclass(frozen=True)
class Health:
    """What :meth:`Strongbox.health() <flask_strongbox.Strongbox.health>` found.

    .. versionadded:: 0.2
    """

    #: Whether the store answered a read within ``STRONGBOX_STORE_TIMEOUT``.
    ok: bool
    #: The store's short name, such as ``"redis"``.
    store: str
    #: Seconds the read took (until it failed, for a store that did not answer).
    latency: float
    #: Why it is not ok, for the operator's log; ``None`` when ok. Names the
    #: store and never holds a password, an id or a key.
    error: str | None = None


def check(store: Store, now: float, timeout: float) -> Health:
    """Read one key that no session has from ``store`` and time it. An
    outage is an answer (``ok=False``), never an exception."""
    started = perf_counter()
    try:
        store.get(PROBE_KEY, now)
    except StoreUnavailable as exc:
        return Health(False, store.name, perf_counter() - started, str(exc))
    except UnreadableRecord:
        pass  # something odd is stored under the probe's key, but the store answered
    latency = perf_counter() - started
    if latency > timeout:
        slow = f"{store.name} store answered in {latency:.3f} s, above STRONGBOX_STORE_TIMEOUT={timeout:g}"
        return Health(False, store.name, latency, slow)
    return Health(True, store.name, latency)
