"""Versioned PostgreSQL schema migrations: numbered files in `schema/`, applied in order.

The store lives in the connection's current schema (the first on its search_path). The
`maytrain_schema` table marks it as a maytrain store and holds the last migration applied,
so a foreign or newer schema is refused, never reshaped. Each migration runs in its own
transaction (PostgreSQL's DDL is transactional) under an advisory lock, so two concurrent
`store init` runs apply it once. Migrations only add; nothing is dropped to make a schema fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from ..errors import StoreUnavailableError
from ..protocol import MigrationResult
from ..schema_files import Migration, check_schema_version, schema_files
from .connect import rollback

APPLICATION = "maytrain"
LOCK_KEY = 0x4D595452  # "MYTR"; the second key is the schema name's hash


@dataclass(frozen=True, slots=True)
class SchemaState:
    """What the current schema says about itself before any migration."""

    schema: str | None
    application: str | None
    schema_version: int
    object_count: int

    @property
    def is_empty(self) -> bool:
        """A schema that holds nothing yet (no tables, sequences, views or functions)."""
        return self.application is None and not self.object_count


def migrations() -> list[Migration]:
    """Every schema file shipped with the package, in order."""
    return schema_files(__package__)


LATEST = migrations()[-1].number


def read_state(conn: psycopg.Connection) -> SchemaState:
    """The current schema's marks and how many objects it holds."""
    # The catalogs are queried, not looked up by name (to_regclass): a name lookup may
    # answer from this session's cache, which misses a table another `init` just made.
    row = conn.execute(
        "SELECT n.nspname, (SELECT count(*) FROM pg_class WHERE relnamespace = n.oid) "
        "+ (SELECT count(*) FROM pg_proc WHERE pronamespace = n.oid), "
        "EXISTS (SELECT 1 FROM pg_class WHERE relnamespace = n.oid "
        "AND relname = 'maytrain_schema') "
        "FROM pg_namespace n WHERE n.nspname = current_schema()").fetchone()
    if row is None:
        return SchemaState(None, None, 0, 0)
    schema, count, marked = row
    if not marked:
        return SchemaState(schema, None, 0, count)
    application, version = conn.execute(
        "SELECT application, version FROM maytrain_schema WHERE id = 1").fetchone()
    return SchemaState(schema, application, version, count)


def check_usable(state: SchemaState, where: str, *, create: bool) -> None:
    """Refuse a schema that is not (or not yet, for a reader) a current maytrain store."""
    if state.schema is None:
        raise StoreUnavailableError(f"{where}: no schema on the search_path exists; create "
                                    "it (CREATE SCHEMA) or fix the URL's search_path")
    if state.is_empty:
        if create:
            return
        raise StoreUnavailableError(f"{where} holds no consent store (schema {state.schema} "
                                    "is empty): create one with `maytrain store init`")
    if state.application != APPLICATION:
        raise StoreUnavailableError(f"{where}: schema {state.schema} holds other tables but "
                                    "no maytrain consent store; it was left untouched")
    check_schema_version(state.schema_version, LATEST, str(where), create=create)


def migrate(conn: psycopg.Connection, where: str) -> MigrationResult:
    """Apply every pending migration, each in its own transaction."""
    before = read_state(conn)
    check_usable(before, where, create=True)
    for migration in migrations():
        if migration.number > before.schema_version:
            _apply(conn, migration)
    return MigrationResult(before.schema_version, read_state(conn).schema_version)


def _apply(conn: psycopg.Connection, migration: Migration) -> None:
    conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
    try:
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))",
                     (LOCK_KEY,))
        # Another `store init` may have applied it while we waited for the lock.
        if _applied(conn) < migration.number:
            conn.execute(migration.text)
            conn.execute("UPDATE maytrain_schema SET version = %s WHERE id = 1",
                         (migration.number,))
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def _applied(conn: psycopg.Connection) -> int:
    """The last migration applied, read inside the migration's lock."""
    state = read_state(conn)
    return state.schema_version if state.application == APPLICATION else 0
