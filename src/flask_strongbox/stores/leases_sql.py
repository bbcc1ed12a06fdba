"""Leases in SQL: a ``<table>_leases`` table beside the sessions table, and
one statement each to take, release and purge a lease, for SQLite and
PostgreSQL.

A lease is a row (key, token, until), kept apart from the session's record.
Taking one is an upsert: it inserts the row, or takes over the row there only
if that row is the caller's own (a renewal) or is not held at ``now``: it
ended (``until <= now``) or cannot be read (an end that is not a finite
number, a token that is not text). Two takers of one key meet on its primary
key, and the second one's condition sees the first one's row, so exactly one
wins. Releasing deletes the row only while it holds the caller's token, so a
holder whose lease ran out and was taken over matches nothing.
"""

from __future__ import annotations

from typing import NamedTuple


class LeaseSQL(NamedTuple):
    """One dialect's statements, with ``{leases}`` for the lease table and
    ``{held}`` for :attr:`held`."""

    #: Whether the row ``held`` is a lease held at now (one parameter: now).
    held: str
    #: Creates the table if it is missing.
    create: str
    #: Takes or renews a lease; parameters key, token, until, now. One row
    #: changed means taken.
    lock: str
    #: Releases a lease; parameters key, token. One row changed means released.
    unlock: str
    #: Removes leases not held at now; parameters now, limit.
    purge: str

    def naming(self, leases: str) -> LeaseSQL:
        """The statements, for the lease table ``leases``."""
        return LeaseSQL(*(part.format(leases=leases, held=self.held) for part in self))


SQLITE = LeaseSQL(
    # SQLite types values, not columns: a row written by hand may hold text or
    # a blob in any column. 9e999 reads as +infinity, a lease that never ends.
    held="coalesce(typeof(held.token) = 'text' AND typeof(held.until) IN ('integer', 'real') "
         "AND held.until > ? AND held.until < 9e999, 0)",
    # Without rowid: the key is the table's only b-tree, one fewer to write per lease.
    create="CREATE TABLE IF NOT EXISTS {leases} ("
           "key TEXT PRIMARY KEY, token TEXT NOT NULL, until REAL NOT NULL) WITHOUT ROWID",
    lock="INSERT INTO {leases} AS held (key, token, until) VALUES (?, ?, ?) "
         "ON CONFLICT (key) DO UPDATE SET token = excluded.token, until = excluded.until "
         "WHERE held.token = excluded.token OR NOT {held}",
    unlock="DELETE FROM {leases} WHERE key = ? AND token = ?",
    # No index on until: the table holds only the leases held now and those
    # their holders never released, a few rows to scan.
    purge="DELETE FROM {leases} WHERE key IN "
          "(SELECT key FROM {leases} AS held WHERE NOT {held} LIMIT ?)",
)

POSTGRES = LeaseSQL(
    # Typed columns leave NaN (which sorts above every number) and infinity as
    # the only ends that cannot be read.
    held="(held.until > %s AND held.until < 'Infinity')",
    create='CREATE TABLE IF NOT EXISTS {leases} (key text COLLATE "C" PRIMARY KEY, '
           "token text NOT NULL, until double precision NOT NULL)",
    lock="INSERT INTO {leases} AS held (key, token, until) VALUES (%s, %s, %s) "
         "ON CONFLICT (key) DO UPDATE SET token = EXCLUDED.token, until = EXCLUDED.until "
         "WHERE held.token = EXCLUDED.token OR NOT {held}",
    unlock="DELETE FROM {leases} WHERE key = %s AND token = %s",
    # Rows a taker has locked are skipped, not waited for, as the records' purge does.
    purge="DELETE FROM {leases} WHERE key IN (SELECT key FROM {leases} AS held "
          "WHERE NOT {held} LIMIT %s FOR UPDATE SKIP LOCKED)",
)
