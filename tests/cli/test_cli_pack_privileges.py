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
