"""The PostgreSQL store's tables: where they are, the SQL naming them, and
creating them once, safely beside other processes doing the same.

Schema versions: 1 (0.1) has the sessions and ``<table>_meta`` tables; 2 adds
``<table>_leases``. Creating brings a version 1 database to version 2.
"""

from __future__ import annotations

import math
import re
from typing import Any

import psycopg
from psycopg import sql

from .leases_sql import POSTGRES

SCHEMA_VERSION = 2
#: The lease statements; ``{leases}`` is left for :meth:`Layout.sql` to quote.
LEASES = POSTGRES.naming("{leases}")
Connection = psycopg.Connection[tuple[Any, ...]]
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COLUMNS = 'key, blob, version, created, last_seen, expires, absolute_expires, "user", info'

_DDL = (
    """CREATE TABLE IF NOT EXISTS {t} (
        key text COLLATE "C" PRIMARY KEY,
        blob bytea NOT NULL,
        version bigint NOT NULL,
        created double precision NOT NULL,
        last_seen double precision NOT NULL,
        expires double precision NOT NULL,
        absolute_expires double precision NOT NULL,
        "user" text,
        info bytea
    )""",
    "CREATE INDEX IF NOT EXISTS {expires_index} ON {t} (expires)",
    'CREATE INDEX IF NOT EXISTS {user_index} ON {t} ("user") WHERE "user" IS NOT NULL',
    LEASES.create,
    "CREATE TABLE IF NOT EXISTS {meta} (name text PRIMARY KEY, value text NOT NULL)",
)


class Layout:
    """The records table ``table`` (in ``schema``, or wherever ``search_path``
    finds it), its ``<table>_leases`` table and its ``<table>_meta`` table
    holding the schema version.

    :raises ValueError: if a name is not letters, digits and underscores.
    """

    def __init__(self, table: str, schema: str | None) -> None:
        # 50 leaves room for "<table>_expires" and "<table>_leases_pkey" in 63 bytes.
        _check_name("table", table, 50)
        if schema is not None:
            _check_name("schema", schema, 63)
        self.table, self.schema = table, schema
        self.qualified = f"{schema}.{table}" if schema else table

    def sql(self, template: str) -> sql.Composed:
        """``template`` with ``{columns}``, ``{t}``, ``{leases}``, ``{meta}``
        and the index names filled in, quoted as identifiers."""
        return sql.SQL(template).format(
            columns=sql.SQL(_COLUMNS),
            t=sql.Identifier(*filter(None, (self.schema, self.table))),
            leases=self.identifier("leases"),
            meta=self.identifier("meta"),
            expires_index=sql.Identifier(f"{self.table}_expires"),
            user_index=sql.Identifier(f"{self.table}_user"),
        )

    def identifier(self, suffix: str) -> psycopg.sql.Identifier:
        """The table ``<table>_<suffix>``, beside the records table."""
        return sql.Identifier(*filter(None, (self.schema, f"{self.table}_{suffix}")))

    def version(self, conn: Connection) -> int | None:
        """The schema version the tables hold; ``None`` if they are missing."""
        # Read-only when all is in place, so the app's database user needs
        # no CREATE privilege once `init-db` has run.
        names = [self.sql(n).as_string(conn) for n in ("{t}", "{meta}")]
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL",
                              names).fetchone()
        if not exists or not exists[0]:
            return None
        row = conn.execute(
            self.sql("SELECT value FROM {meta} WHERE name = 'schema_version'")).fetchone()
        return int(row[0]) if row else None

    def create(self, conn: Connection, seconds: float) -> None:
        """Create the schema, tables and indexes that are missing, in one
        transaction whose every statement and lock wait takes ``seconds`` at most."""
        with conn.transaction():
            limit = f"{math.ceil(seconds * 1000)}ms"
            conn.execute("SELECT set_config('statement_timeout', %s, true), "
                         "set_config('lock_timeout', %s, true)", [limit, limit])
            # One creator at a time across processes: concurrent CREATE ... IF
            # NOT EXISTS can still collide in the catalogs.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [self.qualified])
            if self.schema:
                found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [self.schema])
                if not found.fetchone():
                    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema)))
            for statement in _DDL:
                conn.execute(self.sql(statement))
            conn.execute(self.sql(
                "INSERT INTO {meta} AS found (name, value) VALUES ('schema_version', %s) "
                "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value "
                "WHERE found.value::int < %s"), [str(SCHEMA_VERSION), SCHEMA_VERSION])

    def missing_leases(self) -> str:
        """What to do about a version 1 table whose user could not add leases."""
        table = self.qualified
        return (
            f"table {table} has schema version 1 and no {table}_leases table, which exclusive "
            "sessions need, and this database user may not create it; run `flask sessions "
            f"init-db` as the table's owner, then grant SELECT, INSERT, UPDATE, DELETE ON "
            f"{table}_leases to the app's user"
        )

    def has_leases(self, conn: Connection) -> bool:
        """Whether the lease table exists (a version 1 database lacks it)."""
        name = self.sql("{leases}").as_string(conn)
        found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [name]).fetchone()
        return bool(found and found[0])


def _check_name(what: str, name: str, max_length: int) -> None:
    if not _IDENTIFIER.fullmatch(name) or len(name) > max_length:
        raise ValueError(
            f"PostgreSQL {what} name {name!r} must be at most {max_length} letters, digits "
            "and underscores, not starting with a digit"
        )
