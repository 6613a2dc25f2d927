"""How a write transaction gets its consent versions (injectable, for the proof tests).

Versions must be handed out in commit order: a reader that has seen version N must never
later miss a change numbered <= N. The default opens the write transaction with the
dialect's `begin_write` and bumps a one-row counter as its first statement, in the same
transaction, so the writers' lock is held from numbering to commit:

- SQLite: BEGIN IMMEDIATE takes the database's write lock before the counter is read.
- PostgreSQL: sequences are not commit-ordered (a writer can take 7, another take 8 and
  commit first, and a reader that has seen 8 never asks for 7 again). The counter
  update's row lock is held until commit or rollback, so the next writer's update waits
  for it and then reads the committed value. That needs READ COMMITTED: under REPEATABLE
  READ the second writer's update would fail after waiting, so the level is never left
  to the server's default.

A rolled back write frees its numbers for the next writer, so the feed has no gaps. The
cost is that writes are serialised; a write transaction is a few milliseconds. A version
in the log above the counter (inserted by hand, say) is numbered past, not reused; readers
refuse to follow such a row until a write has numbered past it (see sql.reads).
"""

from __future__ import annotations

from typing import Any, Protocol

from .dialect import SqlDialect


class VersionAllocator(Protocol):
    """Opens the write transaction on a connection and numbers it."""

    def begin(self, conn: Any, count: int) -> int:
        """Open the write transaction; return the first of `count` new consecutive versions."""


def bump_counter(conn: Any, count: int, dialect: SqlDialect) -> int:
    """Take `count` versions above both the counter and every version the log holds (a row
    put there by hand or by a bug must not hide the next write behind it); the counter's
    row stays locked until commit. Returns the first of the new versions."""
    (last,) = conn.execute(
        f"UPDATE consent_version SET version = {dialect.greatest}(version, "
        f"(SELECT coalesce(max(version), 0) FROM changes)) + {dialect.param} WHERE id = 1 "
        "RETURNING version", (count,)).fetchone()
    return last - count + 1


class LockedVersions:
    """Allocate versions inside the write transaction, under the writers' lock (the default)."""

    def __init__(self, dialect: SqlDialect) -> None:
        self.dialect = dialect

    def begin(self, conn: Any, count: int) -> int:
        """Open the write transaction (dialect.begin_write), then bump the counter in it."""
        conn.execute(self.dialect.begin_write)
        return bump_counter(conn, count, self.dialect)
