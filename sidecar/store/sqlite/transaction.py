"""One SQLite write transaction: the row primitives the shared write logic runs on."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from ...core.model import Account, Change, ConsentEntry, Micros
from ..columns import (
    CHANGE_COLUMNS,
    COLUMNS,
    TABLES,
    VALUES,
    account_from,
    change_source,
    change_values,
    entry_from,
)
from ..rows import kind_of

_CHUNK = 500  # ids per IN (...) query, well under SQLite's variable limit


class SqliteTransaction:
    """An open BEGIN IMMEDIATE transaction that owns versions first_version onwards."""

    def __init__(self, conn: sqlite3.Connection, first_version: int) -> None:
        self.conn = conn
        self.first_version = first_version

    def existing_accounts(self, account_ids: Iterable[str]) -> set[str]:
        """The given account ids the store already holds."""
        return self._existing("accounts", account_ids)

    def existing_ids(self, kind: str, row_ids: Iterable[str]) -> set[str]:
        """The given consent or erasure ids the store already holds."""
        return self._existing(TABLES[kind], row_ids)

    def _existing(self, table: str, ids: Iterable[str]) -> set[str]:
        wanted, found = list(ids), set()
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.conn.execute(
                f"SELECT id FROM {table} WHERE id IN ({marks})", chunk))
        return found

    def account(self, account_id: str) -> Account | None:
        """The account, or None."""
        row = self.conn.execute(f"SELECT {COLUMNS['account']} FROM accounts WHERE id = ?",
                                (account_id,)).fetchone()
        return account_from(row) if row else None

    def consent(self, entry_id: str) -> ConsentEntry | None:
        """The consent entry, or None."""
        row = self.conn.execute(f"SELECT {COLUMNS['consent']} FROM consent_entries "
                                "WHERE id = ?", (entry_id,)).fetchone()
        return entry_from(row) if row else None

    def insert(self, changes: Sequence[Change], now: Micros, actor: str) -> None:
        """Insert the new rows (accounts first, for the foreign keys) and log the changes."""
        by_kind: dict[str, list[tuple[Any, ...]]] = {kind: [] for kind in TABLES}
        for change in changes:
            kind = kind_of(change.row)
            by_kind[kind].append(VALUES[kind](change.row, change.version))
        for kind, rows in by_kind.items():
            if rows:
                self._insert(kind, rows, now, actor)

    def _insert(self, kind: str, rows: list[tuple[Any, ...]], now: Micros, actor: str) -> None:
        table = TABLES[kind]
        (before,) = self.conn.execute(f"SELECT coalesce(max(rowid), 0) FROM {table}").fetchone()
        marks = ",".join("?" * len(rows[0]))
        self.conn.executemany(f"INSERT INTO {table} ({COLUMNS[kind]}) VALUES ({marks})", rows)
        # SQLite copies the new rows into the log itself: no second round of parameters.
        # A new row's own version is its change's version; rowids only grow (no deletes).
        self.conn.execute(
            f"INSERT INTO changes (version, kind, changed_at, changed_by, {CHANGE_COLUMNS[kind]}) "
            f"SELECT version, ?, ?, ?, {change_source(kind)} FROM {table} WHERE rowid > ?",
            (kind, now, actor, before))

    def update(self, change: Change, now: Micros, actor: str) -> None:
        """Replace an existing row's columns by id and log the change."""
        kind = kind_of(change.row)
        values = VALUES[kind](change.row, change.version)
        columns = COLUMNS[kind].split(", ")[1:]
        assignments = ", ".join(f"{column} = ?" for column in columns)
        self.conn.execute(f"UPDATE {TABLES[kind]} SET {assignments} WHERE id = ?",
                          (*values[1:], values[0]))
        self._log(kind, [(change.version, values)], now, actor)

    def _log(self, kind: str, rows: list[tuple[int, tuple[Any, ...]]], now: Micros,
             actor: str) -> None:
        columns = CHANGE_COLUMNS[kind]
        marks = ",".join("?" * (4 + columns.count(",") + 1))
        self.conn.executemany(
            f"INSERT INTO changes (version, kind, changed_at, changed_by, {columns}) "
            f"VALUES ({marks})",
            [(version, kind, now, actor, *change_values(kind, values)) for version, values in rows])
