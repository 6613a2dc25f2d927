"""Versioned SQLite schema migrations: numbered files in `schema/`, applied in order.

`PRAGMA user_version` holds the last migration applied and `PRAGMA application_id` marks
the file as a maytrain store, so a foreign or newer database is refused, never reshaped.
Migrations only add; nothing is ever dropped to make a schema fit.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ..errors import StoreUnavailableError
from ..protocol import MigrationResult
from ..schema_files import Migration, check_schema_version, schema_files

APPLICATION_ID = 0x4D595452  # "MYTR"


@dataclass(frozen=True, slots=True)
class SchemaState:
    """What a database file says about itself before any migration."""

    application_id: int
    schema_version: int
    object_count: int

    @property
    def is_empty(self) -> bool:
        """A new or zero-byte file: no schema objects, no marks."""
        return self.application_id == 0 and self.schema_version == 0 and not self.object_count


def migrations() -> list[Migration]:
    """Every schema file shipped with the package, in order."""
    return schema_files(__package__)


LATEST = migrations()[-1].number


def read_state(conn: sqlite3.Connection) -> SchemaState:
    """The file's marks; raises sqlite3.DatabaseError for a file that is not SQLite."""
    app = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    count = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    return SchemaState(app, version, count)


def check_usable(state: SchemaState, path: Path, *, create: bool) -> None:
    """Refuse a file that is not (or not yet, for a reader) a current maytrain store."""
    if state.is_empty:
        if create:
            return
        raise StoreUnavailableError(f"{path} holds no consent store (empty database): "
                                    "create one with `maytrain store init`")
    if state.application_id != APPLICATION_ID:
        raise StoreUnavailableError(f"{path} is an SQLite database but not a maytrain "
                                    "consent store; it was left untouched")
    check_schema_version(state.schema_version, LATEST, str(path), create=create)


def migrate(conn: sqlite3.Connection, path: Path) -> MigrationResult:
    """Apply every pending migration, each in its own write transaction."""
    before = read_state(conn)
    check_usable(before, path, create=True)
    if before.is_empty:
        conn.execute("PRAGMA journal_mode = WAL")
    for migration in migrations():
        if migration.number > before.schema_version:
            _apply(conn, migration)
    return MigrationResult(before.schema_version, read_state(conn).schema_version)


def _apply(conn: sqlite3.Connection, migration: Migration) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Another `store init` may have applied it while we waited for the lock.
        current = conn.execute("PRAGMA user_version").fetchone()[0]
        if current < migration.number:
            for statement in split_statements(migration.text):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {migration.number:d}")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID:d}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def split_statements(text: str) -> list[str]:
    """The SQL statements of a schema file (triggers kept whole), comments between dropped."""
    statements, pending = [], ""
    for line in text.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    leftover = [line for line in pending.splitlines() if line.strip()
                and not line.strip().startswith("--")]
    if leftover:
        raise ValueError(f"schema file ends inside a statement: {leftover[0]!r}")
    return statements
