"""The read half of the store protocol, once for every SQL backend.

Backends keep the same tables and columns (`columns`); their dialect says how to spell
the queries, and each backend says how it opens a read transaction. The feed is read with
each change's chain and checked against the version counter in the same statement: a
change numbered above the counter was not written by maytrain's writers, and is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, BinaryIO, ClassVar

from ...core.compact import CompactBase
from ...core.index import AccountRows
from ...core.model import Account, Change, ConsentEntry, Erasure, Micros, StoreRow
from ..errors import StoreError
from ..protocol import PackedBaseInfo, Snapshot
from . import packed_base
from .columns import COLUMNS, FEED_COLUMNS, FROM, TABLES, listed, row_from_change
from .dialect import SqlDialect
from .grouped import grouped_rows, packed_snapshot
from .history import chain_at


class SqlReads:
    """version, snapshot, changes_since and the listings, over `_reading()` transactions."""

    dialect: ClassVar[SqlDialect]

    def _reading(self) -> AbstractContextManager[Any]:
        """A read transaction on the backend's connection (one consistent state)."""
        raise NotImplementedError

    def _query(self) -> AbstractContextManager[Any]:
        """The connection for a single statement; a read transaction unless overridden."""
        return self._reading()

    def version(self) -> int:
        """The latest committed consent version (0 for an empty store)."""
        with self._query() as conn:
            return counter(conn)

    def snapshot(self) -> Snapshot:
        """Every row at one consent version, and the chain there, read in one transaction."""
        with self._reading() as conn:
            version = counter(conn)
            chain = chain_at(conn, self.dialect, version) or ""
            rows: list[StoreRow] = []
            for kind in ("account", "consent", "erasure"):
                rows.extend(self._select(conn, kind, "", ()))
        return Snapshot(version, tuple(rows), chain)

    @contextmanager
    def snapshot_grouped(self) -> Iterator[tuple[int, str, Iterator[AccountRows]]]:
        """Every row at one consent version and the chain there, streamed a page of
        accounts at a time with their entries and erasures (see `grouped`), in one
        read transaction that lasts while the caller reads."""
        with self._reading() as conn:
            version = counter(conn)
            yield version, chain_at(conn, self.dialect, version) or "", grouped_rows(
                conn, self.dialect)

    def snapshot_base(self) -> tuple[int, str, CompactBase, Micros | None]:
        """Every row at one consent version packed as a compact base, the chain there, and
        the latest time a row was written at, read in one transaction (a cold start's
        load: no row objects, and memory bounded by the base)."""
        with self._reading() as conn:
            version = counter(conn)
            chain = chain_at(conn, self.dialect, version) or ""
            buffer, latest = packed_snapshot(conn, self.dialect)
        return version, chain, CompactBase(memoryview(buffer)), latest

    def read_packed_base(self, out: BinaryIO) -> PackedBaseInfo | None:
        """Write the store's packed base to `out` and return its header, read in one
        transaction (None, writing nothing, when none was packed); unchecked: the caller
        proves it (`store.sql.packed_base`)."""
        with self._reading() as conn:
            info = packed_base.read_info(conn)
            if info is not None:
                packed_base.copy_parts(conn, self.dialect, info, out)
        return info

    def packed_base_info(self) -> PackedBaseInfo | None:
        """The header of the store's packed base, or None when none was packed."""
        with self._query() as conn:
            return packed_base.read_info(conn)

    def changes_since(self, version: int, limit: int = 10_000) -> list[Change]:
        """Up to `limit` changes numbered above `version`, in version order, with their
        chains; StoreError when one is numbered above the version counter."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        p = self.dialect.param
        with self._query() as conn:
            found = self.dialect.named_rows(
                conn, f"SELECT {listed(FEED_COLUMNS)}, chain, changed_at, (SELECT version FROM "
                      "consent_version WHERE id = 1) AS counter FROM changes "
                      f"WHERE version > {p} ORDER BY version LIMIT {p}",
                (version, limit)).fetchall()
        if found and found[-1]["version"] > found[-1]["counter"]:
            _refuse_above_counter(found)
        return [Change(record["version"], row_from_change(record), record["chain"] or "",
                       record["changed_at"]) for record in found]

    def chain_at(self, version: int) -> str | None:
        """The chain of the store's history up to `version`, or None past its counter."""
        with self._query() as conn:
            return chain_at(conn, self.dialect, version)

    def changed_at(self, version: int) -> Micros | None:
        """When the change numbered `version` was written, or None when there is none."""
        with self._query() as conn:
            found = conn.execute(f"SELECT changed_at FROM changes WHERE version = "
                                 f"{self.dialect.param}", (version,)).fetchone()
        return None if found is None else found[0]

    def expiring(self, after: Micros, until: Micros) -> list[ConsentEntry]:
        """The standing grants whose valid_until is in (after, until], soonest first."""
        p = self.dialect.param
        with self._query() as conn:
            return self._select(conn, "consent", f"WHERE effect = 'GRANT' AND ended_version IS "
                                f"NULL AND valid_until > {p} AND valid_until <= {p}",
                                (after, until), order="valid_until, id")

    def account(self, account_id: str) -> Account | None:
        """One account, or None."""
        return self._one("account", account_id)

    def consent(self, entry_id: str) -> ConsentEntry | None:
        """One consent entry, or None."""
        return self._one("consent", entry_id)

    def erasure(self, erasure_id: str) -> Erasure | None:
        """One erasure, or None."""
        return self._one("erasure", erasure_id)

    def consents(self, account_id: str, user_id: str | None = None) -> list[ConsentEntry]:
        """The account's entries, oldest first: all (None), account level (''), or a user's."""
        p, same = self.dialect.param, self.dialect.same
        with self._query() as conn:
            if user_id is None:
                return self._select(conn, "consent", f"WHERE account_id = {p}", (account_id,))
            return self._select(conn, "consent", f"WHERE account_id = {p} AND user_id {same} {p}",
                                (account_id, user_id or None))

    def erasures(self, account_id: str) -> list[Erasure]:
        """The account's erasures (account and user level), oldest first."""
        with self._query() as conn:
            return self._select(conn, "erasure", f"WHERE account_id = {self.dialect.param}",
                                (account_id,))

    def _one(self, kind: str, row_id: str) -> Any:
        with self._query() as conn:
            found = self._select(conn, kind, f"WHERE id = {self.dialect.param}", (row_id,))
        return found[0] if found else None

    def _select(self, conn: Any, kind: str, where: str, params: tuple,
                order: str | None = None) -> list:
        """Rows of one kind in insertion order (listings are oldest first), or in `order`."""
        rows = self.dialect.named_rows(conn, f"SELECT {listed(COLUMNS[kind])} FROM "
                                             f"{TABLES[kind]} {where} ORDER BY "
                                             f"{order or self.dialect.order}", params)
        convert = FROM[kind]
        return [convert(row) for row in rows]


def _refuse_above_counter(found: list) -> None:
    first = next(record for record in found if record["version"] > record["counter"])
    raise StoreError(f"the change feed holds version {first['version']}, above the store's "
                     f"version counter {first['counter']}: a change not numbered by a "
                     "maytrain writer (inserted by hand, or by a bug) is not followed; the "
                     "next write is numbered above it")


def counter(conn: Any) -> int:
    """The store's version counter, read on `conn`."""
    return conn.execute("SELECT version FROM consent_version WHERE id = 1").fetchone()[0]
