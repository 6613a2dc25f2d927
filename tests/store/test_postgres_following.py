"""The follower on a PostgreSQL store: pushed changes are synced at once, a heartbeat keeps
a quiet store fresh, other threads' refreshes are not held up by the wait, and a lost
connection is re-established with backoff, catching up without a snapshot reload."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from postgres_support import database_outage, dbname_of, temporary_database

from sidecar.core.model import Effect
from sidecar.policy_files import load_policy
from sidecar.store import ConsentRequest, open_store
from sidecar.sync import StoreFollower

POLICY = load_policy()

SECRET = "f0llower-secret"


@pytest.fixture
def backend() -> str:
    """These tests are about the PostgreSQL backend only."""
    return "postgres"


def _opt_out(url: str) -> int:
    with open_store(url, policy=POLICY) as writer:
        request = ConsentRequest("acme", "service_generated", "ai", Effect.OPT_OUT)
        return writer.record_consent(request, actor="t").version


def _until(condition, timeout: float) -> float:
    """Seconds until `condition()` holds; fails after `timeout`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "condition never held"
        time.sleep(0.01)
    return time.monotonic() - started


class Following:
    """A follower running its follow loop in a thread, stopped at the end."""

    def __init__(self, url: str, interval: float, heartbeat: float) -> None:
        self.follower = StoreFollower(lambda: open_store(url, policy=POLICY))
        self.stop = threading.Event()
        self.follower.refresh()
        self.thread = threading.Thread(target=self.follower.follow, args=(self.stop, interval),
                                       kwargs={"heartbeat": heartbeat})
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.follower.close()


@pytest.fixture
def follow(store, account, store_url) -> Iterator:
    """Starts followers of the test's store; stops them after the test."""
    running: list[Following] = []

    def start(interval: float = 30, heartbeat: float = 30, url: str = store_url) -> StoreFollower:
        running.append(Following(url, interval, heartbeat))
        return running[-1].follower

    yield start
    for following in running:
        following.close()


def test_a_pushed_change_is_synced_at_once_without_polling(follow, store_url):
    """With a 30 s poll interval, only the notification can explain a fast sync."""
    follower = follow()
    time.sleep(0.3)  # the loop is listening by now
    version = _opt_out(store_url)
    assert _until(lambda: follower.index.version == version, timeout=1) < 1
    assert follower.snapshot_loads == 1


def test_the_heartbeat_keeps_a_quiet_store_fresh(follow):
    """No writes at all: the sync time still moves every heartbeat."""
    follower = follow(heartbeat=0.2)
    first = follower.index.synced_at
    _until(lambda: follower.index.synced_at > first, timeout=2)


def test_another_threads_refresh_is_not_held_up_by_the_wait(follow):
    """A caller that needs a sync now gets it within a slice of the follower's wait."""
    follower = follow()
    time.sleep(0.3)
    started = time.monotonic()
    follower.refresh()
    assert time.monotonic() - started < 0.5


def test_an_outage_is_retried_with_backoff_and_caught_up_without_a_snapshot(
        postgres_server):
    """The staleness clock runs during the outage; afterwards only the feed is read."""
    with temporary_database(postgres_server, "maytrain_follow") as url:
        secret_url = url.replace("://postgres@", f"://postgres:{SECRET}@")
        with open_store(url, create=True, policy=POLICY) as store:
            store.add_account("acme", actor="t")
        following = Following(secret_url, interval=30, heartbeat=0.2)
        follower = following.follower
        try:
            time.sleep(0.3)
            with database_outage(postgres_server, dbname_of(url)):
                _until(lambda: follower.last_error, timeout=3)
                synced_at = follower.index.synced_at
                _until(lambda: follower.failures >= 3, timeout=3)
                assert follower.index.synced_at == synced_at
                assert "StoreUnavailableError" in follower.last_error
                assert SECRET not in follower.last_error
            version = _opt_out(url)
            _until(lambda: follower.index.version == version, timeout=6)
        finally:
            following.close()
        assert follower.snapshot_loads == 1 and follower.last_error == ""
