"""Prometheus metrics for Strongbox (the ``metrics`` extra, on
``prometheus_client``).

Counters are fed by the lifecycle :mod:`~flask_strongbox.signals` each app
sends, and the store's counters and latency by a
:class:`~flask_strongbox.metered.MeteredStore` around the app's store. Every
label value comes from a small fixed set (an operation name, a rejection
reason), never from a session id, handle, user or key, so the series stay few
and the exposition holds nothing secret.

================================================  ===========================================
metric                                            counts
================================================  ===========================================
``strongbox_sessions_created_total``              sessions written for the first time
``strongbox_sessions_rotated_total``              new ids (login, ``regenerate()``, key move)
``strongbox_sessions_destroyed_total``            sessions emptied by the app (logouts)
``strongbox_sessions_revoked_total``              revoked by the API, the CLI or the per-user cap
``strongbox_sessions_expired_total``              signed cookies whose session no longer exists
``strongbox_sessions_rejected_total{reason}``     refused cookies and unreadable records
``strongbox_save_conflicts_total``                saves that could not merge and answered 503
``strongbox_store_errors_total{operation}``       store calls that raised ``StoreUnavailable``
``strongbox_store_latency_seconds{operation}``    a histogram of store call durations
================================================  ===========================================
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping

from blinker import NamedSignal
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from . import signals
from .metered import OPERATIONS, Operation

#: The ``reason`` label of ``strongbox_sessions_rejected_total``, by the
#: reason the engine gives; any other reason is counted as ``"other"``.
REJECTION_REASONS: Mapping[str, str] = {
    "bad cookie": "bad_cookie",
    "duplicate cookie": "duplicate_cookie",
    "unreadable record": "unreadable_record",
}
#: Store latency buckets, in seconds: from an in-memory call (tens of
#: microseconds) to a network store's timeout.
LATENCY_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0)

_LIFECYCLE = {
    "created": (signals.session_created, "Sessions written for the first time."),
    "rotated": (signals.session_rotated, "Sessions given a new id (login, regenerate, key rotation)."),
    "destroyed": (signals.session_destroyed, "Sessions the app emptied, such as logouts."),
    "revoked": (signals.session_revoked, "Sessions revoked through the API, the CLI or the per-user cap."),
    "expired": (signals.session_expired, "Validly signed cookies whose session no longer exists."),
}


class _Count:
    """A signal receiver that adds one to a counter."""

    __slots__ = ("__weakref__", "counter")

    def __init__(self, counter: Counter) -> None:
        self.counter = counter

    def __call__(self, _sender: object, **_kwargs: object) -> None:
        self.counter.inc()


class _CountByReason:
    """A receiver that adds one to the rejection counter of the signal's reason."""

    __slots__ = ("__weakref__", "by_reason", "other")

    def __init__(self, family: Counter) -> None:
        self.by_reason = {reason: family.labels(label) for reason, label in REJECTION_REASONS.items()}
        self.other = family.labels("other")

    def __call__(self, _sender: object, *, reason: object = None, **_kwargs: object) -> None:
        (self.by_reason.get(reason, self.other) if isinstance(reason, str) else self.other).inc()


class StrongboxMetrics:
    """Strongbox's metrics on one registry; :func:`metrics_for` gives the one
    of a registry. A :class:`~flask_strongbox.metered.Meter` for the store
    wrapper, and the signal receivers :meth:`connect` subscribes per app.

    Apps that share a registry add up into the same series.

    :param registry: where the metrics are registered.

    .. versionadded:: 0.2
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.sessions = {
            event: Counter(f"strongbox_sessions_{event}", doc, registry=registry)
            for event, (_, doc) in _LIFECYCLE.items()
        }
        self.rejected = Counter("strongbox_sessions_rejected", "Refused cookies and unreadable records.",
                                ["reason"], registry=registry)
        self.conflicts = Counter("strongbox_save_conflicts",
                                 "Saves that could not merge concurrent changes and answered 503.",
                                 registry=registry)
        self.store_errors = Counter("strongbox_store_errors",
                                    "Store calls that failed with StoreUnavailable.", ["operation"],
                                    registry=registry)
        self.store_latency = Histogram("strongbox_store_latency_seconds", "Store call durations.",
                                       ["operation"], buckets=LATENCY_BUCKETS, registry=registry)
        # Children resolved once, not on every call. Every error series starts
        # at 0, so a rate over them is defined; latencies appear once used.
        self._errors = {op: self.store_errors.labels(op) for op in OPERATIONS}
        self._latency: dict[Operation, Histogram] = {}
        for reason in (*REJECTION_REASONS.values(), "other"):
            self.rejected.labels(reason)
        # Held here, connected weakly: they live as long as these metrics.
        self._receivers: list[tuple[NamedSignal, _Count | _CountByReason]] = [
            *((signal, _Count(self.sessions[event])) for event, (signal, _) in _LIFECYCLE.items()),
            (signals.session_rejected, _CountByReason(self.rejected)),
            (signals.session_conflict, _Count(self.conflicts)),
        ]

    def connect(self, app: object) -> None:
        """Count the lifecycle signals ``app`` sends. Connecting one app
        twice counts its signals once."""
        for signal, receiver in self._receivers:
            signal.connect(receiver, sender=app)

    def observe(self, operation: Operation, seconds: float, failed: bool) -> None:
        """Record one store call (the :class:`~flask_strongbox.metered.Meter` method)."""
        child = self._latency.get(operation)
        if child is None:
            child = self._latency[operation] = self.store_latency.labels(operation)
        child.observe(seconds)
        if failed:
            self._errors[operation].inc()


_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, StrongboxMetrics] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def metrics_for(registry: CollectorRegistry | None = None) -> StrongboxMetrics:
    """Strongbox's metrics on ``registry`` (``prometheus_client``'s default
    registry if ``None``), registered there on first use."""
    registry = REGISTRY if registry is None else registry
    with _lock:
        found = _by_registry.get(registry)
        if found is None:
            found = _by_registry[registry] = StrongboxMetrics(registry)
        return found
