"""A warm start follows the store from the file's version when the store's chain there is
the file's: no full snapshot. A store with another history is reloaded; a cold start
streams its snapshot; a new file body is rebased onto by the follower."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.core import Effect, Record, decide
from sidecar.policy_files import load_policy
from sidecar.snapshot_writer import SnapshotWriter
from sidecar.store import AccountRequest, ConsentRequest, open_store
from sidecar.sync import StoreFollower

POLICY = load_policy()
NOW = 1_800_000_000_000_000
KEY = b"k" * 32
RECORD = Record("acme", "service_generated.usage", "ai.training", collected_at=NOW - 10**12)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> int:
        return self.now


def make_store(path: Path) -> str:
    url = f"sqlite:///{path}"
    with open_store(url, create=True, policy=POLICY) as store:
        store.write([AccountRequest(f"a{n}", "US") for n in range(50)]
                    + [AccountRequest("acme", "US")], actor="test")
    return url


def opt_out(url: str) -> int:
    with open_store(url, policy=POLICY) as store:
        return store.record_consent(ConsentRequest("acme", "service_generated", "ai",
                                                   Effect.OPT_OUT), actor="test").version


def follower(url: str, **kw) -> StoreFollower:
    return StoreFollower(lambda: open_store(url, policy=POLICY), clock=Clock(), **kw)


@pytest.fixture
def saved(tmp_path: Path) -> tuple[str, SnapshotWriter]:
    """A store, and a writer that saved the first follower's index with its chain."""
    url = make_store(tmp_path / "consent.db")
    first = follower(url)
    index = first.refresh()
    writer = SnapshotWriter(str(tmp_path / "snapshot"), url, every=0.0, key=KEY)
    writer.maybe_write(index, first.chain or "", first.snapshot_loads)
    return url, writer


def warm(url: str, writer: SnapshotWriter) -> StoreFollower:
    initial = writer.load(now=NOW)
    assert initial is not None and writer.header is not None and writer.header.chain
    return follower(url, initial=initial, initial_chain=writer.header.chain)


def test_a_warm_start_follows_the_changes_after_the_file_without_a_snapshot(saved) -> None:
    url, writer = saved
    version = opt_out(url)
    second = warm(url, writer)
    index = second.refresh()
    assert second.snapshot_loads == 0 and index.version == version
    assert decide(RECORD, index, POLICY, NOW).reason.name == "DENIED_OPTED_OUT"


def test_a_warm_start_against_another_history_reloads(saved, tmp_path: Path) -> None:
    url, writer = saved
    (tmp_path / "consent.db").unlink()
    make_store(tmp_path / "consent.db")  # re-made: same rows, another store id and chain
    second = warm(url, writer)
    assert second.refresh() is not None and second.snapshot_loads == 1
    assert second.history_reloads == 1


def test_a_cold_start_streams_the_snapshot_by_account(tmp_path: Path) -> None:
    url = make_store(tmp_path / "consent.db")
    opt_out(url)
    index = follower(url).refresh()
    with open_store(url, policy=POLICY) as store:
        assert sorted(map(repr, index.rows())) == sorted(map(repr, store.snapshot().rows))


def test_the_follower_moves_onto_a_new_file_body_and_keeps_later_changes(saved) -> None:
    url, writer = saved
    second = warm(url, writer)
    writer.on_written = second.rebase
    writer.full_every = 0
    index = second.refresh()
    opt_out(url)
    index = second.refresh()
    writer.maybe_write(index, second.chain or "", second.snapshot_loads)
    assert second.refresh().changed_accounts == 0  # onto the file: nothing left over
    assert decide(RECORD, second.index, POLICY, NOW).reason.name == "DENIED_OPTED_OUT"
