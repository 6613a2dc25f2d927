"""The embedded SQLite consent store backend (the default)."""

from .store import SqliteStore, sqlite_url
from .versions import LockedVersions, VersionAllocator, bump_counter

__all__ = ["LockedVersions", "SqliteStore", "VersionAllocator", "bump_counter", "sqlite_url"]
