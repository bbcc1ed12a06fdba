"""Moving every Flask-Session record into Strongbox up front (``flask
sessions import``), for teams that want the old store out of the request
path. Framework-free: it runs the engine's own write path.

Each record read is written as a new Strongbox session (sealed, in the
per-user index, under today's lifetimes), and beside it a *pointer* under a
keyed hash of the record's old key: a tombstone that leads to the new session.
The old record is deleted last. On the user's next request, the Flask-Session
cookie finds the pointer (:mod:`~flask_strongbox.engine.markers`, read by
:mod:`~flask_strongbox.engine.adopt`), which is deleted as the browser is
given the new session's cookie, so a replayed cookie finds nothing.

Running it again is safe: moved records are gone from the old store, and a
record whose pointer exists already (a run stopped between the two steps) is
only deleted from the old store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from .. import ids
from ..engine.context import MARKERS, Context
from ..engine.core import Engine
from ..engine.markers import import_key, marker_key, pointer
from ..engine.session import LazySession
from .results import LegacyReader, LegacyRecord, Loaded, Missing, Refused

SOURCE = "flask-session"


@dataclass(frozen=True)
class ImportSummary:
    """The counts of one ``flask sessions import`` run.

    .. versionadded:: 0.2
    """

    moved: int
    already: int
    empty: int
    expired: int
    pickle: int
    malformed: int
    unstorable: int

    @classmethod
    def of(cls, counts: Counter[str]) -> ImportSummary:
        return cls(counts["moved"], counts["already"], counts["empty"], counts["expired"], counts["pickle"],
                   counts["malformed"], counts["unstorable"])


def import_records(
    engine: Engine, ctx: Context, reader: LegacyReader, batch_size: int = 200,
) -> Iterator[str]:
    """Move every record of ``reader``'s store; what happened to each, as
    it happens: ``moved``; ``already`` (by an earlier run, or on the fly);
    ``empty`` (nothing to keep: deleted); ``expired``; ``gone`` (deleted during
    the scan); or the :data:`~flask_strongbox.migrate.RefusalKind` it was
    refused for (the record is left where it is).

    :raises StoreUnavailable: either store cannot answer; what was moved
        stays moved, and a new run goes on from there.
    """
    for batch in reader.scan(ctx.now, batch_size):
        for record in batch:
            yield import_one(engine, ctx, reader, record)


def import_one(engine: Engine, ctx: Context, reader: LegacyReader, record: LegacyRecord) -> str:
    """Move one record read by a scan; what happened to it."""
    found = record.result
    if isinstance(found, Missing):
        return "expired" if found.expired else "gone"
    if isinstance(found, Refused):
        return found.kind
    assert isinstance(found, Loaded)
    store, keyset = engine.store, ctx.keyring.primary
    key = import_key(keyset, SOURCE, record.key)
    if store.get(key, ctx.now) is not None or store.get(marker_key(keyset, SOURCE, record.key), ctx.now):
        reader.delete_record(record.key)
        return "already"
    if found.data.keys() <= MARKERS:
        reader.delete_record(record.key)
        return "empty"
    session = LazySession()
    session.update(found.data)
    outcome = engine.save(ctx, session)
    assert outcome.cookie is not None  # a non-empty new session is always created
    sid = ids.unsign(ctx.keyring, outcome.cookie)
    assert sid is not None
    new_key = ids.store_key(keyset, sid[0])
    created = store.get(new_key, ctx.now)
    until = created.absolute_expires if created is not None else ctx.now
    if found.expires is not None:
        until = min(until, found.expires)
    if not store.create(pointer(ctx.keyring, key, record.key, sid[0], (ctx.now, until))):
        store.delete(new_key)  # a concurrent run moved it first
        return "already"
    reader.delete_record(record.key)
    return "moved"
