"""How a SQLite write transaction gets its consent versions (injectable, for the proof test).

The default takes the write lock first (BEGIN IMMEDIATE) and bumps the counter inside the
same transaction, so no version can commit after a higher one: version order is commit
order, and a reader that has seen version N can never later miss a change numbered <= N.
"""

from __future__ import annotations

import sqlite3
from typing import Protocol


class VersionAllocator(Protocol):
    """Opens the write transaction on a connection and numbers it."""

    def begin(self, conn: sqlite3.Connection, count: int) -> int:
        """Open the write transaction; return the first of `count` new consecutive versions."""


def bump_counter(conn: sqlite3.Connection, count: int) -> int:
    """Add `count` to the version counter; the first of the versions that frees."""
    (last,) = conn.execute(
        "UPDATE consent_version SET version = version + ? WHERE id = 1 RETURNING version",
        (count,)).fetchone()
    return last - count + 1


class LockedVersions:
    """Allocate versions only while holding the write lock (the safe default)."""

    def begin(self, conn: sqlite3.Connection, count: int) -> int:
        """BEGIN IMMEDIATE, then bump the counter in the same transaction."""
        conn.execute("BEGIN IMMEDIATE")
        return bump_counter(conn, count)
