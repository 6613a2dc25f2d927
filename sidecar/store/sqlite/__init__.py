"""The embedded SQLite consent store backend (the default)."""

from .dialect import SQLITE
from .store import SqliteStore, sqlite_url

__all__ = ["SQLITE", "SqliteStore", "sqlite_url"]
