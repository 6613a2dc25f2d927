"""A snapshot streamed in account order: each account's rows together, so that the
follower packs the compact index as it reads and never holds the store's rows at once.

In one read transaction, a page of accounts by id, then the entries and erasures of the
accounts in that page's range by account and insertion order, are walked in step. The
foreign keys make every entry's and erasure's account a row of `accounts`, so the walk is
driven by the accounts and needs no collation of its own: the database orders and ranges
ids with one collation, and the walk only asks whether two ids are equal.

`packed_snapshot` is the cold start's form of the same walk: one streamed SELECT per
table, entries in the order of their owner index (account, user, insertion), read as
tuples and packed as they come, without a row object per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import groupby
from operator import itemgetter
from typing import Any

from ...core.compact import BaseWriter
from ...core.index import AccountRows
from ...core.model import Micros
from ...core.packed import ENTRY_COLUMNS, ERASURE_COLUMNS
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


def packed_snapshot(conn: Any, dialect: SqlDialect) -> tuple[bytearray, Micros | None]:
    """A compact base of every account with its entries and erasures (packed as
    `grouped_rows` would give them to `BaseWriter.add_rows`, a user's entries together),
    and the latest time a row was written at; read in the caller's transaction."""
    select = dialect.value_rows
    accounts = select(conn, "SELECT id, region, created FROM accounts ORDER BY id", ())
    entries = _Groups(select(conn, f"SELECT {listed(ENTRY_COLUMNS)} FROM consent_entries "
                                   f"ORDER BY {dialect.by_owner}", ()), "recorded_at")
    erasures = _Groups(select(conn, f"SELECT {listed(ERASURE_COLUMNS)} FROM erasures "
                                    f"ORDER BY {dialect.by_owner}", ()), "requested_at")
    try:
        writer, latest = BaseWriter(), None
        for account in accounts:
            key = account[0]
            writer.add_values(key, account, entries.take(key), erasures.take(key))
            if account[2] is not None and (latest is None or account[2] > latest):
                latest = account[2]
        left = entries.key if entries.key is not None else erasures.key
        if left is not None:
            raise StoreError("the snapshot's rows did not follow their accounts' order (a "
                             f"row of account {left!r} was left over)")
    finally:
        for stream in (accounts, entries.rows, erasures.rows):
            getattr(stream, "close", lambda: None)()
    times = [t for t in (latest, entries.latest, erasures.latest) if t is not None]
    return writer.built(), max(times, default=None)


class _Groups:
    """A stream of value rows by account, handing over one account's run at a time, and
    the latest write time among the runs handed over."""

    def __init__(self, rows: Iterable[tuple[Any, ...]], written_at: str) -> None:
        columns = ENTRY_COLUMNS if written_at == "recorded_at" else ERASURE_COLUMNS
        self.rows = rows
        self._runs = groupby(rows, itemgetter(0))
        self._time = itemgetter(columns.index(written_at))
        self.latest: Micros | None = None
        self._advance()

    def _advance(self) -> None:
        run = next(self._runs, None)
        self.key: str | None = None if run is None else run[0]
        self._head: list[tuple[Any, ...]] = [] if run is None else list(run[1])

    def take(self, account_id: str) -> list[tuple[Any, ...]]:
        """The rows of `account_id` at the head of the stream (none if it is not there)."""
        if self.key != account_id:
            return []
        taken = self._head
        self._advance()
        times = [t for t in map(self._time, taken) if t is not None]
        if times and (self.latest is None or max(times) > self.latest):
            self.latest = max(times)
        return taken
