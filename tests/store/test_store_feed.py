"""Contract: consent versions, snapshots and the change feed, for every backend."""

from __future__ import annotations

import threading

from sidecar.core.model import Account, ConsentEntry, Effect, Erasure
from sidecar.store import AccountRequest, ConsentRequest, writing


def _grant(account: str, category: str = "customer_content", **fields) -> ConsentRequest:
    return ConsentRequest(account, category, "ai.training", Effect.GRANT, **fields)


def test_empty_store_is_at_version_zero_with_no_rows(store):
    """A new store has nothing to follow yet."""
    assert store.version() == 0
    assert store.snapshot().rows == ()
    assert store.changes_since(0) == []


def test_every_write_returns_the_next_version(store, account):
    """Each write (of any kind) bumps the version by one and returns it."""
    results = [
        store.add_account("beta", actor="t"),
        store.update_account("beta", "FR", actor="t"),
        store.record_consent(_grant(account), actor="t"),
        store.request_erasure(account, "u1", actor="t"),
    ]
    results.append(store.withdraw(results[2].row_id, actor="t"))
    assert [r.version for r in results] == [2, 3, 4, 5, 6]
    assert store.version() == 6


def test_snapshot_holds_every_row_at_the_current_version(store, account):
    """A snapshot lists accounts, entries and erasures in their latest state."""
    grant = store.record_consent(_grant(account), actor="t")
    store.request_erasure(account, "u9", actor="t")
    store.update_account(account, "FR", actor="t")
    snapshot = store.snapshot()
    assert snapshot.version == 4
    kinds = [type(row) for row in snapshot.rows]
    assert kinds == [Account, ConsentEntry, Erasure]
    assert snapshot.rows[0].region == "FR"
    assert snapshot.rows[1] == grant.row


def test_changes_since_returns_later_changes_in_version_order(store, account):
    """The feed after version N holds exactly the changes numbered above N."""
    grant = store.record_consent(_grant(account), actor="t")
    withdrawn = store.withdraw(grant.row_id, actor="t")
    changes = store.changes_since(1)
    assert [c.version for c in changes] == [2, 3]
    assert changes[0].row.ended_version is None
    assert changes[1].row == withdrawn.row
    assert store.changes_since(3) == []


def test_feed_keeps_each_rows_state_as_of_its_version(store, account):
    """A change shows the row as that version wrote it, not as it is now."""
    store.update_account(account, "FR", actor="t")
    store.update_account(account, "", actor="t")
    regions = [c.row.region for c in store.changes_since(0)]
    assert regions == ["DE", "FR", ""]


def test_changes_since_pages_with_a_limit(store, account):
    """Paging with a limit visits every change once, in order."""
    for _ in range(9):
        store.record_consent(_grant(account), actor="t")
    seen, after = [], 0
    while page := store.changes_since(after, limit=4):
        seen.extend(c.version for c in page)
        after = page[-1].version
    assert seen == list(range(1, 11))


def test_write_of_many_rows_takes_consecutive_versions(store):
    """A batch write numbers each row and returns the last version."""
    result = store.write([AccountRequest("a"), AccountRequest("b"),
                          _grant("a")], actor="t")
    assert (result.version, result.count) == (3, 3)
    assert [c.version for c in store.changes_since(0)] == [1, 2, 3]


def test_concurrent_writers_get_distinct_versions_and_the_feed_has_no_gaps(store, reopen):
    """Threads writing through one store object and through others never share a version."""
    store.add_account("shared", actor="t")
    stores = [store, store, reopen(), reopen()]
    versions: list[int] = []
    lock, start = threading.Lock(), threading.Barrier(len(stores))

    def write(target) -> None:
        start.wait()
        for _ in range(15):
            result = target.record_consent(_grant("shared"), actor="t")
            with lock:
                versions.append(result.version)

    threads = [threading.Thread(target=write, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(versions) == list(range(2, 62))
    assert [c.version for c in store.changes_since(0, limit=1000)] == list(range(1, 62))


def test_snapshots_taken_during_writes_are_consistent(store, reopen):
    """Every snapshot holds exactly the rows of the versions up to its own."""
    writer, done = reopen(), threading.Event()

    def write() -> None:
        writer.add_account("a0", actor="t")
        for i in range(1, 60):
            writer.record_consent(_grant("a0"), actor="t") if i % 2 else \
                writer.add_account(f"a{i}", actor="t")
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    snapshots = []
    while not done.is_set():
        snapshots.append(store.snapshot())
    thread.join()
    snapshots.append(store.snapshot())
    # Every write here adds exactly one row, so a consistent snapshot has one per version.
    assert all(len(s.rows) == s.version for s in snapshots)
    assert snapshots[-1].version == 60


def test_a_batch_written_in_several_slices_keeps_file_order_and_versions(store, monkeypatch):
    """Bulk writes go in slices inside one transaction; numbering and the feed still follow
    the request order, and an account added in one slice serves entries in the next."""
    monkeypatch.setattr(writing, "WRITE_SLICE", 2)
    requests = [AccountRequest("a"), _grant("a", entry_id="g1"), AccountRequest("b"),
                _grant("b", entry_id="g2"), _grant("a", entry_id="g3")]
    result = store.write(requests, actor="t")
    assert (result.version, result.count, result.row_id) == (5, 5, "g3")
    feed = [(c.version, getattr(c.row, "entry_id", c.row.account_id))
            for c in store.changes_since(0)]
    assert feed == [(1, "a"), (2, "g1"), (3, "b"), (4, "g2"), (5, "g3")]
