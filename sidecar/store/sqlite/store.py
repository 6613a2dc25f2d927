"""SqliteStore: the embedded consent store (stdlib sqlite3, WAL mode, busy timeout).

One connection per store object, guarded by a lock so that threads may share it; several
store objects (or processes) on one file are serialised by SQLite's own write lock.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ...core.policy import Policy
from ..errors import StoreUnavailableError
from ..protocol import MigrationResult
from ..sql_reads import SqlDialect, SqlReads
from ..writing import Clock, WritingStore
from . import migrations
from .connect import DEFAULT_BUSY_TIMEOUT, connect, sqlite_errors
from .transaction import SqliteTransaction
from .versions import LockedVersions, VersionAllocator


class SqliteStore(SqlReads, WritingStore):
    """A consent store in one SQLite file."""

    dialect = SqlDialect(param="?", same="IS", order="rowid")

    def __init__(self, path: str | Path, *, policy: Policy, create: bool = False,
                 clock: Clock | None = None,
                 versions: VersionAllocator | None = None,
                 busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        super().__init__(policy, clock)
        self.path = Path(path)
        self.url = sqlite_url(self.path)
        self._versions = versions or LockedVersions()
        self._lock = threading.RLock()
        self._conn = connect(self.path, create=create, busy_timeout=busy_timeout)
        self._file = file_identity(self.path)
        self.migration: MigrationResult | None = None
        try:
            self._open(create)
        except BaseException:
            self._conn.close()
            raise

    def _open(self, create: bool) -> None:
        with sqlite_errors(self.path):
            if create:
                self.migration = self.migrate()
            else:
                migrations.check_usable(migrations.read_state(self._conn), self.path,
                                        create=False)

    def migrate(self) -> MigrationResult:
        """Create or migrate the schema; a no-op on a current store."""
        with self._lock, sqlite_errors(self.path):
            return migrations.migrate(self._conn, self.path)

    def schema_version(self) -> int:
        """The schema version the file is at."""
        with self._lock, sqlite_errors(self.path):
            return self._conn.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        """Close the connection; the object is unusable afterwards."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def begin_write(self, count: int) -> Iterator[SqliteTransaction]:
        """A write transaction owning `count` new versions; commits when the block succeeds."""
        with self._lock, sqlite_errors(self.path):
            try:
                first = self._versions.begin(self._conn, count)
                yield SqliteTransaction(self._conn, first)
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every query inside sees the same committed state."""
        with self._lock, sqlite_errors(self.path):
            self._check_same_file()
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    def _check_same_file(self) -> None:
        """Refuse to read through a connection whose file was removed or replaced: an open
        SQLite connection would go on reading the old file as if nothing happened."""
        if file_identity(self.path) != self._file:
            raise StoreUnavailableError(
                f"the consent store file {self.path} was removed or replaced since it was "
                "opened; reconnecting")


def file_identity(path: Path) -> tuple[int, int] | None:
    """The (device, inode) of the file at `path`, None when there is none."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def sqlite_url(path: Path) -> str:
    """The store URL for a path: sqlite:///relative.db or sqlite:////absolute.db."""
    return f"sqlite:///{path}"

