"""One PostgreSQL write transaction: the row primitives the shared write logic runs on."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg

from ...core.model import Account, Change, ConsentEntry, Micros
from ..columns import (
    CHANGE_COLUMNS,
    COLUMNS,
    TABLES,
    VALUES,
    account_from,
    change_values,
    entry_from,
)
from ..rows import kind_of

_CHUNK = 10_000  # ids per `= ANY(%s)` array


class PostgresTransaction:
    """An open READ COMMITTED transaction that owns versions first_version onwards."""

    # It holds the version counter's row lock, so every row it reads is committed and no
    # other writer can change one before this transaction ends.

    def __init__(self, conn: psycopg.Connection, first_version: int) -> None:
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
            found.update(r[0] for r in self.conn.execute(
                f"SELECT id FROM {table} WHERE id = ANY(%s)", (wanted[start:start + _CHUNK],)))
        return found

    def account(self, account_id: str) -> Account | None:
        """The account, or None."""
        row = self.conn.execute(f"SELECT {COLUMNS['account']} FROM accounts WHERE id = %s",
                                (account_id,)).fetchone()
        return account_from(row) if row else None

    def consent(self, entry_id: str) -> ConsentEntry | None:
        """The consent entry, or None."""
        row = self.conn.execute(f"SELECT {COLUMNS['consent']} FROM consent_entries "
                                "WHERE id = %s", (entry_id,)).fetchone()
        return entry_from(row) if row else None

    def insert(self, changes: Sequence[Change], now: Micros, actor: str) -> None:
        """Copy the new rows in (accounts first, for the foreign keys) and log the changes."""
        by_kind: dict[str, list[tuple[int, tuple[Any, ...]]]] = {kind: [] for kind in TABLES}
        for change in changes:
            kind = kind_of(change.row)
            by_kind[kind].append((change.version, VALUES[kind](change.row, change.version)))
        for kind, rows in by_kind.items():
            if rows:
                self._copy(f"{TABLES[kind]} ({COLUMNS[kind]})", (values for _, values in rows))
                self._log(kind, rows, now, actor)

    def update(self, change: Change, now: Micros, actor: str) -> None:
        """Replace an existing row's columns by id and log the change."""
        kind = kind_of(change.row)
        values = VALUES[kind](change.row, change.version)
        columns = COLUMNS[kind].split(", ")[1:]
        assignments = ", ".join(f"{column} = %s" for column in columns)
        self.conn.execute(f"UPDATE {TABLES[kind]} SET {assignments} WHERE id = %s",
                          (*values[1:], values[0]))
        self._log(kind, [(change.version, values)], now, actor)

    def _log(self, kind: str, rows: list[tuple[int, tuple[Any, ...]]], now: Micros,
             actor: str) -> None:
        self._copy(f"changes (version, kind, changed_at, changed_by, {CHANGE_COLUMNS[kind]})",
                   ((version, kind, now, actor, *change_values(kind, values))
                    for version, values in rows))

    def _copy(self, target: str, rows: Iterable[tuple[Any, ...]]) -> None:
        # COPY sends a slice of 20,000 rows in one stream instead of one statement per row.
        with self.conn.cursor() as cursor, cursor.copy(f"COPY {target} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
