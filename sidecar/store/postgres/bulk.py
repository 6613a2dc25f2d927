"""How PostgreSQL writes a slice of new rows: COPY, for the rows and their chained log records."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import psycopg

from ...core.model import Micros
from ..sql.columns import CHANGE_COLUMNS, COLUMNS, TABLES, change_record, listed, picker
from ..sql.writes import NewRow


def copy_rows(conn: psycopg.Connection, kind: str, rows: Sequence[NewRow], now: Micros,
              actor: str) -> None:
    """Copy the new rows of one kind in, then their change-log records."""
    columns, logged = COLUMNS[kind], CHANGE_COLUMNS[kind]
    pick_row, pick_record = picker(columns), picker(logged)
    _copy(conn, TABLES[kind], columns, (pick_row(values) for _, _, values in rows))
    _copy(conn, "changes", logged,
          (pick_record(change_record(kind, version, values, now, actor, chain))
           for version, chain, values in rows))


def _copy(conn: psycopg.Connection, table: str, columns: Sequence[str],
          rows: Iterable[tuple]) -> None:
    # COPY sends a slice of 20,000 rows in one stream instead of one statement per row.
    with conn.cursor() as cursor, \
            cursor.copy(f"COPY {table} ({listed(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
