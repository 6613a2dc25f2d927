"""Numbered schema migration files, and the schema-version rules every SQL backend keeps.

A backend ships `schema/NNNN_name.sql` files in its package; file NNNN makes schema
version NNNN. Migrations only add: a newer store is refused, never reshaped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from .errors import StoreUnavailableError

_FILE = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema file: its number (the schema version it makes) and its statements."""

    number: int
    name: str
    text: str


def schema_files(package: str) -> list[Migration]:
    """Every schema file shipped in `package`'s schema/ folder, in order."""
    folder = resources.files(package).joinpath("schema")
    found = [Migration(int(m.group(1)), entry.name, entry.read_text("utf-8"))
             for entry in folder.iterdir() if (m := _FILE.fullmatch(entry.name))]
    return sorted(found, key=lambda migration: migration.number)


def check_schema_version(version: int, latest: int, where: str, *, create: bool) -> None:
    """Refuse a store newer than this maytrain, or (for a reader) one not yet migrated."""
    if version > latest:
        raise StoreUnavailableError(f"{where} has schema version {version}, newer than "
                                    f"this maytrain knows ({latest}): upgrade maytrain")
    if version < latest and not create:
        raise StoreUnavailableError(f"{where} has schema version {version}, this maytrain "
                                    f"needs {latest}: run `maytrain store init` to migrate")
