"""SQLite backend: opening never creates a store by accident; init creates or migrates."""

from __future__ import annotations

import os
import sqlite3

import pytest

from sidecar.policy_files import load_policy
from sidecar.store import StoreError, StoreUnavailableError, open_store
from sidecar.store.sqlite import migrations
from sidecar.store.sqlite.migrations import APPLICATION_ID, LATEST, split_statements

POLICY = load_policy()

SHIPPED = migrations.migrations()


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


def test_opening_an_empty_file_without_create_raises(tmp_path):
    """A zero-byte file holds no store; only init may build one in it."""
    path = tmp_path / "consent.db"
    path.touch()
    with pytest.raises(StoreUnavailableError, match="holds no consent store"):
        open_store(_url(path), policy=POLICY)
    with open_store(_url(path), create=True, policy=POLICY) as store:
        assert store.version() == 0


def test_a_foreign_sqlite_database_is_refused_even_with_create(tmp_path):
    """init never reshapes someone else's database."""
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE things (x)")
    conn.close()
    with pytest.raises(StoreUnavailableError, match="not a maytrain consent store"):
        open_store(_url(path), create=True, policy=POLICY)


def test_a_store_from_a_newer_maytrain_is_refused(tmp_path, store_url, store):
    """Never guess at a schema this version does not know."""
    store.close()
    path = store_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    conn.close()
    for create in (False, True):
        with pytest.raises(StoreUnavailableError, match="newer than this maytrain"):
            open_store(store_url, create=create, policy=POLICY)


def test_migration_from_an_empty_file_creates_a_wal_store(store_url):
    """init on a new file creates the schema, marks the file and turns on WAL."""
    with open_store(store_url, create=True, policy=POLICY) as store:
        assert (store.migration.schema_before, store.migration.schema_after) == (0, LATEST)
        assert store.schema_version() == LATEST
    with sqlite3.connect(store_url.removeprefix("sqlite:///")) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    conn.close()


def test_rerunning_init_is_harmless(store_url, store, account):
    """A second init migrates nothing and keeps every row and the version."""
    before = store.snapshot()
    with open_store(store_url, create=True, policy=POLICY) as again:
        assert not again.migration.changed
        assert again.snapshot() == before


def test_consent_history_cannot_be_deleted_even_with_sql(store_url, store, account):
    """Triggers keep the history append-only, whatever a client sends."""
    store.request_erasure(account, actor="t")
    with sqlite3.connect(store_url.removeprefix("sqlite:///")) as conn:
        for table in ("erasures", "changes", "accounts"):
            with pytest.raises(sqlite3.DatabaseError, match="never deleted|append-only"):
                conn.execute(f"DELETE FROM {table}")
    conn.close()


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


def test_a_new_schema_version_is_applied_by_init_only_and_keeps_the_data(
        store_url, store, account, monkeypatch):
    """A reader refuses an older schema; init applies the pending migration, data intact."""
    store.close()
    added = migrations.Migration(2, "0002_test.sql", "ALTER TABLE accounts ADD COLUMN note TEXT;")
    monkeypatch.setattr(migrations, "migrations", lambda: [*SHIPPED, added])
    monkeypatch.setattr(migrations, "LATEST", 2)
    with pytest.raises(StoreUnavailableError, match="run `maytrain store init` to migrate"):
        open_store(store_url, policy=POLICY)
    with open_store(store_url, create=True, policy=POLICY) as migrated:
        assert (migrated.migration.schema_before, migrated.migration.schema_after) == (1, 2)
        assert migrated.account(account) is not None and migrated.version() == 1
    open_store(store_url, policy=POLICY).close()
