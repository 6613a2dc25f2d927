"""The chained change log in SQL: the chain at a version, before a write, and the migration
step that gives an older store its id and chains its log (sidecar/store/chain.py hashes).

A change whose chain column is NULL (a row written by hand) reads as chained '': it never
verifies, so a follower that meets it reloads, and the next write chains on from ''.
"""

from __future__ import annotations

import secrets
from contextlib import closing
from typing import Any

from ...core.model import Change
from ..chain import chained, genesis
from .columns import FEED_COLUMNS, listed, row_from_change
from .dialect import SqlDialect

MIGRATION_PAGE = 10_000


def _latest_chain(condition: str) -> str:
    """A query for the chain of the latest change meeting `condition` (no row: NULL)."""
    return (f"(SELECT coalesce(chain, '') FROM changes WHERE {condition} "
            "ORDER BY version DESC LIMIT 1)")


_STORE_ID = "(SELECT store_id FROM store_identity WHERE id = 1)"


def chain_at(conn: Any, dialect: SqlDialect, version: int) -> str | None:
    """The store's chain at `version` (of its latest change numbered <= it), or None when
    the store's counter is below `version` (it went backwards); one statement, so one state."""
    p = dialect.param
    counter, chain, store_id = conn.execute(
        f"SELECT version, {_latest_chain(f'version <= {p}')}, {_STORE_ID} "
        "FROM consent_version WHERE id = 1", (version,)).fetchone()
    if version < 0 or version > counter:
        return None
    return genesis(store_id or "") if chain is None else chain


def chain_before(conn: Any, dialect: SqlDialect, version: int) -> str:
    """The chain a change numbered `version` follows: that of the latest change below it."""
    chain, store_id = conn.execute(
        f"SELECT {_latest_chain(f'version < {dialect.param}')}, {_STORE_ID}",
        (version,)).fetchone()
    return genesis(store_id or "") if chain is None else chain


def chain_changes(conn: Any, dialect: SqlDialect) -> None:
    """Migration step: make the store's random id, then chain every change already logged,
    in version order, a page at a time (a large log is never held in memory at once)."""
    p = dialect.param
    store_id = secrets.token_hex(16)
    conn.execute(f"INSERT INTO store_identity (id, store_id) VALUES (1, {p})", (store_id,))
    previous, after = genesis(store_id), 0
    while True:
        page = [Change(record["version"], row_from_change(record)) for record in
                dialect.named_rows(conn, f"SELECT {listed(FEED_COLUMNS)} FROM changes "
                                         f"WHERE version > {p} ORDER BY version LIMIT {p}",
                                   (after, MIGRATION_PAGE)).fetchall()]
        if not page:
            return
        linked = list(chained(previous, page))
        with closing(conn.cursor()) as cursor:
            cursor.executemany(f"UPDATE changes SET chain = {p} WHERE version = {p}",
                               [(change.chain, change.version) for change in linked])
        previous, after = linked[-1].chain, linked[-1].version
