"""Numbered schema migrations, and the rules every SQL backend keeps when applying them.

A backend ships `schema/NNNN_name.sql` files in its package; file NNNN makes schema
version NNNN. Migrations only add: a foreign or newer store is refused, never reshaped.
Each migration runs in its own transaction, under a lock that serialises concurrent
`store init` runs, so each is applied once. A backend's `SchemaMarks` say how it records
which migration was applied and how it locks.

What SQL cannot do (hash a log's rows in order) a file asks for with a line
`-- step: NAME`: the step of that name in STEPS runs there, in the same transaction.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

from ..errors import StoreUnavailableError
from ..protocol import MigrationResult
from .dialect import SqlDialect
from .history import chain_changes

_FILE = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")
_STEP = re.compile(r"^-- step: ([a-z_]+)\b.*$", re.MULTILINE)
Step = Callable[[Any, SqlDialect], None]
STEPS: dict[str, Step] = {"chain_changes": chain_changes}


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema file: its number (the schema version it makes) and its statements."""

    number: int
    name: str
    text: str

    def sections(self) -> list[tuple[str, str]]:
        """The file's SQL between its step lines, each with the step after it ('' at the end)."""
        parts = _STEP.split(self.text)
        return list(zip(parts[0::2], [*parts[1::2], ""], strict=True))


@functools.cache
def schema_files(package: str) -> tuple[Migration, ...]:
    """Every schema file shipped in `package`'s schema/ folder, in order."""
    folder = resources.files(package).joinpath("schema")
    found = [Migration(int(m.group(1)), entry.name, entry.read_text("utf-8"))
             for entry in folder.iterdir() if (m := _FILE.fullmatch(entry.name))]
    return tuple(sorted(found, key=lambda migration: migration.number))


@dataclass(frozen=True, slots=True)
class SchemaState:
    """What a store's place (a file, a schema) says about itself before any migration."""

    schema_version: int
    is_empty: bool       # nothing there yet: only init may build a store in it
    is_ours: bool        # marked as a maytrain store
    exists: bool = True  # False: there is no such place (a schema missing from the server)
    name: str = ""       # the place's own name, for messages


@dataclass(frozen=True, slots=True)
class Refusals:
    """A backend's words for a place that holds no usable store ({where}, {name} filled)."""

    empty: str
    foreign: str
    missing: str = ""


class SchemaMarks(Protocol):
    """How a backend marks its store with the last migration applied, and runs one."""

    refusals: Refusals
    dialect: SqlDialect

    def migrations(self) -> list[Migration]:
        """Every schema file the backend ships, in order."""

    def read_state(self, conn: Any) -> SchemaState:
        """The place's marks, read before any migration."""

    def prepare(self, conn: Any, state: SchemaState) -> None:
        """Whatever a place needs before its first migration (outside any transaction)."""

    def lock(self, conn: Any) -> None:
        """Open a migration's transaction, serialised against other `store init` runs."""

    def applied(self, conn: Any) -> int:
        """The last migration applied (0 for none), read under the lock."""

    def run(self, conn: Any, text: str) -> None:
        """Run the SQL statements of (a section of) a schema file."""

    def mark(self, conn: Any, number: int) -> None:
        """Mark the place as migrated to schema version `number`."""

    def rollback(self, conn: Any) -> None:
        """End a failed migration's transaction."""


def latest(marks: SchemaMarks) -> int:
    """The schema version this maytrain makes: the number of the last schema file."""
    return marks.migrations()[-1].number


def check_usable(marks: SchemaMarks, state: SchemaState, where: str, *, create: bool) -> None:
    """Refuse a place that is not (or not yet, for a reader) a current maytrain store."""
    words = marks.refusals
    if not state.exists:
        raise StoreUnavailableError(words.missing.format(where=where, name=state.name))
    if state.is_empty:
        if create:
            return
        raise StoreUnavailableError(words.empty.format(where=where, name=state.name))
    if not state.is_ours:
        raise StoreUnavailableError(words.foreign.format(where=where, name=state.name))
    check_schema_version(state.schema_version, latest(marks), where, create=create)


def check_schema_version(version: int, newest: int, where: str, *, create: bool) -> None:
    """Refuse a store newer than this maytrain, or (for a reader) one not yet migrated."""
    if version > newest:
        raise StoreUnavailableError(f"{where} has schema version {version}, newer than "
                                    f"this maytrain knows ({newest}): upgrade maytrain")
    if version < newest and not create:
        raise StoreUnavailableError(f"{where} has schema version {version}, this maytrain "
                                    f"needs {newest}: run `maytrain store init` to migrate")


def migrate(conn: Any, marks: SchemaMarks, where: str) -> MigrationResult:
    """Apply every pending migration, each in its own transaction."""
    before = marks.read_state(conn)
    check_usable(marks, before, where, create=True)
    marks.prepare(conn, before)
    for migration in marks.migrations():
        if migration.number > before.schema_version:
            _apply(conn, marks, migration)
    return MigrationResult(before.schema_version, marks.read_state(conn).schema_version)


def _apply(conn: Any, marks: SchemaMarks, migration: Migration) -> None:
    marks.lock(conn)
    try:
        # Another `store init` may have applied it while we waited for the lock.
        if marks.applied(conn) < migration.number:
            for text, step in migration.sections():
                marks.run(conn, text)
                if step:
                    STEPS[step](conn, marks.dialect)
            marks.mark(conn, migration.number)
        conn.execute("COMMIT")
    except BaseException:
        marks.rollback(conn)
        raise
