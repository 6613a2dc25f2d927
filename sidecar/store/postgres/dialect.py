"""How PostgreSQL spells the shared SQL layer, and how it marks a schema as a maytrain store.

The store lives in the connection's current schema (the first on its search_path). The
`maytrain_schema` table marks it as a maytrain store and holds the last migration applied,
so a foreign or newer schema is refused, never reshaped. Each migration runs in its own
transaction (PostgreSQL's DDL is transactional) under an advisory lock, so two concurrent
`store init` runs apply it once.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ..sql.dialect import SqlDialect
from ..sql.migrations import Migration, Refusals, SchemaState, schema_files
from .connect import rollback

APPLICATION = "maytrain"
LOCK_KEY = 0x4D595452  # "MYTR"; the second key is the schema name's hash


def named_rows(conn: psycopg.Connection, query: str,
               params: Sequence[Any]) -> psycopg.Cursor[dict[str, Any]]:
    """A cursor over the query's rows, each a dict by column name."""
    return conn.cursor(row_factory=dict_row).execute(query, params)


_CURSORS = itertools.count()
STREAMED = 10_000
"""Rows a server-side cursor fetches at a time."""


def value_rows(conn: psycopg.Connection, query: str, params: Sequence[Any]) -> Iterator[tuple]:
    """The query's rows as tuples through a server-side cursor, a batch at a time (a client
    cursor would hold the whole result); the caller reads it inside one transaction, and
    closes it (or reads it to the end) before that ends."""
    with conn.cursor(name=f"maytrain_rows_{next(_CURSORS)}") as cursor:
        cursor.itersize = STREAMED
        cursor.execute(query, params)
        yield from cursor


# READ COMMITTED whatever the server's default (see sql.versions); seq keeps insertion
# order, as SQLite's rowid does; ids are matched against one array per 10,000.
POSTGRES = SqlDialect(param="%s", same="IS NOT DISTINCT FROM", order="seq",
                      begin_write="BEGIN ISOLATION LEVEL READ COMMITTED, READ WRITE",
                      arrays=True, id_batch=10_000, greatest="greatest",
                      named_rows=named_rows, value_rows=value_rows,
                      by_owner="account_id, user_id, seq")


class PostgresSchema:
    """The schema marks of a PostgreSQL store (the maytrain_schema table)."""

    refusals = Refusals(
        missing="{where}: no schema on the search_path exists; create it (CREATE SCHEMA) or "
                "fix the URL's search_path",
        empty="{where} holds no consent store (schema {name} is empty): create one with "
              "`maytrain store init`",
        foreign="{where}: schema {name} holds other tables but no maytrain consent store; it "
                "was left untouched")
    dialect = POSTGRES

    def migrations(self) -> list[Migration]:
        """Every schema file shipped with the backend, in order."""
        return list(schema_files(__package__))

    def read_state(self, conn: psycopg.Connection) -> SchemaState:
        """The current schema's marks and whether it holds anything."""
        # The catalogs are queried, not looked up by name (to_regclass): a name lookup may
        # answer from this session's cache, which misses a table another `init` just made.
        row = conn.execute(
            "SELECT n.nspname, (SELECT count(*) FROM pg_class WHERE relnamespace = n.oid) "
            "+ (SELECT count(*) FROM pg_proc WHERE pronamespace = n.oid), "
            "EXISTS (SELECT 1 FROM pg_class WHERE relnamespace = n.oid "
            "AND relname = 'maytrain_schema') "
            "FROM pg_namespace n WHERE n.nspname = current_schema()").fetchone()
        if row is None:
            return SchemaState(0, is_empty=True, is_ours=False, exists=False)
        schema, count, marked = row
        application, version = None, 0
        if marked:
            application, version = conn.execute(
                "SELECT application, version FROM maytrain_schema WHERE id = 1").fetchone()
        return SchemaState(version, is_empty=application is None and not count,
                           is_ours=application == APPLICATION, name=schema)

    def prepare(self, conn: psycopg.Connection, state: SchemaState) -> None:
        """Nothing: a new schema needs no settings."""

    def lock(self, conn: psycopg.Connection) -> None:
        """Begin, and take the advisory lock of this schema's migrations."""
        conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))",
                     (LOCK_KEY,))

    def applied(self, conn: psycopg.Connection) -> int:
        """The last migration applied (0 while the schema holds no marks)."""
        state = self.read_state(conn)
        return state.schema_version if state.is_ours else 0

    def run(self, conn: psycopg.Connection, text: str) -> None:
        """Run the statements (one multi-statement string; nothing for comments only)."""
        if any(line.strip() and not line.strip().startswith("--")
               for line in text.splitlines()):
            conn.execute(text)

    def mark(self, conn: psycopg.Connection, number: int) -> None:
        """Record schema version `number` in the maytrain_schema table."""
        conn.execute("UPDATE maytrain_schema SET version = %s WHERE id = 1", (number,))

    def rollback(self, conn: psycopg.Connection) -> None:
        """End the failed migration's transaction."""
        rollback(conn)


SCHEMA = PostgresSchema()
