"""PostgreSQL backend: opening never creates a store by accident; init creates or migrates;
the history cannot be rewritten, not even with SQL."""

from __future__ import annotations

import threading

import psycopg
import pytest
from postgres_support import with_schema

from sidecar.policy_files import load_policy
from sidecar.store import StoreError, StoreUnavailableError, open_store
from sidecar.store.postgres import migrations
from sidecar.store.postgres.migrations import LATEST

POLICY = load_policy()

SHIPPED = migrations.migrations()


@pytest.fixture
def backend() -> str:
    """These tests are about the PostgreSQL backend only."""
    return "postgres"


def _sql(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


def _tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace")]


def test_opening_an_empty_schema_raises_and_creates_nothing(store_url):
    """A reader must never put an empty store in place of a missing one."""
    with pytest.raises(StoreUnavailableError, match="holds no consent store .* is empty.*"
                                                    "maytrain store init"):
        open_store(store_url, policy=POLICY)
    assert _tables(store_url) == []


def test_a_schema_missing_from_the_server_is_named(postgres_database):
    """A search_path naming no existing schema says what to fix."""
    with pytest.raises(StoreUnavailableError, match="no schema on the search_path exists"):
        open_store(with_schema(postgres_database, "no_such_schema"), create=True, policy=POLICY)


def test_a_foreign_schema_is_refused_even_with_create(store_url):
    """init never reshapes someone else's tables."""
    _sql(store_url, "CREATE TABLE things (x int)")
    for create in (False, True):
        with pytest.raises(StoreUnavailableError, match="no maytrain consent store; it was "
                                                        "left untouched"):
            open_store(store_url, create=create, policy=POLICY)
    assert _tables(store_url) == ["things"]


def test_a_store_from_a_newer_maytrain_is_refused(store_url, store):
    """Never guess at a schema this version does not know."""
    _sql(store_url, f"UPDATE maytrain_schema SET version = {LATEST + 1}")
    for create in (False, True):
        with pytest.raises(StoreUnavailableError, match="newer than this maytrain"):
            open_store(store_url, create=create, policy=POLICY)


def test_init_on_an_empty_schema_creates_the_store(store_url):
    """init creates every table and marks the schema as a maytrain store."""
    with open_store(store_url, create=True, policy=POLICY) as store:
        assert (store.migration.schema_before, store.migration.schema_after) == (0, LATEST)
        assert store.schema_version() == LATEST and store.version() == 0
    assert {"accounts", "consent_entries", "erasures", "changes"} <= set(_tables(store_url))


def test_rerunning_init_is_harmless(store_url, store, account):
    """A second init migrates nothing and keeps every row and the version."""
    before = store.snapshot()
    with open_store(store_url, create=True, policy=POLICY) as again:
        assert not again.migration.changed
        assert again.snapshot() == before


def test_concurrent_inits_apply_each_migration_once(store_url):
    """Two `store init` runs at once: one creates the schema, the other finds it current."""
    results, start = [], threading.Barrier(2)

    def init() -> None:
        start.wait()
        with open_store(store_url, create=True, policy=POLICY) as store:
            results.append(store.migration.schema_after)

    threads = [threading.Thread(target=init) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == [LATEST, LATEST]


@pytest.mark.parametrize("statement", [
    "DELETE FROM erasures", "DELETE FROM changes", "DELETE FROM accounts",
    "DELETE FROM consent_entries", "UPDATE changes SET changed_by = 'x'",
    "TRUNCATE changes", "TRUNCATE accounts CASCADE",
])
def test_consent_history_cannot_be_deleted_even_with_sql(store_url, store, account, statement):
    """Triggers keep the history append-only, whatever a client sends."""
    store.request_erasure(account, actor="t")
    with pytest.raises(psycopg.errors.RestrictViolation, match="never deleted|append-only"):
        _sql(store_url, statement)
    assert store.version() == 2


def test_a_new_schema_version_is_applied_by_init_only_and_keeps_the_data(
        store_url, store, account, monkeypatch):
    """A reader refuses an older schema; init applies the pending migration, data intact."""
    store.close()
    added = migrations.Migration(2, "0002_test.sql", "ALTER TABLE accounts ADD COLUMN note text;")
    monkeypatch.setattr(migrations, "migrations", lambda: [*SHIPPED, added])
    monkeypatch.setattr(migrations, "LATEST", 2)
    with pytest.raises(StoreUnavailableError, match="run `maytrain store init` to migrate"):
        open_store(store_url, policy=POLICY)
    with open_store(store_url, create=True, policy=POLICY) as migrated:
        assert (migrated.migration.schema_before, migrated.migration.schema_after) == (1, 2)
        assert migrated.account(account) is not None and migrated.version() == 1
    open_store(store_url, policy=POLICY).close()


@pytest.mark.parametrize("url", ["postgres", "postgresql"])
def test_both_url_schemes_open_the_same_store(store_url, store, account, url):
    """postgres:// is libpq's other spelling of postgresql://."""
    other = f"{url}://" + store_url.split("://", 1)[1]
    with open_store(other, policy=POLICY) as opened:
        assert opened.account(account) is not None


def test_a_missing_database_is_unavailable(postgres_server):
    """The error names the store (masked) and what the server said."""
    url = postgres_server.rsplit("/", 1)[0] + "/maytrain_no_such_database"
    with pytest.raises(StoreUnavailableError, match='database "maytrain_no_such_database" '
                                                    "does not exist"):
        open_store(url, policy=POLICY)


def test_a_malformed_url_is_a_store_error(postgres_server):
    """libpq's complaint is passed on, credentials removed."""
    with pytest.raises(StoreError, match="bad PostgreSQL store URL .*bogus"):
        open_store(postgres_server + "?bogus=1", policy=POLICY)
