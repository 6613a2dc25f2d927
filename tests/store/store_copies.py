"""Older copies of a store, put back later: a restore from a backup, for every backend.

SQLite copies go through SQLite's backup API (what the shell's `.backup` and `.restore`
do: the live file keeps its inode, and its readers see the old copy's pages). PostgreSQL
copies are `pg_dump -n <schema>` archives; putting one back drops the schema and runs
`pg_restore`, as an operator would.
"""

from __future__ import annotations

import glob
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import psycopg
from psycopg import sql


def _pg_tool(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else name


def _schema(url: str) -> str:
    with psycopg.connect(url) as conn:
        (schema,) = conn.execute("SELECT current_schema()").fetchone()
    return schema


def take_copy(backend: str, url: str, copy: Path) -> Path:
    """Copy the store at `url` to the file `copy`, as it stands now."""
    if backend == "sqlite":
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as src, \
                closing(sqlite3.connect(copy)) as dst:
            src.backup(dst)
    else:
        subprocess.run([_pg_tool("pg_dump"), "-Fc", "-n", _schema(url), "-f", str(copy),
                        "-d", url], check=True, capture_output=True, timeout=60)
    return copy


def restore_copy(backend: str, url: str, copy: Path) -> None:
    """Put a copy taken by `take_copy` back in place of the store at `url`."""
    if backend == "sqlite":
        with closing(sqlite3.connect(copy)) as src, \
                closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as dst:
            src.backup(dst)
        return
    schema = _schema(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    subprocess.run([_pg_tool("pg_restore"), "-d", url, str(copy)], check=True,
                   capture_output=True, timeout=60)


def run_sql(backend: str, url: str, statement: str, params: tuple = ()) -> None:
    """Run one statement on a plain driver connection and commit it (a hand-made change)."""
    if backend == "sqlite":
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            conn.execute(statement.replace("%s", "?"), params)
            conn.commit()
    else:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(statement, params)
