"""A snapshot streamed in account order: each account's rows together, so that the
follower packs the compact index as it reads and never holds the store's rows at once.

Three cursors in one read transaction — accounts by id, entries and erasures by account
and insertion order — are walked in step. The foreign keys make every entry's and
erasure's account a row of `accounts`, so the walk is driven by the accounts cursor and
needs no collation of its own: it only asks whether two ids are equal.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...core.index import AccountRows
from ..errors import StoreError
from .columns import COLUMNS, FROM, TABLES, listed
from .dialect import SqlDialect

FETCH = 5_000


def grouped_rows(conn: Any, dialect: SqlDialect) -> Iterator[AccountRows]:
    """Every account with its entries and erasures, in the store's order of account ids."""
    entries = _Stream(_rows(conn, dialect, "consent", "account_id"))
    erasures = _Stream(_rows(conn, dialect, "erasure", "account_id"))
    for account in _rows(conn, dialect, "account", "id"):
        key = account.account_id
        yield key, account, entries.take(key), erasures.take(key)
    if entries.head is not None or erasures.head is not None:
        raise StoreError("the snapshot's rows did not follow their accounts' order "
                         f"(a row of account {(entries.head or erasures.head).account_id!r} "
                         "was left over)")


def _rows(conn: Any, dialect: SqlDialect, kind: str, key: str) -> Iterator[Any]:
    """The rows of one kind, ordered by `key` then insertion, converted as they are read."""
    cursor = dialect.named_rows(conn, f"SELECT {listed(COLUMNS[kind])} FROM {TABLES[kind]} "
                                      f"ORDER BY {key}, {dialect.order}", ())
    convert = FROM[kind]
    while batch := cursor.fetchmany(FETCH):
        yield from map(convert, batch)


class _Stream:
    """A row stream that hands over the run of rows of one account at a time."""

    def __init__(self, rows: Iterator[Any]) -> None:
        self._rows = rows
        self.head: Any = next(rows, None)

    def take(self, account_id: str) -> list[Any]:
        """The rows of `account_id` at the head of the stream (none if it is not there)."""
        taken = []
        while self.head is not None and self.head.account_id == account_id:
            taken.append(self.head)
            self.head = next(self._rows, None)
        return taken
