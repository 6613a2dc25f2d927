"""StoreFollower against a real SQLite store: snapshot then changes, single-flight
refreshes, and failures that leave the index (and its staleness clock) alone."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from sidecar.core import Effect
from sidecar.policy_files import load_policy
from sidecar.store import ConsentRequest, open_store
from sidecar.sync import StoreFollower


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000_000_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'consent.db'}"
    with open_store(url, create=True, policy=load_policy()) as store:
        store.add_account("acme", "US", actor="test")
    return url


def follower_for(url: str, clock: Clock, **kw) -> StoreFollower:
    return StoreFollower(lambda: open_store(url, policy=load_policy()), clock=clock, **kw)


def opt_out(url: str) -> int:
    with open_store(url, policy=load_policy()) as store:
        request = ConsentRequest("acme", "service_generated", "ai", Effect.OPT_OUT)
        return store.record_consent(request, actor="test").version


def test_first_sync_loads_a_snapshot_then_only_changes(store_url: str) -> None:
    clock = Clock()
    follower = follower_for(store_url, clock)
    first = follower.refresh()
    version = opt_out(store_url)
    clock.now += 1_000_000
    second = follower.refresh()
    assert first.version == 1 and second.version == version == 2
    assert follower.snapshot_loads == 1
    assert second.synced_at == clock.now and len(second.state("acme").account_scopes) == 1


def test_a_failed_sync_keeps_the_index_and_its_sync_time(store_url: str, tmp_path: Path) -> None:
    clock = Clock()
    follower = follower_for(store_url, clock)
    before = follower.refresh()
    (tmp_path / "consent.db").rename(tmp_path / "away.db")
    clock.now += 5_000_000
    after = follower.refresh()
    assert after is before and after.synced_at == before.synced_at
    assert "StoreUnavailableError" in follower.last_error
    assert not (tmp_path / "consent.db").exists()


def test_refresh_after_an_outage_catches_up_without_a_new_snapshot(store_url, tmp_path) -> None:
    follower = follower_for(store_url, Clock())
    follower.refresh()
    (tmp_path / "consent.db").rename(tmp_path / "away.db")
    follower.refresh()
    (tmp_path / "away.db").rename(tmp_path / "consent.db")
    version = opt_out(store_url)
    assert follower.refresh().version == version and follower.snapshot_loads == 1
    assert follower.last_error == ""


def test_concurrent_refreshes_share_one_sync(store_url: str) -> None:
    gate, entered = threading.Event(), threading.Event()
    opened = []

    def slow_reader():
        opened.append(1)
        entered.set()
        gate.wait(5)
        return open_store(store_url, policy=load_policy())

    follower = StoreFollower(slow_reader, clock=Clock())
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(follower.refresh()))
               for _ in range(4)]
    threads[0].start()
    entered.wait(5)
    for thread in threads[1:]:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join(5)
    assert len(opened) == 1 and len(results) == 4
    assert all(result is results[0] for result in results)


def test_wait_for_version_gives_up_at_its_timeout(store_url: str) -> None:
    follower = follower_for(store_url, Clock())
    follower.refresh()
    index = follower.wait_for_version(99, timeout=0.2)
    assert index is not None and index.version == 1


def test_follow_syncs_at_once_then_never_sooner_than_its_gap(store_url: str) -> None:
    started, syncs = [], []
    follower = StoreFollower(lambda: open_store(store_url, policy=load_policy()),
                             on_index=lambda index: syncs.append(time.monotonic()))
    stop = threading.Event()
    thread = threading.Thread(target=follower.follow, args=(stop, 0.001), kwargs={"gap": 0.2})
    started.append(time.monotonic())
    thread.start()
    time.sleep(0.7)
    stop.set()
    thread.join(5)
    follower.close()
    assert syncs and syncs[0] - started[0] < 0.15
    assert all(b - a >= 0.19 for a, b in zip(syncs, syncs[1:], strict=False))
    assert 2 <= len(syncs) <= 4
