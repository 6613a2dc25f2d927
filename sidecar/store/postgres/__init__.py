"""The PostgreSQL consent store backend (psycopg 3): for a fleet of sidecars on one store."""

from .dialect import POSTGRES
from .store import PostgresStore

__all__ = ["POSTGRES", "PostgresStore"]
