"""The packed base a store keeps (`store pack`) and a cold start that reads it: it holds
what the rows pack, a follower that starts from it reads no rows and follows the changes
after it, and a base that is damaged, edited, of another layout, off the store's history
or copied from another store is not used: the rows are read instead."""

from __future__ import annotations

import logging
import tempfile

import pytest
from test_store_grouped_snapshot import comparable

from sidecar.core import ConsentIndex, Effect
from sidecar.core.compact import CompactBase
from sidecar.packed_base import proven_base
from sidecar.policy_files import load_policy
from sidecar.store import AccountRequest, ConsentRequest, ErasureRequest, open_store
from sidecar.store.sql import packed_base, reads
from sidecar.sync import StoreFollower

POLICY = load_policy()


def fill(store, clock) -> None:
    """Accounts with grants and opt-outs at both levels, a withdrawal and erasures."""
    requests = [AccountRequest(f"acct-{n:02d}", ["US", "DE", ""][n % 3]) for n in range(12)]
    requests += [ConsentRequest(f"acct-{n % 9:02d}", ["customer_content", "service_generated"][n % 2],
                                "ai", [Effect.GRANT, Effect.OPT_OUT][n % 5 == 4],
                                user_id=["", "u1", "ü2"][n % 3]) for n in range(30)]
    requests += [ErasureRequest("acct-03", "u1")]
    store.write(requests, actor="t")
    clock.advance()
    store.withdraw(store.consents("acct-01")[0].entry_id, actor="t")


def change_after_the_pack(store, clock) -> None:
    """What a cold start must follow from the feed: an opt-out, an erasure, a new account."""
    clock.advance()
    store.write([ConsentRequest("acct-00", "customer_content", "ai", Effect.OPT_OUT),
                 ErasureRequest("acct-05"), AccountRequest("acct-new", "FR")], actor="t")


def assert_same_as_the_rows(store, index: ConsentIndex) -> None:
    rows = store.snapshot()
    built = ConsentIndex.build(rows.version, rows.rows)
    assert index.version == built.version == store.version()
    assert (index.account_count, index.entry_count) == (built.account_count, built.entry_count)
    for account_id, state in built.states():
        assert comparable(index.state(account_id)) == comparable(state), account_id


def unpacked(store):
    """The store's packed base read back and proven, with its header."""
    with tempfile.TemporaryFile() as spool:  # the map outlives the file object
        info = store.read_packed_base(spool)
        return info, CompactBase(proven_base(spool, info))


@pytest.fixture
def follower_of():
    """Starts a follower of a store URL (synced once); each is closed after the test."""
    started: list[StoreFollower] = []

    def start(store_url: str, **kwargs) -> StoreFollower:
        follower = StoreFollower(lambda: open_store(store_url, policy=POLICY), **kwargs)
        started.append(follower)
        follower.refresh()
        return follower

    yield start
    for follower in started:
        follower.close()


def execute(store, statement: str, *params) -> None:
    """A statement on the store's own connection, committed: an operator's or an
    attacker's edit, made beside maytrain."""
    store._conn.execute(statement.replace("?", store.dialect.param), params)


@pytest.fixture
def rows_forbidden(monkeypatch):
    """Reading the rows fails: a follower that still syncs read the packed base only."""
    def refuse(*_):
        raise AssertionError("the cold start read the rows")
    monkeypatch.setattr(reads.SqlReads, "snapshot_base", refuse)


def test_a_store_with_no_pack_has_no_base_and_writes_nothing(store) -> None:
    with tempfile.TemporaryFile() as spool:
        assert store.read_packed_base(spool) is None
        assert spool.tell() == 0
    assert store.packed_base_info() is None


