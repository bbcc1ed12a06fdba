"""What reading one legacy session gives: its data, a refusal, or nothing.

A reader never raises for what it finds in a cookie or a record; it answers
with one of three small values, so the caller can count and log each case
without ever seeing the data in a ``repr`` or a log line. Only an old store
that cannot answer raises (:class:`~flask_strongbox.StoreUnavailable`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

#: Why a record was refused: written with pickle (never loaded), not a session
#: in a format we read, or holding a value Strongbox cannot store.
RefusalKind = Literal["pickle", "malformed", "unstorable"]


@dataclass(frozen=True, slots=True)
class Loaded:
    """A legacy session, read.

    :param data: the session dict, with the types the legacy system itself
        would have loaded (never shown in ``repr``).
    :param expires: when the legacy system would have dropped it, in Unix
        seconds; ``None`` if it kept it forever.
    """

    data: dict[str, Any] = field(repr=False)
    expires: float | None


@dataclass(frozen=True, slots=True)
class Refused:
    """A legacy record that exists but is not migrated.

    :param kind: the class of cause, for counting.
    :param reason: a short, log-safe cause (it never holds data or an id).
    """

    kind: RefusalKind
    reason: str


@dataclass(frozen=True, slots=True)
class Missing:
    """No such record, or one whose lifetime is over.

    :param expired: ``True`` if a record was found but had expired.
    """

    expired: bool = False


LegacyResult = Loaded | Refused | Missing


@dataclass(frozen=True, slots=True)
class LegacyRecord:
    """One record found by :meth:`LegacyReader.scan`.

    :param key: the record's key in the old store (it embeds the session id,
        so it is never shown in ``repr`` and must not be logged).
    :param result: what reading it gave.
    """

    key: str = field(repr=False)
    result: LegacyResult


class LegacyReader(Protocol):
    """Reads one old Flask-Session store. Times are Unix seconds passed in by
    the caller; a reader never reads a clock, and never changes a record
    except through :meth:`delete` and :meth:`delete_record`.
    """

    #: A short name for logs, such as ``"flask-session redis"``.
    name: str

    def record_key(self, sid: str) -> str:
        """The key the old store files session ``sid`` under."""

    def load(self, sid: str, now: float) -> LegacyResult:
        """Read the record of session ``sid`` as it stands at ``now``."""

    def delete(self, sid: str) -> bool:
        """Remove the record of session ``sid``; ``True`` if there was one.
        Of concurrent deletes of one record, exactly one returns ``True``."""

    def delete_record(self, key: str) -> bool:
        """Remove the record under ``key`` (from :meth:`record_key` or a
        scan), as :meth:`delete` does."""

    def scan(self, now: float, batch_size: int = 500) -> Iterator[list[LegacyRecord]]:
        """Every record in the store, read at ``now``, in batches of at most
        ``batch_size``. A record changed or deleted during the scan may be
        missed or seen twice (the second time as :class:`Missing`)."""

    def close(self) -> None:
        """Release connections. The reader may be used again afterwards."""


def take(reader: LegacyReader, sid: str, now: float) -> LegacyResult:
    """Load the record of session ``sid`` and, if it was read, delete it: the
    one step of an on-the-fly migration. Of concurrent takes of one record
    exactly one gets it as :class:`Loaded`; the others get :class:`Missing`,
    so a cookie sent by two requests at once is migrated once. A refused
    record is left where it is.
    """
    result = reader.load(sid, now)
    if isinstance(result, Loaded) and not reader.delete(sid):
        return Missing()
    return result
