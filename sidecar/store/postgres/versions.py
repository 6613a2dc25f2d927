"""How a PostgreSQL write transaction gets its consent versions (injectable, for the proof test).

PostgreSQL sequences are not commit-ordered: a writer can take 7 from a sequence, another
take 8 and commit first, and a reader that has seen 8 never asks for 7 again. The default
allocator instead updates a one-row counter as the transaction's first statement. The
row lock it takes is held until commit or rollback, so the next writer's update waits
for it and then reads the committed value: versions are handed out in commit order, a
reader that has seen version N can never later miss a change numbered <= N, and a rolled
back write frees its numbers for the next writer (the feed has no gaps). The cost is that
writes are serialised, as they are in SQLite; a write transaction is a few milliseconds.
"""

from __future__ import annotations

from typing import Protocol

import psycopg


class VersionAllocator(Protocol):
    """Opens the write transaction on a connection and numbers it."""

    def begin(self, conn: psycopg.Connection, count: int) -> int:
        """Open the write transaction; return the first of `count` new consecutive versions."""


def bump_counter(conn: psycopg.Connection, count: int) -> int:
    """Add `count` to the version counter, locking its row until commit; the first new version."""
    (last,) = conn.execute(
        "UPDATE consent_version SET version = version + %s WHERE id = 1 RETURNING version",
        (count,)).fetchone()
    return last - count + 1


class LockedVersions:
    """Allocate versions under the counter's row lock (the safe default)."""

    def begin(self, conn: psycopg.Connection, count: int) -> int:
        """BEGIN (READ COMMITTED, whatever the server's default), then bump the counter."""
        # Under REPEATABLE READ the second writer's update would fail after waiting
        # instead of reading the committed counter, so the level is never left to defaults.
        conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED, READ WRITE")
        return bump_counter(conn, count)
