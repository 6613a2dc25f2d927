"""Contract: opening never creates a store by accident, init creates or migrates, and the
history cannot be rewritten, not even with SQL, for every backend.

The place a store lives in is an SQLite file or a PostgreSQL schema; each backend's own
mechanisms (missing files, replaced files, WAL; missing schemas, concurrent inits, URL
schemes) are proved in test_sqlite_opening.py and test_postgres_opening.py.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import psycopg
import pytest

from sidecar.core.model import Effect
from sidecar.policy_files import load_policy
from sidecar.store import ConsentRequest, StoreUnavailableError, open_store
from sidecar.store.postgres.dialect import SCHEMA as POSTGRES_SCHEMA
from sidecar.store.sql.migrations import Migration, latest
from sidecar.store.sqlite.dialect import SCHEMA as SQLITE_SCHEMA

POLICY = load_policy()
MARKS = {"sqlite": SQLITE_SCHEMA, "postgres": POSTGRES_SCHEMA}
EMPTY = {"sqlite": r"holds no consent store \(empty database\)",
         "postgres": "holds no consent store .* is empty"}
FOREIGN = {"sqlite": "not a maytrain consent store; it was left untouched",
           "postgres": "no maytrain consent store; it was left untouched"}
REFUSED = {"sqlite": sqlite3.DatabaseError, "postgres": psycopg.errors.RestrictViolation}
SET_SCHEMA_VERSION = {"sqlite": "PRAGMA user_version = {}",
                      "postgres": "UPDATE maytrain_schema SET version = {}"}


def _sql(backend: str, url: str, statement: str) -> None:
    """Run one statement on a plain driver connection, committing it."""
    if backend == "sqlite":
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            conn.execute(statement)
            conn.commit()
    else:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(statement)


def _tables(backend: str, url: str) -> list[str]:
    """The tables the store's place holds (none for a missing SQLite file)."""
    if backend == "sqlite":
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            return []
        with closing(sqlite3.connect(path)) as conn:
            return [r[0] for r in conn.execute("SELECT name FROM sqlite_master "
                                               "WHERE type = 'table'")]
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace")]


@pytest.fixture
def empty_url(backend: str, store_url: str) -> str:
    """The store URL of an empty place: a zero-byte SQLite file, a new PostgreSQL schema."""
    if backend == "sqlite":
        Path(store_url.removeprefix("sqlite:///")).touch()
    return store_url


def test_opening_an_empty_place_without_create_raises_and_creates_nothing(backend, empty_url):
    """A reader must never put an empty store in place of a missing one."""
    with pytest.raises(StoreUnavailableError, match=EMPTY[backend] + ".*maytrain store init"):
        open_store(empty_url, policy=POLICY)
    assert _tables(backend, empty_url) == []


def test_init_on_an_empty_place_creates_the_store(backend, empty_url):
    """init creates every table and marks the place as a maytrain store."""
    newest = latest(MARKS[backend])
    with open_store(empty_url, create=True, policy=POLICY) as store:
        assert (store.migration.schema_before, store.migration.schema_after) == (0, newest)
        assert store.schema_version() == newest and store.version() == 0
    assert {"accounts", "consent_entries", "erasures", "changes"} <= set(_tables(backend,
                                                                                 empty_url))


def test_a_foreign_place_is_refused_even_with_create(backend, store_url):
    """init never reshapes someone else's tables."""
    _sql(backend, store_url, "CREATE TABLE things (x int)")
    for create in (False, True):
        with pytest.raises(StoreUnavailableError, match=FOREIGN[backend]):
            open_store(store_url, create=create, policy=POLICY)
    assert _tables(backend, store_url) == ["things"]


def test_a_store_from_a_newer_maytrain_is_refused(backend, store_url, store):
    """Never guess at a schema this version does not know."""
    store.close()
    _sql(backend, store_url, SET_SCHEMA_VERSION[backend].format(latest(MARKS[backend]) + 1))
    for create in (False, True):
        with pytest.raises(StoreUnavailableError, match="newer than this maytrain"):
            open_store(store_url, create=create, policy=POLICY)


def test_rerunning_init_is_harmless(store_url, store, account):
    """A second init migrates nothing and keeps every row and the version."""
    before = store.snapshot()
    with open_store(store_url, create=True, policy=POLICY) as again:
        assert not again.migration.changed
        assert again.snapshot() == before


def test_a_new_schema_version_is_applied_by_init_only_and_keeps_the_data(
        backend, store_url, store, account, monkeypatch):
    """A reader refuses an older schema; init applies the pending migration, data intact."""
    store.close()
    marks = MARKS[backend]
    shipped, newest = marks.migrations(), latest(marks)
    added = Migration(newest + 1, f"{newest + 1:04d}_test.sql",
                      "ALTER TABLE accounts ADD COLUMN note text;")
    monkeypatch.setattr(marks, "migrations", lambda: [*shipped, added])
    with pytest.raises(StoreUnavailableError, match="run `maytrain store init` to migrate"):
        open_store(store_url, policy=POLICY)
    with open_store(store_url, create=True, policy=POLICY) as migrated:
        assert (migrated.migration.schema_before,
                migrated.migration.schema_after) == (newest, newest + 1)
        assert migrated.account(account) is not None and migrated.version() == 1
    open_store(store_url, policy=POLICY).close()


@pytest.mark.parametrize("statement", [
    "DELETE FROM erasures", "DELETE FROM changes", "DELETE FROM accounts",
    "DELETE FROM consent_entries", "UPDATE changes SET changed_by = 'x'",
])
def test_consent_history_cannot_be_deleted_even_with_sql(backend, store_url, store, account,
                                                         statement):
    """Triggers keep the history append-only, whatever a client sends."""
    store.request_erasure(account, actor="t")
    store.record_consent(_opt_out(account), actor="t")
    before = store.snapshot()
    with pytest.raises(REFUSED[backend], match="never deleted|append-only"):
        _sql(backend, store_url, statement)
    assert store.version() == 3
    assert store.snapshot() == before


def _opt_out(account: str) -> ConsentRequest:
    return ConsentRequest(account, "service_generated", "ai", Effect.OPT_OUT)
