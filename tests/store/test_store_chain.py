"""Contract: the change feed is hash-chained, for every backend. Each change links to the
one before it from the store's own genesis; a snapshot carries the chain at its version;
a restored, re-made or forked store has another chain (or no version) where a follower
was; a change numbered above the counter is refused, and the next write numbers past it.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

import psycopg
import pytest
from psycopg import sql
from store_copies import restore_copy, run_sql, take_copy

from sidecar.core.model import Effect
from sidecar.policy_files import load_policy
from sidecar.store import AccountRequest, ConsentRequest, StoreError, open_store, writing
from sidecar.store.chain import chained, genesis
from sidecar.store.sql.migrations import latest

POLICY = load_policy()
ABOVE = ("INSERT INTO changes (version, kind, changed_at, changed_by, id, account_id, "
         "created, row_version) VALUES (%s, 'account', 0, 'hand', 'ghost', 'ghost', 0, %s)")


def _grant(account: str, entry_id: str = "", **fields) -> ConsentRequest:
    return ConsentRequest(account, "customer_content", "ai.training", Effect.GRANT,
                          entry_id=entry_id, **fields)


def _opt_out(account: str) -> ConsentRequest:
    return ConsentRequest(account, "service_generated", "ai", Effect.OPT_OUT)


def _store_id(backend: str, url: str) -> str:
    statement = "SELECT store_id FROM store_identity WHERE id = 1"
    if backend == "sqlite":
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            return conn.execute(statement).fetchone()[0]
    with psycopg.connect(url) as conn:
        return conn.execute(statement).fetchone()[0]


def _assert_linked(store, backend: str, url: str) -> None:
    """Every change links to the one before it, from the store's genesis, and chain_at
    agrees with the feed at every version."""
    feed = store.changes_since(0, limit=100_000)
    start = genesis(_store_id(backend, url))
    assert [c.chain for c in chained(start, feed)] == [c.chain for c in feed]
    assert store.chain_at(0) == start
    assert all(store.chain_at(c.version) == c.chain for c in feed)


def test_every_change_is_chained_to_the_one_before_it(backend, store_url, store, account):
    """Each kind of write (add, update, grant, withdraw, erasure) links to the last."""
    grant = store.record_consent(_grant(account), actor="t")
    store.update_account(account, "FR", actor="t")
    store.withdraw(grant.row_id, actor="t")
    store.request_erasure(account, "u1", actor="t")
    assert all(len(c.chain) == 64 for c in store.changes_since(0))
    _assert_linked(store, backend, store_url)


def test_a_bulk_write_in_slices_is_chained_across_slices_and_kinds(
        backend, store_url, store, monkeypatch):
    """Imports insert each kind of row apart, a slice at a time: the chain still runs in
    version order."""
    monkeypatch.setattr(writing, "WRITE_SLICE", 2)
    store.write([AccountRequest("a"), _grant("a"), AccountRequest("b"), _grant("b"),
                 _grant("a")], actor="t")
    store.record_consent(_opt_out("b"), actor="t")
    _assert_linked(store, backend, store_url)


def test_a_snapshot_carries_the_chain_at_its_version(store, account):
    store.record_consent(_grant(account), actor="t")
    snapshot = store.snapshot()
    assert snapshot.version == 2
    assert snapshot.chain == store.chain_at(2) == store.changes_since(1)[0].chain


def test_an_empty_store_is_at_its_genesis(backend, store_url, store):
    assert store.snapshot().chain == store.chain_at(0) == genesis(_store_id(backend,
                                                                            store_url))


def test_no_chain_for_a_version_the_store_has_not_reached(store, account):
    """A follower ahead of the store (it went backwards) gets None, not a guess."""
    assert store.chain_at(1) is not None
    assert store.chain_at(2) is None and store.chain_at(-1) is None


def test_two_stores_made_with_the_same_changes_have_different_chains(new_store_url, clock):
    """Re-making a store (or making another) at the same versions, with the same rows,
    still gives another history: each store's genesis comes from its own random id."""
    made = []
    for _ in range(2):
        with open_store(new_store_url(), create=True, policy=POLICY, clock=clock) as store:
            store.write([AccountRequest("acme", "DE"), _grant("acme", "g1")], actor="t")
            made.append(store.changes_since(0))
    assert [c.row for c in made[0]] == [c.row for c in made[1]]
    assert made[0][-1].chain != made[1][-1].chain


