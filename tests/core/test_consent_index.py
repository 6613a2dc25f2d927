"""The consent index: built from rows, advanced by changes, never mutated in place."""

from __future__ import annotations

import pytest

from sidecar.core import Account, Change, ConsentEntry, ConsentIndex, Effect, Erasure
from sidecar.core.index import OutOfOrderChangeError


def grant(entry_id: str, account: str = "a1", user: str = "", **kw) -> ConsentEntry:
    return ConsentEntry(entry_id, account, "customer_content", "ai", Effect.GRANT,
                        user_id=user, **kw)


def test_applying_changes_equals_building_from_the_final_rows() -> None:
    start = ConsentIndex.build(1, [Account("a1", "US")], synced_at=0)
    changes = [Change(2, grant("g1")), Change(3, grant("g2", user="u1")),
               Change(4, Account("a2", "DE")), Change(5, grant("g1", ended_version=5)),
               Change(6, Erasure("x1", "a2", "u9"))]
    applied = start.apply(changes)
    fresh = ConsentIndex.build(6, [Account("a1", "US"), grant("g1", ended_version=5),
                                   grant("g2", user="u1"), Account("a2", "DE"),
                                   Erasure("x1", "a2", "u9")], synced_at=0)
    assert applied.version == fresh.version == 6
    assert sorted(map(repr, applied.rows())) == sorted(map(repr, fresh.rows()))
    assert applied.entry_count == fresh.entry_count == 2


def test_apply_leaves_the_old_index_untouched() -> None:
    old = ConsentIndex.build(1, [Account("a1", "US")])
    new = old.apply([Change(2, grant("g1"))])
    assert old.state("a1").account_scopes == () and len(new.state("a1").account_scopes) == 1
    assert old.version == 1 and new.version == 2


def test_changes_already_in_the_index_are_skipped() -> None:
    index = ConsentIndex.build(5, [Account("a1", "US"), grant("g1")])
    again = index.apply([Change(4, grant("g0")), Change(5, grant("g1"))])
    assert again.entry_count == 1 and again.version == 5


def test_a_change_out_of_order_is_refused() -> None:
    index = ConsentIndex.build(1, [Account("a1", "US")])
    with pytest.raises(OutOfOrderChangeError, match="change 2 arrived after change 3"):
        index.apply([Change(3, grant("g1")), Change(2, grant("g2"))])


def test_an_unknown_account_has_no_account_state() -> None:
    index = ConsentIndex.build(1, [grant("g1", account="ghost")])
    assert index.state("ghost").account is None and index.state("nobody").account is None


def test_erasures_mark_the_account_or_the_user() -> None:
    index = ConsentIndex.build(1, [Account("a1"), Erasure("x", "a1", "u1"), Account("a2"),
                                   Erasure("y", "a2")])
    assert index.state("a1").erased_users == {"u1"} and not index.state("a1").erased
    assert index.state("a2").erased
