"""SqlDialect: what a backend's SQL spells differently, for the shared SQL layer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

# Runs a query on a connection; its rows are mappings by column name.
NamedRows = Callable[[Any, str, Sequence[Any]], Any]


@dataclass(frozen=True)
class SqlDialect:
    """What a backend's SQL spells differently, and how it hands out rows by column name."""

    param: str         # the parameter marker: "?" or "%s"
    same: str          # null-safe equality: "IS" or "IS NOT DISTINCT FROM"
    order: str         # the column that keeps insertion order: "rowid" or "seq"
    begin_write: str   # opens a write transaction that serialises writers (see versions)
    arrays: bool       # membership as `= ANY(array)` (True) or `IN (?, ?, ...)` (False)
    id_batch: int      # ids per membership query
    greatest: str      # the larger of two values: "max" or "greatest"
    named_rows: NamedRows
    value_rows: NamedRows  # the query's rows as tuples, streamed (not fetched whole)
    by_owner: str          # the owner index's order with insertion last (see grouped)

    def marks(self, count: int) -> str:
        """`count` parameter markers, comma-separated."""
        return ", ".join([self.param] * count)

    def member(self, column: str, ids: Sequence[str]) -> tuple[str, tuple[Any, ...]]:
        """The condition "`column` is one of `ids`", and its parameters."""
        if self.arrays:
            return f"{column} = ANY({self.param})", (list(ids),)
        return f"{column} IN ({self.marks(len(ids))})", tuple(ids)