def test_a_restored_older_copy_has_no_chain_where_the_store_was_then_another(
        backend, store_url, store, account, tmp_path):
    """Behind: no such version. Caught up again with other changes: another chain."""
    copy = take_copy(backend, store_url, tmp_path / "backup")
    for _ in range(3):
        store.record_consent(_grant(account), actor="t")
    followed = store.chain_at(4)
    restore_copy(backend, store_url, copy)
    with open_store(store_url, policy=POLICY) as restored:
        assert restored.version() == 1 and restored.chain_at(4) is None
        assert restored.chain_at(1) == store.changes_since(0)[0].chain
        for _ in range(3):
            restored.record_consent(_opt_out(account), actor="t")
        assert restored.chain_at(4) not in (None, followed)
        _assert_linked(restored, backend, store_url)


def test_a_change_above_the_counter_is_refused_and_the_next_write_numbers_past_it(
        backend, store_url, store, account):
    run_sql(backend, store_url, ABOVE, (50, 50))
    assert store.version() == 1
    with pytest.raises(StoreError, match="holds version 50, above the store's version "
                                         "counter 1"):
        store.changes_since(0)
    result = store.record_consent(_opt_out(account), actor="t")
    assert result.version == 51 and store.version() == 51
    assert [c.version for c in store.changes_since(0)] == [1, 50, 51]
    assert store.chain_at(50) == ""  # a row without a chain never verifies


def test_init_chains_the_log_of_a_store_from_before_the_chain(
        backend, new_store_url, store_url, store, account, monkeypatch):
    """Migrating a schema 1 store gives it an id and chains every change it holds, in
    order; the log is append-only again afterwards, and later writes chain on."""
    store.record_consent(_grant(account), actor="t")
    store.update_account(account, "FR", actor="t")
    old_url = _schema_1_copy(backend, store, store_url, new_store_url(), monkeypatch)
    with open_store(old_url, create=True, policy=POLICY) as migrated:
        assert migrated.migration.schema_before == 1
        assert migrated.migration.schema_after == latest(store.marks)
        assert [c.row for c in migrated.changes_since(0)] == [
            c.row for c in store.changes_since(0)]
        migrated.record_consent(_opt_out(account), actor="t")
        _assert_linked(migrated, backend, old_url)
    with pytest.raises((sqlite3.DatabaseError, psycopg.Error), match="append-only"):
        run_sql(backend, old_url, "UPDATE changes SET chain = 'x'")


def _schema_1_copy(backend: str, store, source: str, target: str, monkeypatch) -> str:
    """A schema 1 store at `target` holding the rows (and log) of the store at `source`."""
    shipped = store.marks.migrations()
    with monkeypatch.context() as patched:
        patched.setattr(store.marks, "migrations", lambda: shipped[:1])
        open_store(target, create=True, policy=POLICY).close()
    tables = {"consent_version": "id, version", "accounts": "id, region, created, version",
              "consent_entries": None, "erasures": None, "changes": None}
    if backend == "sqlite":
        with closing(sqlite3.connect(target.removeprefix("sqlite:///"))) as conn:
            conn.execute("ATTACH DATABASE ? AS source", (source.removeprefix("sqlite:///"),))
            conn.execute("DELETE FROM main.consent_version")
            for table, columns in tables.items():
                listed = columns or _columns_of(conn, table)
                conn.execute(f"INSERT INTO main.{table} ({listed}) "
                             f"SELECT {listed} FROM source.{table}")
            conn.commit()
        return target
    with psycopg.connect(target, autocommit=True) as conn:
        (schema,) = conn.execute("SELECT current_schema()").fetchone()
    with psycopg.connect(source) as conn:
        (origin,) = conn.execute("SELECT current_schema()").fetchone()
        conn.execute(sql.SQL("DELETE FROM {}.consent_version").format(sql.Identifier(schema)))
        for table, columns in tables.items():
            listed = columns or ", ".join(_pg_columns(conn, schema, table))
            conn.execute(sql.SQL("INSERT INTO {}.{} ({}) SELECT {} FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(table), sql.SQL(listed),
                sql.SQL(listed), sql.Identifier(origin), sql.Identifier(table)))
    return target


def _columns_of(conn: sqlite3.Connection, table: str) -> str:
    return ", ".join(row[1] for row in conn.execute(f"PRAGMA main.table_info({table})"))


def _pg_columns(conn: psycopg.Connection, schema: str, table: str) -> list[str]:
    return [row[0] for row in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND "
        "table_name = %s AND is_generated = 'NEVER' AND identity_generation IS NULL "
        "ORDER BY ordinal_position", (schema, table))]
