"""The SQLite store's tables: the sessions table, its ``<table>_leases`` and
``<table>_meta`` tables, created on first use, and the upgrade of a 0.1 file.

Schema versions: 1 (0.1) has the sessions and meta tables; 2 adds the lease
table. Every statement is ``IF NOT EXISTS`` (or conditional), so processes
opening one file at once may all run them.
"""

from __future__ import annotations

import sqlite3

from .leases_sql import SQLITE

SCHEMA_VERSION = 2


def _ddl(t: str) -> list[str]:
    # The table name is checked to be an identifier (SQLiteStore's constructor).
    return [
        f"""CREATE TABLE IF NOT EXISTS {t} (
            key TEXT NOT NULL UNIQUE,
            blob BLOB NOT NULL,
            version INTEGER NOT NULL,
            created REAL NOT NULL,
            last_seen REAL NOT NULL,
            expires REAL NOT NULL,
            absolute_expires REAL NOT NULL,
            user TEXT,
            info BLOB
        )""",
        f"CREATE INDEX IF NOT EXISTS {t}_expires ON {t} (expires)",
        f"CREATE INDEX IF NOT EXISTS {t}_user ON {t} (user) WHERE user IS NOT NULL",
        SQLITE.naming(f"{t}_leases").create,
        f"CREATE TABLE IF NOT EXISTS {t}_meta (name TEXT PRIMARY KEY, value TEXT)",
        f"INSERT OR IGNORE INTO {t}_meta VALUES ('schema_version', '{SCHEMA_VERSION}')",  # noqa: S608
        # A version 1 file now has what version 2 needs.
        f"UPDATE {t}_meta SET value = '{SCHEMA_VERSION}' "  # noqa: S608
        f"WHERE name = 'schema_version' AND CAST(value AS INTEGER) < {SCHEMA_VERSION}",
    ]


class SchemaError(Exception):
    """A file this release cannot use as it is; the message is for the operator."""


def prepare(conn: sqlite3.Connection, table: str) -> None:
    """Create what is missing and bring the file to :data:`SCHEMA_VERSION`;
    rows already there are left alone. A file at that version is only read,
    so a read-only file can still be read.

    :raises SchemaError: for a newer file, or one that cannot be written.
    :raises sqlite3.Error: if the file cannot be read.
    """
    found = _version(conn, table)
    if found is not None and found > SCHEMA_VERSION:
        raise SchemaError(
            f"table {table} has schema version {found}, made by a newer flask-strongbox; "
            f"this one knows version {SCHEMA_VERSION}, upgrade it"
        )
    if found == SCHEMA_VERSION:
        return
    try:
        for statement in _ddl(table):
            conn.execute(statement)
    except sqlite3.Error as exc:
        upgrade = f" to add table {table}_leases (schema version {SCHEMA_VERSION})" if found else ""
        raise SchemaError(
            f"cannot write the file{upgrade}: {exc}; make it writable, or run "
            "`flask sessions init-db` as a user who can write it"
        ) from exc


def _version(conn: sqlite3.Connection, table: str) -> int | None:
    """The schema version the file says it holds; ``None`` for a new file
    (or one whose version cannot be read, which creating repairs)."""
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (f"{table}_meta",)
    ).fetchone()
    if found is None:
        return None
    row = conn.execute(
        f"SELECT value FROM {table}_meta WHERE name = 'schema_version'"  # noqa: S608 - an identifier
    ).fetchone()
    try:
        return int(row[0]) if row else None
    except (TypeError, ValueError):
        return None
