"""SqlTransaction: the row primitives of one write transaction, once for every SQL backend.

The shared write logic (`store.writing`) runs on these; the dialect spells the queries, and
the backend's bulk insert writes a slice of new rows and their change-log records
(executemany in SQLite, COPY in PostgreSQL). Each change is chained to the one before it
(`store.chain`) as it is logged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from ...core.model import Account, Change, ConsentEntry, Micros
from ..chain import chain_of, next_chain
from ..rows import kind_of
from .columns import (
    CHANGE_COLUMNS,
    COLUMNS,
    FROM,
    TABLES,
    VALUES,
    Values,
    change_record,
    listed,
    params,
)
from .dialect import SqlDialect
from .history import chain_before

# A new row to insert: its change's version, that change's chain, and the row's columns.
NewRow = tuple[int, str, Values]


class BulkInsert(Protocol):
    """How a backend writes new rows of one kind, then their change-log records."""

    def __call__(self, conn: Any, kind: str, rows: Sequence[NewRow], now: Micros,
                 actor: str) -> None:
        """Insert `rows` and log each as changed by `actor` at its version, with its chain."""


class SqlTransaction:
    """An open write transaction that owns versions first_version onwards."""

    # It holds the writers' lock (SQLite's write lock, PostgreSQL's counter row lock), so
    # every row it reads is committed and no other writer can change one before it ends.

    def __init__(self, conn: Any, first_version: int, dialect: SqlDialect,
                 bulk_insert: BulkInsert) -> None:
        self.conn, self.first_version = conn, first_version
        self.dialect, self.bulk_insert = dialect, bulk_insert
        self.head = chain_before(conn, dialect, first_version)  # the last change's chain

    def existing_accounts(self, account_ids: Iterable[str]) -> set[str]:
        """The given account ids the store already holds."""
        return self._existing("accounts", account_ids)

    def existing_ids(self, kind: str, row_ids: Iterable[str]) -> set[str]:
        """The given consent or erasure ids the store already holds."""
        return self._existing(TABLES[kind], row_ids)

    def _existing(self, table: str, ids: Iterable[str]) -> set[str]:
        wanted, batch = list(ids), self.dialect.id_batch
        found: set[str] = set()
        for start in range(0, len(wanted), batch):
            condition, values = self.dialect.member("id", wanted[start:start + batch])
            found.update(r[0] for r in self.conn.execute(
                f"SELECT id FROM {table} WHERE {condition}", values))
        return found

    def account(self, account_id: str) -> Account | None:
        """The account as it stands in this transaction, or None."""
        return self._one("account", account_id)

    def consent(self, entry_id: str) -> ConsentEntry | None:
        """The consent entry as it stands in this transaction, or None."""
        return self._one("consent", entry_id)

    def _one(self, kind: str, row_id: str) -> Any:
        found = self.dialect.named_rows(
            self.conn, f"SELECT {listed(COLUMNS[kind])} FROM {TABLES[kind]} "
                       f"WHERE id = {self.dialect.param}", (row_id,)).fetchone()
        return None if found is None else FROM[kind](found)

    def insert(self, changes: Sequence[Change], now: Micros, actor: str) -> None:
        """Insert new rows (accounts first, for the foreign keys) and log their changes."""
        by_kind: dict[str, list[NewRow]] = {kind: [] for kind in TABLES}
        head = self.head
        for change in changes:
            version, row = change.version, change.row
            head = next_chain(head, version, row)
            kind = kind_of(row)
            by_kind[kind].append((version, head, VALUES[kind](row, version)))
        self.head = head
        for kind, rows in by_kind.items():
            if rows:
                self.bulk_insert(self.conn, kind, rows, now, actor)

    def update(self, change: Change, now: Micros, actor: str) -> None:
        """Replace an existing row's columns by id and append the change to the log."""
        kind = kind_of(change.row)
        values = VALUES[kind](change.row, change.version)
        p, changed = self.dialect.param, COLUMNS[kind][1:]
        assignments = ", ".join(f"{column} = {p}" for column in changed)
        self.conn.execute(f"UPDATE {TABLES[kind]} SET {assignments} WHERE id = {p}",
                          (*params(values, changed), values["id"]))
        self.head = chain_of(self.head, change)
        record = change_record(kind, change.version, values, now, actor, self.head)
        self.conn.execute(f"INSERT INTO changes ({listed(CHANGE_COLUMNS[kind])}) VALUES "
                          f"({self.dialect.marks(len(record))})",
                          params(record, CHANGE_COLUMNS[kind]))
