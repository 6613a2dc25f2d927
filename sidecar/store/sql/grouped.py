"""A snapshot streamed in account order: each account's rows together, so that the
follower packs the compact index as it reads and never holds the store's rows at once.

In one read transaction, a page of accounts by id, then the entries and erasures of the
accounts in that page's range by account and insertion order, are walked in step. The
foreign keys make every entry's and erasure's account a row of `accounts`, so the walk is
driven by the accounts and needs no collation of its own: the database orders and ranges
ids with one collation, and the walk only asks whether two ids are equal.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...core.index import AccountRows
from ..errors import StoreError
from .columns import COLUMNS, FROM, TABLES, listed
from .dialect import SqlDialect

PAGE = 5_000
"""Accounts read at a time, with their entries and erasures."""


def grouped_rows(conn: Any, dialect: SqlDialect, page: int = PAGE) -> Iterator[AccountRows]:
    """Every account with its entries and erasures, in the store's order of account ids,
    a page of accounts at a time (keyset paging: every backend's memory stays bounded)."""
    after: str | None = None
    while accounts := _accounts_after(conn, dialect, after, page):
        first, after = accounts[0].account_id, accounts[-1].account_id
        entries = _Stream(iter(_owned(conn, dialect, "consent", first, after)))
        erasures = _Stream(iter(_owned(conn, dialect, "erasure", first, after)))
        for account in accounts:
            key = account.account_id
            yield key, account, entries.take(key), erasures.take(key)
        if entries.head is not None or erasures.head is not None:
            left = entries.head or erasures.head
            raise StoreError("the snapshot's rows did not follow their accounts' order (a "
                             f"row of account {left.account_id!r} was left over)")


def _accounts_after(conn: Any, dialect: SqlDialect, after: str | None, page: int) -> list[Any]:
    where, params = ("", ()) if after is None else (f"WHERE id > {dialect.param}", (after,))
    return _select(conn, dialect, "account", f"{where} ORDER BY id LIMIT {page:d}", params)


def _owned(conn: Any, dialect: SqlDialect, kind: str, first: str, last: str) -> list[Any]:
    """The rows of `kind` whose accounts lie in first..last, by account then insertion."""
    p = dialect.param
    return _select(conn, dialect, kind, f"WHERE account_id >= {p} AND account_id <= {p} "
                                        f"ORDER BY account_id, {dialect.order}", (first, last))


def _select(conn: Any, dialect: SqlDialect, kind: str, rest: str,
            params: tuple[Any, ...]) -> list[Any]:
    rows = dialect.named_rows(conn, f"SELECT {listed(COLUMNS[kind])} FROM {TABLES[kind]} "
                                    f"{rest}", params)
    return list(map(FROM[kind], rows))


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
