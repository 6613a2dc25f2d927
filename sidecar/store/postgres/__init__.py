"""The PostgreSQL consent store backend (psycopg 3): for a fleet of sidecars on one store."""

from .store import PostgresStore
from .versions import LockedVersions, VersionAllocator, bump_counter

__all__ = ["LockedVersions", "PostgresStore", "VersionAllocator", "bump_counter"]