def test_the_pack_holds_what_the_rows_pack_at_the_stores_version(store, clock, monkeypatch) -> None:
    fill(store, clock)
    monkeypatch.setattr(packed_base, "PART_BYTES", 100)  # many parts, in order
    info = store.pack()
    version, chain, rows_base, latest = store.snapshot_base()
    assert (info.version, info.chain, info.latest_write) == (version, chain, latest)
    assert info.parts == -(-rows_base.nbytes // 100) > 1
    found, base = unpacked(store)
    assert found == info == store.packed_base_info()
    assert sorted(base.ids()) == sorted(rows_base.ids())
    for account_id in rows_base.ids():
        assert comparable(base.state(account_id)) == comparable(rows_base.state(account_id))


def test_a_new_pack_replaces_the_one_before(store, clock) -> None:
    fill(store, clock)
    first = store.pack()
    change_after_the_pack(store, clock)
    second = store.pack()
    assert second.version == store.version() > first.version
    assert store.packed_base_info() == second
    assert unpacked(store)[1].account_count == 13


def test_an_older_pack_does_not_replace_a_later_one(store, clock) -> None:
    """Two packs racing: the one read at the earlier version lands last and is dropped."""
    fill(store, clock)
    early_version = store.version()
    change_after_the_pack(store, clock)
    later = store.pack()
    execute(store, "BEGIN")
    kept = packed_base.write_base(store._conn, store.dialect, early_version, "", memoryview(b"x"),
                                  None, 0)
    execute(store, "COMMIT")
    assert kept == later == store.packed_base_info()


def test_a_cold_start_from_the_pack_reads_no_rows_and_follows_the_changes_after_it(
        store, store_url, clock, rows_forbidden, caplog, follower_of) -> None:
    fill(store, clock)
    packed = store.pack()
    change_after_the_pack(store, clock)
    caplog.set_level(logging.INFO, "maytrain.sync")
    follower = follower_of(store_url)
    assert follower.last_error == ""
    assert follower.index is not None and follower.index.synced_at is not None
    assert follower.chain == store.chain_at(store.version())
    assert f"packed base at consent version {packed.version}" in caplog.text
    assert_same_as_the_rows(store, follower.index)
    assert follower.index.state("acct-05").erased


def test_a_follower_goes_on_following_after_a_start_from_the_pack(store, store_url, clock,
                                                                  follower_of) -> None:
    fill(store, clock)
    store.pack()
    follower = follower_of(store_url)
    change_after_the_pack(store, clock)
    follower.refresh()
    assert_same_as_the_rows(store, follower.index)


@pytest.mark.parametrize("edit", [
    pytest.param(("UPDATE packed_base_parts SET data = ?", b"\x00" * 64), id="damaged-parts"),
    pytest.param(("DELETE FROM packed_base_parts",), id="missing-parts"),
    pytest.param(("UPDATE packed_base SET layout = 'MTIX/99'",), id="another-layout"),
    pytest.param(("UPDATE packed_base SET chain = 'forged'",), id="off-the-chain"),
    pytest.param(("UPDATE packed_base SET version = version + 100",), id="ahead-of-the-store"),
])
def test_a_pack_that_fails_a_check_is_not_used_and_the_rows_are_read(
        store, store_url, clock, caplog, edit, follower_of) -> None:
    fill(store, clock)
    store.pack()
    change_after_the_pack(store, clock)
    execute(store, *edit)
    follower = follower_of(store_url)
    assert "packed base" in caplog.text and "reading every row" in caplog.text
    assert follower.last_error == ""
    assert_same_as_the_rows(store, follower.index)


def test_a_pack_copied_from_another_store_is_not_used(store, new_store_url, clock, caplog,
                                                      follower_of) -> None:
    """Same rows, same version, a valid checksum: only the other store's chain tells."""
    fill(store, clock)
    store.pack()
    info, _ = unpacked(store)
    with tempfile.TemporaryFile() as spool:
        store.read_packed_base(spool)
        spool.seek(0)
        body = spool.read()
    other_url = new_store_url()
    with open_store(other_url, create=True, policy=POLICY, clock=clock) as other:
        fill(other, clock)
        other.pack()
        execute(other, "BEGIN")
        packed_base.write_base(other._conn, other.dialect, info.version, info.chain,
                               memoryview(body), info.latest_write, info.packed_at + 1)
        execute(other, "COMMIT")
        follower = follower_of(other_url)
        assert "not in the store's history" in caplog.text
        assert_same_as_the_rows(other, follower.index)


def test_a_spool_directory_that_cannot_be_written_reads_the_rows(
        store, store_url, clock, tmp_path, caplog, follower_of) -> None:
    fill(store, clock)
    store.pack()
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    follower = follower_of(store_url, spool_dir=str(blocked / "spool"))
    assert "reading every row" in caplog.text
    assert_same_as_the_rows(store, follower.index)


KEY, OTHER_KEY = b"k" * 32, b"o" * 32


def test_a_follower_with_a_snapshot_key_starts_from_a_base_sealed_with_it(
        store, store_url, clock, rows_forbidden, follower_of) -> None:
    fill(store, clock)
    packed = store.pack(KEY)
    assert packed.seal.startswith("hmac-sha256:") and store.packed_base_info() == packed
    change_after_the_pack(store, clock)
    follower = follower_of(store_url, packed_base_key=KEY)
    assert_same_as_the_rows(store, follower.index)


def forge_latest_write(store) -> None:
    """A header field changed by whoever may write the pack's tables, the body left alone:
    the SHA-256 still holds, only the seal tells."""
    execute(store, "UPDATE packed_base SET latest_write = latest_write + 1")


@pytest.mark.parametrize(("packed_with", "edit", "why"), [
    pytest.param(None, None, "packed without one", id="unsealed"),
    pytest.param(OTHER_KEY, None, "packed with another key", id="another-key"),
    pytest.param(KEY, forge_latest_write, "or altered", id="header-altered"),
    pytest.param(KEY, lambda store: execute(store, "UPDATE packed_base SET seal = 'hmac-é'"),
                 "or altered", id="non-ascii-seal"),
])
def test_a_follower_with_a_snapshot_key_reads_the_rows_unless_the_base_is_sealed_with_it(
        store, store_url, clock, caplog, follower_of, packed_with, edit, why) -> None:
    fill(store, clock)
    store.pack(packed_with)
    if edit is not None:
        edit(store)
    follower = follower_of(store_url, packed_base_key=KEY)
    assert "not sealed with this sidecar's snapshot key" in caplog.text and why in caplog.text
    assert "reading every row" in caplog.text
    assert_same_as_the_rows(store, follower.index)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # PostgreSQL's types refuse it
@pytest.mark.parametrize("edit", ["UPDATE packed_base SET parts = 'many'",
                                  "UPDATE packed_base SET version = 'latest'",
                                  "UPDATE packed_base SET latest_write = x'00'"])
def test_a_header_edited_to_hold_the_wrong_kind_of_value_reads_the_rows(
        store, store_url, clock, caplog, edit, follower_of) -> None:
    """SQLite keeps whatever a hand edit writes in a column, of any type."""
    fill(store, clock)
    store.pack()
    execute(store, edit)
    follower = follower_of(store_url)
    assert "malformed header" in caplog.text and "reading every row" in caplog.text
    assert_same_as_the_rows(store, follower.index)
    assert store.pack().version == store.version()  # what the warning says to run mends it


def test_any_unforeseen_failure_with_the_base_reads_the_rows(store, store_url, clock, caplog,
                                                            follower_of, monkeypatch) -> None:
    """The base is a cache: a failure no check foresaw (a bug, here raised on purpose) is a
    warning and a start from the rows, never a sidecar that cannot start."""
    import sidecar.sync

    def broken(*_):
        raise RuntimeError("a failure no check foresaw")

    fill(store, clock)
    store.pack()
    monkeypatch.setattr(sidecar.sync, "proven_base", broken)
    follower = follower_of(store_url)
    assert "RuntimeError: a failure no check foresaw" in caplog.text
    assert_same_as_the_rows(store, follower.index)
