"""On PostgreSQL, a writer role granted what docs/postgres.md says writers need (SELECT,
INSERT, UPDATE) imports but may not replace the packed base: the import stands and warns,
and `maytrain store pack` fails with the server's reason, changing nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from postgres_support import server_url, temporary_database, unique_name
from psycopg import sql

ROWS = [{"type": "account", "account": "acme", "region": "DE"},
        {"type": "grant", "account": "acme", "category": "customer_content", "purpose": "ai"}]


@contextmanager
def writer_role(store_url: str) -> Iterator[str]:
    """The store's URL as a role with SELECT, INSERT and UPDATE on its tables, no DELETE."""
    role = unique_name("maytrain_writer")
    with psycopg.connect(store_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        admin.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(role)))
        admin.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {}")
                      .format(sql.Identifier(role)))
        admin.execute(sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {}")
                      .format(sql.Identifier(role)))
    try:
        yield store_url.replace("://postgres@", f"://{role}@")
    finally:
        with psycopg.connect(store_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_writer_without_the_packs_privileges_imports_and_is_told_why_it_was_not_packed(
        maytrain, tmp_path) -> None:
    (tmp_path / "bulk.jsonl").write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    with temporary_database(server_url(), "maytrain_pack") as url:
        assert maytrain("store", "init", "--store", url).code == 0
        assert maytrain("store", "pack", "--store", url).code == 0  # a base at version 0
        with writer_role(url) as writer:
            imported = maytrain("import", "bulk.jsonl", "--store", writer, "--json")
            assert imported.code == 0, imported.err
            assert imported.json()["consent_version"] == 2
            assert imported.json()["packed_version"] is None
            assert "the import is committed, but the store was not packed" in imported.err
            assert "permission denied" in imported.err and "store pack" in imported.err

            packed = maytrain("store", "pack", "--store", writer)
            assert packed.code == 1 and "permission denied" in packed.err
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT version FROM packed_base").fetchone() == (0,)


def test_a_sidecar_role_that_may_not_read_the_base_starts_from_the_rows(caplog) -> None:
    """A read-only role granted table by table before schema 3 has no SELECT on the packed
    base: the cold start says so and reads the rows, rather than never serving."""
    import logging

    from sidecar.policy_files import load_policy
    from sidecar.store import AccountRequest, open_store
    from sidecar.sync import StoreFollower

    with temporary_database(server_url(), "maytrain_pack") as url:
        with open_store(url, create=True, policy=load_policy()) as store:
            store.write([AccountRequest("acme", "DE")], actor="t")
            store.pack()
        role = unique_name("maytrain_reader")
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
            tables = [name for (name,) in admin.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename NOT LIKE 'packed_base%'")]
            admin.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(
                sql.SQL(", ").join(map(sql.Identifier, tables)), sql.Identifier(role)))
        try:
            reader_url = url.replace("://postgres@", f"://{role}@")
            caplog.set_level(logging.INFO, "maytrain.sync")
            follower = StoreFollower(lambda: open_store(reader_url, policy=load_policy()))
            try:
                follower.refresh()
                assert follower.last_error == ""
                assert follower.index is not None
                assert follower.index.state("acme").account is not None
                assert "packed base was not used" in caplog.text
                assert "permission denied" in caplog.text
            finally:
                follower.close()
        finally:
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
                admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
