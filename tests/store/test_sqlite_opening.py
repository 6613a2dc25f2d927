"""SQLite backend: what only a file-backed store has to prove when it opens (a missing,
garbage or replaced file; WAL and the file's marks; URLs; whole-statement schema files).
The scenarios every backend shares are in test_store_opening.py."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing

import pytest

from sidecar.policy_files import load_policy
from sidecar.store import StoreError, StoreUnavailableError, open_store
from sidecar.store.sql.migrations import latest
from sidecar.store.sqlite.dialect import APPLICATION_ID, SCHEMA, split_statements

POLICY = load_policy()
LATEST = latest(SCHEMA)


@pytest.fixture
def backend() -> str:
    """These tests are about the SQLite backend only."""
    return "sqlite"


def _url(path) -> str:
    return f"sqlite:///{path}"


def test_opening_a_missing_file_raises_and_creates_nothing(tmp_path):
    """A reader must never put an empty store in place of a missing one."""
    with pytest.raises(StoreUnavailableError, match="no consent store at .*maytrain store init"):
        open_store(_url(tmp_path / "missing.db"), policy=POLICY)
    assert list(tmp_path.iterdir()) == []


def test_opening_a_garbage_file_raises_and_leaves_it_untouched(tmp_path):
    """A file replaced by garbage is unavailable, not silently re-created."""
    path = tmp_path / "consent.db"
    path.write_bytes(b"not a database, just bytes " * 200)
    for create in (False, True):
        with pytest.raises(StoreUnavailableError, match="not a readable consent store"):
            open_store(_url(path), create=create, policy=POLICY)
    assert path.read_bytes() == b"not a database, just bytes " * 200
    assert [p.name for p in tmp_path.iterdir()] == ["consent.db"]


def test_migration_from_an_empty_file_creates_a_wal_store(store_url):
    """init on a new file creates the schema, marks the file and turns on WAL."""
    with open_store(store_url, create=True, policy=POLICY) as store:
        assert (store.migration.schema_before, store.migration.schema_after) == (0, LATEST)
        assert store.schema_version() == LATEST
    with closing(sqlite3.connect(store_url.removeprefix("sqlite:///"))) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


@pytest.mark.parametrize("url", ["mysql://x", "sqlite://relative.db", "sqlite:///", "x.db",
                                 "sqlite:///a.db?mode=ro"])
def test_unsupported_store_urls_are_refused(url):
    """Only sqlite:///relative and sqlite:////absolute paths are understood."""
    with pytest.raises(StoreError, match="store URL"):
        open_store(url, policy=POLICY)


def test_relative_urls_resolve_against_the_working_directory(tmp_path, monkeypatch):
    """sqlite:///name.db is a file in the current directory."""
    monkeypatch.chdir(tmp_path)
    open_store("sqlite:///here.db", create=True, policy=POLICY).close()
    assert (tmp_path / "here.db").is_file()


def test_schema_files_split_into_whole_statements():
    """Triggers, with semicolons inside BEGIN ... END, stay one statement."""
    text = "-- c\nCREATE TABLE t (x);\nCREATE TRIGGER g BEFORE DELETE ON t\nBEGIN\n" \
           "  SELECT RAISE(ABORT, 'no');\nEND;\n-- trailing comment\n"
    statements = split_statements(text)
    assert len(statements) == 2
    assert statements[1].endswith("END;")


def test_a_store_file_replaced_while_open_is_reported_unavailable(store_url, store, account):
    """An open connection would go on reading the old file; the store notices and refuses."""
    path = store_url.removeprefix("sqlite:///")
    replacement = path + ".new"
    with open(replacement, "wb") as garbage:
        garbage.write(b"garbage" * 100)
    os.replace(replacement, path)
    with pytest.raises(StoreUnavailableError, match="removed or replaced"):
        store.version()
