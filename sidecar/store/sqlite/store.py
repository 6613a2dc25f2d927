"""SqliteStore: the embedded consent store (stdlib sqlite3, WAL mode, busy timeout).

One connection per store object, guarded by a lock so that threads may share it; several
store objects (or processes) on one file are serialised by SQLite's own write lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from ...core.policy import Policy
from ..errors import StoreUnavailableError
from ..sql.store import SqlStore
from ..sql.versions import VersionAllocator
from ..writing import Clock
from .bulk import insert_rows
from .connect import DEFAULT_BUSY_TIMEOUT, connect, sqlite_errors
from .dialect import SCHEMA, SQLITE


class SqliteStore(SqlStore):
    """A consent store in one SQLite file."""

    dialect = SQLITE
    marks = SCHEMA
    bulk_insert = staticmethod(insert_rows)

    def __init__(self, path: str | Path, *, policy: Policy, create: bool = False,
                 clock: Clock | None = None, versions: VersionAllocator | None = None,
                 busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        self.url, self.where = sqlite_url(self.path), str(self.path)
        conn = connect(self.path, create=create, busy_timeout=busy_timeout)
        super().__init__(conn, policy=policy, clock=clock, versions=versions)
        self._file = file_identity(self.path)  # after connect, which may create the file
        self._start(create)

    def _errors(self, action: str = "failed") -> AbstractContextManager[None]:
        """sqlite3 errors as store errors naming the file (SQLite words every action alike)."""
        return sqlite_errors(self.path)

    def _rollback(self) -> None:
        """Roll back, unless SQLite already ended the transaction."""
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every query inside sees the same committed state."""
        with self._lock, self._errors():
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
