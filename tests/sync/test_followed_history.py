"""StoreFollower against a store whose history changed under it: restored from an older
copy (behind, or caught up again with other changes), re-made with the same changes, or
holding a change numbered past its counter. Each is noticed on the next sync and
reloaded from a snapshot; a reload that fails leaves no index at all (fail closed)."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from sidecar.core import Effect
from sidecar.policy_files import load_policy
from sidecar.store import ConsentRequest, StoreError, open_store
from sidecar.sync import StoreFollower

POLICY = load_policy()
NOW = 1_800_000_000_000_000


def fixed_clock() -> int:
    return NOW


def url_of(path: Path) -> str:
    return f"sqlite:///{path}"


def make_store(path: Path, grants: int = 3) -> str:
    """A store with one account and `grants` grants, written the same way every time."""
    url = url_of(path)
    with open_store(url, create=True, policy=POLICY, clock=fixed_clock) as store:
        store.add_account("acme", "US", actor="test")
        for i in range(grants):
            store.record_consent(_grant(f"g{i}"), actor="test")
    return url


def _grant(entry_id: str) -> ConsentRequest:
    return ConsentRequest("acme", "customer_content", "ai.training", Effect.GRANT,
                          valid_from=NOW - 10**9, entry_id=entry_id)


def write(url: str, effect: Effect = Effect.OPT_OUT, entry_id: str = "") -> int:
    with open_store(url, policy=POLICY, clock=fixed_clock) as store:
        request = ConsentRequest("acme", "service_generated", "ai", effect, entry_id=entry_id)
        return store.record_consent(request, actor="test").version


def copy_store(source: Path, target: Path) -> None:
    """Copy a store file through SQLite's backup API (what `.backup` / `.restore` do)."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def follower_for(url: str) -> StoreFollower:
    return StoreFollower(lambda: open_store(url, policy=POLICY), clock=fixed_clock)


def opted_out(follower: StoreFollower) -> bool:
    index = follower.index
    assert index is not None
    return any(s.entry.effect is Effect.OPT_OUT for s in index.state("acme").account_scopes)


@pytest.fixture
def live(tmp_path: Path) -> Path:
    make_store(tmp_path / "consent.db")
    return tmp_path / "consent.db"


def test_a_store_restored_from_an_older_copy_is_reloaded_and_a_later_write_applies(
        live: Path, tmp_path: Path, caplog) -> None:
    copy_store(live, tmp_path / "backup.db")          # at version 4
    follower = follower_for(url_of(live))
    for _ in range(3):
        write(url_of(live), Effect.GRANT)
    assert follower.refresh().version == 7
    copy_store(tmp_path / "backup.db", live)          # restored: back at 4
    version = write(url_of(live))                     # the opt-out is version 5
    with caplog.at_level(logging.WARNING, "maytrain.sync"):
        index = follower.refresh()
    assert (index.version, version) == (5, 5) and opted_out(follower)
    assert follower.history_reloads == 1 and follower.snapshot_loads == 2
    assert "went back from consent version 7 to 5" in follower.last_history_reload
    assert "store history changed under the sidecar: restored, re-made or forked" in caplog.text


def test_a_restored_copy_that_caught_up_with_other_changes_is_reloaded(
        live: Path, tmp_path: Path) -> None:
    copy_store(live, tmp_path / "backup.db")
    follower = follower_for(url_of(live))
    for _ in range(3):
        write(url_of(live), Effect.GRANT)
    assert follower.refresh().version == 7
    copy_store(tmp_path / "backup.db", live)
    for _ in range(3):                                # back at 7, with an opt-out at 5
        write(url_of(live))
    index = follower.refresh()
    assert index.version == 7 and opted_out(follower)
    assert follower.history_reloads == 1
    assert "chain at consent version 7 is not the one" in follower.last_history_reload


def test_a_store_made_again_with_the_same_changes_is_a_different_history(tmp_path) -> None:
    url = make_store(tmp_path / "consent.db")
    follower = follower_for(url)
    first = follower.refresh()
    (tmp_path / "consent.db").unlink()
    make_store(tmp_path / "consent.db")               # the same rows, the same versions
    follower.refresh()                                # the file was replaced: reconnect
    assert "was removed or replaced" in follower.last_error
    assert follower.refresh().version == first.version
    assert follower.history_reloads == 1 and follower.last_error == ""


