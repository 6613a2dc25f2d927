"""PostgresStore: the consent store in one PostgreSQL schema, over one connection.

Writers NOTIFY inside their transaction, so the notification is delivered when the write
commits and never for one rolled back; readers that follow the store LISTEN on the same
connection (`wait_for_change`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager

import psycopg
from psycopg import sql

from ...core.policy import Policy
from ..sql.store import SqlStore
from ..sql.versions import VersionAllocator
from ..writing import Clock
from .bulk import copy_rows
from .connect import connect, connect_target, pg_errors, rollback
from .dialect import POSTGRES, SCHEMA

_MAX_CHANNEL_BYTES = 63  # NAMEDATALEN - 1


class PostgresStore(SqlStore):
    """A consent store in the current schema of a PostgreSQL database."""

    dialect = POSTGRES
    marks = SCHEMA
    bulk_insert = staticmethod(copy_rows)

    def __init__(self, url: str, *, policy: Policy, create: bool = False,
                 clock: Clock | None = None, versions: VersionAllocator | None = None,
                 env: Mapping[str, str] | None = None, password_file: str | None = None) -> None:
        self._target = connect_target(url, os.environ if env is None else env, password_file)
        self.url = self.where = self._target.masked
        self._listening = False
        super().__init__(connect(self._target), policy=policy, clock=clock, versions=versions)
        self._start(create)

    def _open(self, create: bool) -> None:
        """Open the schema as every SQL store does, then find its NOTIFY channel."""
        super()._open(create)
        with self._errors("could not be opened"):
            (schema,) = self._conn.execute("SELECT current_schema()").fetchone()
        self.channel = channel_for(schema)

    @property
    def connection_info(self) -> psycopg.ConnectionInfo:
        """What psycopg says about the connection (host, user, backend pid, ...)."""
        return self._conn.info

    def _errors(self, action: str = "failed") -> AbstractContextManager[None]:
        """psycopg errors as store errors that carry no credentials."""
        return pg_errors(self._target, action)

    def _rollback(self) -> None:
        """Roll back, unless the connection is idle or broken."""
        rollback(self._conn)

    def _before_commit(self, last_version: int) -> None:
        """Tell listening readers; PostgreSQL delivers it only if the write commits."""
        self._conn.execute("SELECT pg_notify(%s, %s)", (self.channel, str(last_version)))

    def wait_for_change(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a pushed write; True when one came (or may have)."""
        with self._lock, self._errors():
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
        with self._lock, self._errors():
            yield self._conn

    @contextmanager
    def _reading(self) -> Iterator[psycopg.Connection]:
        """One read-only transaction: every query inside sees the same committed state."""
        with self._lock, self._errors():
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
