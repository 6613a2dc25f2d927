"""SqlStore: the consent store once for every SQL backend, over one connection.

The connection is guarded by a lock so that threads may share it (a transaction must not
interleave with another thread's statements). A backend subclass names its dialect,
schema marks and bulk insert, and says how it connects, opens a read transaction, ends a
failed one and words its errors.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, ClassVar

from ...core.policy import Policy
from ..protocol import MigrationResult, PackedBaseInfo
from ..writing import Clock, WritingStore
from . import migrations, packed_base
from .grouped import packed_snapshot
from .history import chain_at
from .migrations import SchemaMarks
from .reads import SqlReads, counter
from .versions import LockedVersions, VersionAllocator
from .writes import BulkInsert, SqlTransaction


class SqlStore(SqlReads, WritingStore):
    """The reads, writes, migrations and write transactions every SQL backend shares."""

    marks: ClassVar[SchemaMarks]
    bulk_insert: ClassVar[BulkInsert]
    url: str
    where: str  # how messages name the store: a path, or the masked URL

    def __init__(self, conn: Any, *, policy: Policy, clock: Clock | None,
                 versions: VersionAllocator | None) -> None:
        WritingStore.__init__(self, policy, clock)
        self._conn = conn
        self._lock = threading.RLock()
        self._versions = versions or LockedVersions(self.dialect)
        self.migration: MigrationResult | None = None

    def _errors(self, action: str = "failed") -> AbstractContextManager[None]:
        """Turn the driver's errors into store errors (`action`: what failed, if worded)."""
        raise NotImplementedError

    def _rollback(self) -> None:
        """End a failed transaction, if the connection still has one."""
        raise NotImplementedError

    def _before_commit(self, last_version: int) -> None:
        """A backend's last statement in a write transaction (e.g. telling readers)."""

    def _start(self, create: bool) -> None:
        """Open the schema (see `_open`); the connection is closed if that fails."""
        try:
            self._open(create)
        except BaseException:
            self._conn.close()
            raise

    def _open(self, create: bool) -> None:
        """Create or migrate the schema with create=True; else refuse a store not current."""
        with self._errors("could not be opened"):
            if create:
                self.migration = migrations.migrate(self._conn, self.marks, self.where)
                return
            state = self.marks.read_state(self._conn)
            migrations.check_usable(self.marks, state, self.where, create=False)

    def migrate(self) -> MigrationResult:
        """Create or migrate the schema; a no-op on a current store."""
        with self._lock, self._errors():
            return migrations.migrate(self._conn, self.marks, self.where)

    def schema_version(self) -> int:
        """The schema version the store is at."""
        with self._lock, self._errors():
            return self.marks.read_state(self._conn).schema_version

    def close(self) -> None:
        """Close the connection; the object is unusable afterwards."""
        with self._lock:
            self._conn.close()

    def pack(self, key: bytes | None = None) -> PackedBaseInfo:
        """Keep every account at the current version as the store's packed base, sealed with
        the sidecars' snapshot `key` if given, replacing the one before (unless a later one
        landed meanwhile); its header. The rows are read in one transaction, the base
        written in another: it is labelled with the version it was read at, so writes
        between the two are the feed's, after it."""
        with self._reading() as conn:
            version = counter(conn)
            chain = chain_at(conn, self.dialect, version) or ""
            body, latest = packed_snapshot(conn, self.dialect)
        with self._lock, self._errors():
            try:
                self._conn.execute(self.dialect.begin_write)
                info = packed_base.write_base(self._conn, self.dialect, version, chain,
                                              memoryview(body), latest, self._clock(), key)
                self._conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        return info

    @contextmanager
    def _begin_write(self, count: int) -> Iterator[SqlTransaction]:
        """A write transaction owning `count` new versions; commits when the block succeeds."""
        with self._lock, self._errors():
            try:
                first = self._versions.begin(self._conn, count)
                yield SqlTransaction(self._conn, first, self.dialect, self.bulk_insert)
                self._before_commit(first + count - 1)
                self._conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
