"""How SQLite spells the shared SQL layer, and how it marks a file as a maytrain store.

`PRAGMA user_version` holds the last migration applied and `PRAGMA application_id` marks
the file as a maytrain store, so a foreign or newer database is refused, never reshaped.
A migration runs under BEGIN IMMEDIATE (SQLite's write lock), so concurrent inits apply
it once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from ..sql.dialect import SqlDialect
from ..sql.migrations import Migration, Refusals, SchemaState, schema_files

APPLICATION_ID = 0x4D595452  # "MYTR"


def named_rows(conn: sqlite3.Connection, query: str, params: Sequence[Any]) -> sqlite3.Cursor:
    """A cursor over the query's rows, each readable by column name."""
    cursor = conn.cursor()
    cursor.row_factory = sqlite3.Row
    return cursor.execute(query, params)


def value_rows(conn: sqlite3.Connection, query: str, params: Sequence[Any]) -> sqlite3.Cursor:
    """A cursor over the query's rows as tuples; SQLite steps through them as they are read."""
    cursor = conn.cursor()
    cursor.row_factory = None
    return cursor.execute(query, params)


# BEGIN IMMEDIATE takes the write lock first; rowid keeps insertion order (and ends
# every index's key, so the owner index is in by_owner's order); 500 ids per IN (...)
# stays well under SQLite's variable limit.
SQLITE = SqlDialect(param="?", same="IS", order="rowid", begin_write="BEGIN IMMEDIATE",
                    arrays=False, id_batch=500, greatest="max", named_rows=named_rows,
                    value_rows=value_rows, by_owner="account_id, user_id, rowid")


class SqliteSchema:
    """The schema marks of an SQLite store file (PRAGMA user_version, application_id)."""

    refusals = Refusals(
        empty="{where} holds no consent store (empty database): create one with "
              "`maytrain store init`",
        foreign="{where} is an SQLite database but not a maytrain consent store; it was "
                "left untouched")
    dialect = SQLITE

    def migrations(self) -> list[Migration]:
        """Every schema file shipped with the backend, in order."""
        return list(schema_files(__package__))

    def read_state(self, conn: sqlite3.Connection) -> SchemaState:
        """The file's marks; raises sqlite3.DatabaseError for a file that is not SQLite."""
        app = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        count = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        return SchemaState(version, is_empty=app == 0 and version == 0 and not count,
                           is_ours=app == APPLICATION_ID)

    def prepare(self, conn: sqlite3.Connection, state: SchemaState) -> None:
        """A new store file is put in WAL mode (readers never block the writer)."""
        if state.is_empty:
            conn.execute("PRAGMA journal_mode = WAL")

    def lock(self, conn: sqlite3.Connection) -> None:
        """Take the write lock for the migration."""
        conn.execute("BEGIN IMMEDIATE")

    def applied(self, conn: sqlite3.Connection) -> int:
        """The last migration applied."""
        return conn.execute("PRAGMA user_version").fetchone()[0]

    def run(self, conn: sqlite3.Connection, text: str) -> None:
        """Run the statements one by one."""
        for statement in split_statements(text):
            conn.execute(statement)

    def mark(self, conn: sqlite3.Connection, number: int) -> None:
        """Mark the file as a maytrain store at schema version `number`."""
        conn.execute(f"PRAGMA user_version = {number:d}")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID:d}")

    def rollback(self, conn: sqlite3.Connection) -> None:
        """Undo the failed migration."""
        conn.execute("ROLLBACK")


SCHEMA = SqliteSchema()


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