def test_a_store_that_did_not_change_is_never_reloaded(live: Path) -> None:
    follower = follower_for(url_of(live))
    follower.refresh()
    for _ in range(3):
        write(url_of(live), Effect.GRANT)
        follower.refresh()
    follower.refresh()
    assert (follower.snapshot_loads, follower.history_reloads) == (1, 0)


def test_a_reload_that_fails_drops_the_index(live: Path, tmp_path: Path) -> None:
    copy_store(live, tmp_path / "backup.db")
    follower = follower_for(url_of(live))
    write(url_of(live), Effect.GRANT)
    follower.refresh()
    copy_store(tmp_path / "backup.db", live)

    class SnapshotFails:
        def __init__(self, reader):
            self.reader = reader

        def __getattr__(self, name):
            return getattr(self.reader, name)

        def snapshot(self):
            raise StoreError("snapshot refused")

    follower._open_reader = lambda: SnapshotFails(open_store(url_of(live), policy=POLICY))
    follower._drop_reader()
    assert follower.refresh() is None
    assert "snapshot refused" in follower.last_error and follower.history_reloads == 1


def test_changes_that_do_not_follow_the_chain_are_not_applied(live: Path, tmp_path) -> None:
    """The store's chain at our version is read apart from the changes after it: if the
    store is replaced in between, the first change after it no longer links, and that
    alone is enough to reload."""
    fork = make_store(tmp_path / "fork.db")             # the same rows, another store
    follower = follower_for(url_of(live))
    follower.refresh()                                  # at 4
    write(fork)                                         # the fork's 5 is an opt-out
    write(url_of(live), Effect.GRANT)                   # ours is a grant

    class ForkAfterCheck:
        """Answers the chain check from the live store, the feed from the fork."""

        def __init__(self) -> None:
            self.live = open_store(url_of(live), policy=POLICY)
            self.fork = open_store(fork, policy=POLICY)

        def __getattr__(self, name):
            return getattr(self.fork, name)

        def chain_at(self, version):
            return self.live.chain_at(version)

    follower._open_reader = ForkAfterCheck
    follower._drop_reader()
    assert follower.refresh().version == 5 and opted_out(follower)
    assert "change 5 does not follow the chain at consent version 4" in \
        follower.last_history_reload


def insert_above_counter(path: Path, version: int) -> None:
    """A change-log row put in by hand: an account the tables do not hold."""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("INSERT INTO changes (version, kind, changed_at, changed_by, id, "
                     "account_id, created, row_version) VALUES (?, 'account', 0, 'hand', "
                     "'ghost', 'ghost', 0, ?)", (version, version))
        conn.commit()


def test_a_change_above_the_counter_is_refused_until_a_write_numbers_past_it(live) -> None:
    follower = follower_for(url_of(live))
    before = follower.refresh()
    insert_above_counter(live, 50)
    assert follower.refresh() is before
    assert "holds version 50, above the store's version counter 4" in follower.last_error
    version = write(url_of(live))
    assert version == 51
    index = follower.refresh()
    assert index.version == 51 and opted_out(follower) and follower.last_error == ""
    assert index.state("ghost").account is None      # the hand-made row was never applied
    assert "change 50 does not follow" in follower.last_history_reload


def test_a_warm_start_with_the_stores_chain_follows_changes_without_a_snapshot(live) -> None:
    """A warm-start index saved with the chain at its version is checked, then followed."""
    first = follower_for(url_of(live))
    saved = first.refresh()
    write(url_of(live))
    warm = StoreFollower(lambda: open_store(url_of(live), policy=POLICY), clock=fixed_clock,
                         initial=saved, initial_chain=first.chain)
    assert warm.refresh().version == 5 and opted_out(warm)
    assert (warm.snapshot_loads, warm.history_reloads) == (0, 0)
    with open_store(url_of(live), policy=POLICY) as store:
        assert warm.chain == store.chain_at(5)


@pytest.mark.parametrize("chain", ["", "0" * 64])
def test_a_warm_start_without_the_stores_chain_loads_a_snapshot(live, chain) -> None:
    """No chain saved, or another one (the store changed since): a snapshot, never the file."""
    saved = follower_for(url_of(live)).refresh()
    write(url_of(live))
    warm = StoreFollower(lambda: open_store(url_of(live), policy=POLICY), clock=fixed_clock,
                         initial=saved, initial_chain=chain)
    assert warm.refresh().version == 5 and warm.snapshot_loads == 1
    assert warm.history_reloads == (1 if chain else 0)
