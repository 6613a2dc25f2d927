"""How SQLite writes a slice of new rows: executemany, then the log copied in SQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ...core.model import Micros
from ..sql.columns import CHANGE_COLUMNS, COLUMNS, LOGGED_AS, TABLES, Values, listed, picker
from .dialect import SQLITE


def insert_rows(conn: sqlite3.Connection, kind: str, rows: Sequence[tuple[int, Values]],
                now: Micros, actor: str) -> None:
    """Insert the new rows of one kind, then log each as changed at its own version."""
    table, columns = TABLES[kind], COLUMNS[kind]
    pick = picker(columns)
    (before,) = conn.execute(f"SELECT coalesce(max(rowid), 0) FROM {table}").fetchone()
    conn.executemany(f"INSERT INTO {table} ({listed(columns)}) VALUES "
                     f"({SQLITE.marks(len(columns))})",
                     [pick(values) for _, values in rows])
    # SQLite copies the new rows into the log itself: no second round of parameters.
    # A new row's own version is its change's version; rowids only grow (no deletes).
    sources = listed(column for _, column in LOGGED_AS[kind])
    conn.execute(f"INSERT INTO changes ({listed(CHANGE_COLUMNS[kind])}) "
                 f"SELECT version, ?, ?, ?, {sources} FROM {table} WHERE rowid > ?",
                 (kind, now, actor, before))
