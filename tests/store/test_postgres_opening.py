"""PostgreSQL backend: what only a store in a server's schema has to prove when it opens
(a schema missing from the server, concurrent inits under the advisory lock, TRUNCATE,
URL schemes, a missing database). The scenarios every backend shares are in
test_store_opening.py."""

from __future__ import annotations

import threading

import psycopg
import pytest
from postgres_support import with_schema

from sidecar.policy_files import load_policy
from sidecar.store import StoreError, StoreUnavailableError, open_store
from sidecar.store.postgres.dialect import SCHEMA
from sidecar.store.sql.migrations import latest

POLICY = load_policy()


@pytest.fixture
def backend() -> str:
    """These tests are about the PostgreSQL backend only."""
    return "postgres"


def test_a_schema_missing_from_the_server_is_named(postgres_database):
    """A search_path naming no existing schema says what to fix."""
    with pytest.raises(StoreUnavailableError, match="no schema on the search_path exists"):
        open_store(with_schema(postgres_database, "no_such_schema"), create=True, policy=POLICY)


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
    assert results == [latest(SCHEMA), latest(SCHEMA)]


@pytest.mark.parametrize("statement", ["TRUNCATE changes", "TRUNCATE accounts CASCADE"])
def test_consent_history_cannot_be_truncated(store_url, store, account, statement):
    """Statement triggers refuse TRUNCATE too, which skips row triggers."""
    store.request_erasure(account, actor="t")
    with pytest.raises(psycopg.errors.RestrictViolation, match="never deleted|append-only"), \
            psycopg.connect(store_url, autocommit=True) as conn:
        conn.execute(statement)
    assert store.version() == 2


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
