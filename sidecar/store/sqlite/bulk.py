"""How SQLite writes a slice of new rows: executemany, then the log copied in SQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ...core.model import Micros
from ..sql.columns import CHANGE_COLUMNS, COLUMNS, LOGGED_AS, TABLES, listed, picker
from ..sql.writes import NewRow
from .dialect import SQLITE


def insert_rows(conn: sqlite3.Connection, kind: str, rows: Sequence[NewRow], now: Micros,
                actor: str) -> None:
    """Insert the new rows of one kind, then log each as changed at its own version."""
    table, columns = TABLES[kind], COLUMNS[kind]
    pick = picker(columns)
    (before,) = conn.execute(f"SELECT coalesce(max(rowid), 0) FROM {table}").fetchone()
    conn.executemany(f"INSERT INTO {table} ({listed(columns)}) VALUES "
                     f"({SQLITE.marks(len(columns))})",
                     [pick(values) for _, _, values in rows])
    # SQLite copies the new rows into the log itself; only the chains go in as parameters,
    # two a row, through a temporary table. A new row's own version is its change's
    # version; rowids only grow (no deletes).
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS new_chains "
                 "(version INTEGER PRIMARY KEY, chain TEXT NOT NULL)")
    conn.executemany("INSERT INTO temp.new_chains (version, chain) VALUES (?, ?)",
                     [(version, chain) for version, chain, _ in rows])
    sources = listed(f"t.{column}" for _, column in LOGGED_AS[kind])
    conn.execute(f"INSERT INTO changes ({listed(CHANGE_COLUMNS[kind])}) "
                 f"SELECT t.version, ?, ?, ?, c.chain, {sources} FROM {table} AS t "
                 "JOIN temp.new_chains AS c ON c.version = t.version WHERE t.rowid > ?",
                 (kind, now, actor, before))
    conn.execute("DELETE FROM temp.new_chains")
