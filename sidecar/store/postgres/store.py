"""PostgresStore: the consent store in one PostgreSQL schema, over one connection.

The connection is guarded by a lock so that threads may share it (a transaction must not
interleave with another thread's statements). Writers NOTIFY inside their transaction, so
the notification is delivered when the write commits and never for one rolled back;
readers that follow the store LISTEN on the same connection (`wait_for_change`).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import psycopg
from psycopg import sql

from ...core.policy import Policy
from ..protocol import MigrationResult
from ..sql_reads import SqlDialect, SqlReads
from ..writing import Clock, WritingStore
from . import migrations
from .connect import connect, connect_target, pg_errors, rollback
from .transaction import PostgresTransaction
from .versions import LockedVersions, VersionAllocator

_MAX_CHANNEL_BYTES = 63  # NAMEDATALEN - 1


class PostgresStore(SqlReads, WritingStore):
    """A consent store in the current schema of a PostgreSQL database."""

    # seq keeps insertion order, which listings keep (as SQLite's rowid does).
    dialect = SqlDialect(param="%s", same="IS NOT DISTINCT FROM", order="seq")

    def __init__(self, url: str, *, policy: Policy, create: bool = False,
                 clock: Clock | None = None, versions: VersionAllocator | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        super().__init__(policy, clock)
        self._target = connect_target(url, os.environ if env is None else env)
        self.url = self._target.masked
        self._versions = versions or LockedVersions()
        self._lock = threading.RLock()
        self._listening = False
        self.migration: MigrationResult | None = None
        self._conn = connect(self._target)
        try:
            self._open(create)
        except BaseException:
            self._conn.close()
            raise

    def _open(self, create: bool) -> None:
        with pg_errors(self._target, "could not be opened"):
            if create:
                self.migration = migrations.migrate(self._conn, self.url)
            else:
                migrations.check_usable(migrations.read_state(self._conn), self.url,
                                        create=False)
            (schema,) = self._conn.execute("SELECT current_schema()").fetchone()
        self.channel = channel_for(schema)

    def migrate(self) -> MigrationResult:
        """Create or migrate the schema; a no-op on a current store."""
        with self._lock, pg_errors(self._target):
            return migrations.migrate(self._conn, self.url)

    def schema_version(self) -> int:
        """The schema version the store is at."""
        with self._query() as conn:
            return conn.execute("SELECT version FROM maytrain_schema WHERE id = 1").fetchone()[0]

    @property
    def connection_info(self) -> psycopg.ConnectionInfo:
        """What psycopg says about the connection (host, user, backend pid, ...)."""
        return self._conn.info

    def close(self) -> None:
        """Close the connection; the object is unusable afterwards."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def begin_write(self, count: int) -> Iterator[PostgresTransaction]:
        """A write transaction owning `count` new versions; commits when the block succeeds."""
        with self._lock, pg_errors(self._target):
            try:
                first = self._versions.begin(self._conn, count)
                yield PostgresTransaction(self._conn, first)
                self._conn.execute("SELECT pg_notify(%s, %s)",
                                   (self.channel, str(first + count - 1)))
                self._conn.execute("COMMIT")
            except BaseException:
                rollback(self._conn)
                raise

    def wait_for_change(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a pushed write; True when one came (or may have)."""
        with self._lock, pg_errors(self._target):
            # The first call starts listening: writes before it were not pushed, so sync now.
            if not self._listening:
                self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                self._listening = True
                return True
            heard = list(self._conn.notifies(timeout=max(0.0, timeout), stop_after=1))
            if heard:  # one sync covers every write pushed so far
                list(self._conn.notifies(timeout=0))
            return bool(heard)

    @contextmanager
    def _query(self) -> Iterator[psycopg.Connection]:
        """The connection for single statements (each is atomic on its own)."""
        with self._lock, pg_errors(self._target):
            yield self._conn

    @contextmanager
    def _reading(self) -> Iterator[psycopg.Connection]:
        """One read-only transaction: every query inside sees the same committed state."""
        with self._lock, pg_errors(self._target):
            self._conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            try:
                yield self._conn
            except BaseException:
                rollback(self._conn)
                raise
            self._conn.execute("COMMIT")


def channel_for(schema: str) -> str:
    """The NOTIFY channel of the store in `schema` (stores in one database do not share one)."""
    channel = f"maytrain_changes:{schema}"
    if len(channel.encode("utf-8")) <= _MAX_CHANNEL_BYTES:
        return channel
    return f"maytrain_changes:{hashlib.sha256(schema.encode('utf-8')).hexdigest()[:32]}"
