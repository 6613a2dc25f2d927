"""The compact index against the plain reference: equal after any sequence of changes,
whether it is built from rows, advanced by changes, repacked or rebased."""

from __future__ import annotations

from consent_strategies import ACCOUNTS, NOW, POLICY, entries, erasures, records
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.core import Account, Change, ConsentEntry, ConsentIndex, Effect, decide_batch
from sidecar.core.compact import BaseWriter, CompactBase
from sidecar.core.index import packed_chunks
from sidecar.core.packed import CorruptRecordError
from sidecar.core.reference_index import PlainIndex

IDS = ["a1", "a2", "a3", "a4", "a5", "ghost", "nobody", ""]


def comparable(state) -> tuple:
    """What an account state holds, in a form that compares by value."""
    return (state.account, [scope.entry for scope in state.account_scopes],
            {user: [s.entry for s in scopes] for user, scopes in state.user_scopes.items()},
            state.erasures, state.erased, state.erased_users)


def assert_equal(compact: ConsentIndex, plain: PlainIndex) -> None:
    """Same version, counts, rows and per-account states (ids held or not)."""
    assert compact.version == plain.version
    assert (compact.entry_count, compact.account_count) == (plain.entry_count,
                                                            plain.account_count)
    assert compact.rows() == plain.rows()
    for account_id in {*IDS, *plain.accounts}:
        assert comparable(compact.state(account_id)) == comparable(plain.state(account_id))


def repacked(index: ConsentIndex) -> ConsentIndex:
    """The index written out as a new base, as the snapshot writer does, and rebased on it."""
    base = CompactBase(memoryview(b"".join(packed_chunks(index))))
    return index.rebased(base, index.version)


rows = st.lists(entries() | erasures(), max_size=12, unique_by=lambda r: repr(r)[:40])
new_accounts = st.builds(Account, st.sampled_from(["a1", "a6", "a7", "zz"]),
                         st.sampled_from(["US", "DE", ""]))
changes = st.lists(entries(prefix="n") | erasures("y") | new_accounts, min_size=1, max_size=8)


@settings(max_examples=150, deadline=None)
@given(rows, st.lists(changes, max_size=4), st.lists(st.booleans(), min_size=4, max_size=4))
def test_the_compact_index_equals_the_plain_one_after_any_changes(initial, batches, repack) -> None:
    compact = ConsentIndex.build(5, ACCOUNTS + initial, synced_at=NOW)
    plain = PlainIndex.build(5, ACCOUNTS + initial, synced_at=NOW)
    version = 5
    for batch, pack in zip(batches, repack, strict=False):
        numbered = [Change(version + i + 1, row) for i, row in enumerate(batch)]
        version += len(batch)
        compact, plain = compact.apply(numbered), plain.apply(numbered)
        if pack:
            compact = repacked(compact)
        assert_equal(compact, plain)
    assert_equal(compact, plain)


@settings(max_examples=100, deadline=None)
@given(rows, changes, st.lists(records, min_size=1, max_size=10))
def test_decisions_against_the_compact_index_equal_those_against_the_plain_one(
        initial, batch, recs) -> None:
    numbered = [Change(6 + i, row) for i, row in enumerate(batch)]
    compact = ConsentIndex.build(5, ACCOUNTS + initial, synced_at=NOW).apply(numbered)
    plain = PlainIndex.build(5, ACCOUNTS + initial, synced_at=NOW).apply(numbered)
    assert decide_batch(recs, compact, POLICY, NOW, explain=True) == decide_batch(
        recs, plain, POLICY, NOW, explain=True)  # type: ignore[arg-type]


def test_a_change_leaves_the_base_and_the_old_index_untouched() -> None:
    old = ConsentIndex.build(1, ACCOUNTS)
    entry = ConsentEntry("g1", "a1", "customer_content", "ai", Effect.GRANT)
    new = old.apply([Change(2, entry)])
    assert new.base is old.base and new.changed_accounts == 1
    assert old.state("a1").account_scopes == () and len(new.state("a1").account_scopes) == 1


def test_rebasing_keeps_only_the_changes_after_the_packed_version() -> None:
    index = ConsentIndex.build(1, ACCOUNTS).apply(
        [Change(2, ConsentEntry("g1", "a1", "customer_content", "ai", Effect.GRANT))])
    packed = CompactBase(memoryview(b"".join(packed_chunks(index))))
    later = index.apply([Change(3, ConsentEntry("o1", "a2", "customer_content", "ai",
                                                Effect.OPT_OUT))])
    rebased = later.rebased(packed, 2)
    assert rebased.changed_accounts == 1 and rebased.entry_count == later.entry_count == 2
    assert [s.entry.entry_id for s in rebased.state("a1").account_scopes] == ["g1"]


def test_unpacked_entries_round_trip_every_field() -> None:
    entry = ConsentEntry("é" * 300, "a1", "customer_content.chat", "ai.training", Effect.OPT_OUT,
                         user_id="u1", valid_from=-5, valid_until=2**62, covers_data_from=0,
                         evidence="x" * 5000, recorded_at=7, recorded_by="", version=9,
                         ended_version=12)
    index = ConsentIndex.build(12, [ACCOUNTS[0], entry])
    assert index.state("a1").scopes_of("u1")[0].entry == entry


def test_a_damaged_buffer_is_refused_not_misread() -> None:
    buf = bytearray(b"".join(packed_chunks(ConsentIndex.build(1, ACCOUNTS))))
    buf[-2] ^= 0xFF  # the magic
    try:
        CompactBase(memoryview(bytes(buf)))
    except CorruptRecordError:
        return
    raise AssertionError("a damaged trailer was accepted")


def _values(row) -> tuple:
    """A row as a store hands it over as values (packed.ENTRY_COLUMNS, ERASURE_COLUMNS)."""
    if isinstance(row, ConsentEntry):
        return (row.account_id, row.entry_id, row.user_id or None, row.category, row.purpose,
                row.effect.value, row.valid_from, row.valid_until, row.covers_data_from,
                row.evidence, row.recorded_at, row.recorded_by, row.version, row.ended_version)
    return (row.account_id, row.erasure_id, row.user_id or None, row.requested_at,
            row.recorded_by, row.version)


@settings(max_examples=150, deadline=None)
@given(rows)
def test_packing_store_values_gives_the_bytes_that_packing_the_rows_gives(initial) -> None:
    initial = [*initial, ConsentEntry("é" * 300, "a2", "customer_content", "ai", Effect.OPT_OUT,
                                      user_id="ü" * 200, evidence="x" * 5000, ended_version=3)]
    by_rows, by_values = BaseWriter(), BaseWriter()
    for account_id, account in [*((a.account_id, a) for a in ACCOUNTS), ("ghost", None)]:
        own = [r for r in initial if r.account_id == account_id]
        found = [r for r in own if isinstance(r, ConsentEntry)]
        erased = [r for r in own if not isinstance(r, ConsentEntry)]
        by_rows.add_rows(account_id, account, found, erased)
        values = None if account is None else (account_id, account.region or None,
                                               account.created_at)
        by_values.add_values(account_id, values, [_values(r) for r in found],
                             [_values(r) for r in erased])
    assert by_values.built() == by_rows.built()
