"""SQLite backend: no reader can skip a change, because versions are allocated under the
write lock. The same deterministic scenario, run with a naive allocator (a counter bumped
in its own short transaction before the write), makes the reader skip a change.

Scenario: writer A gets its version, then is held (events, in a thread) before it
commits; writer B then writes; a reader follows the feed while A is held, and again
after A commits. With the naive allocator B commits version 2 while A still holds 1, the
reader moves on to 2, and A's change 1 lands behind it.
"""

from __future__ import annotations

import sqlite3
import threading

import pytest

from sidecar.policy_files import load_policy
from sidecar.store import open_store
from sidecar.store.sqlite import LockedVersions, bump_counter

POLICY = load_policy()

HOLD = 5.0         # upper bound on any wait for an event that must happen
BLOCKED_FOR = 0.3  # how long B must stay blocked behind A to show writers serialise


@pytest.fixture
def backend() -> str:
    """These tests are about the SQLite backend only."""
    return "sqlite"


class NaiveVersions:
    """The wrong way: take a number in its own short transaction, then begin the write."""

    def __init__(self) -> None:
        self.pause = lambda: None

    def begin(self, conn: sqlite3.Connection, count: int) -> int:
        conn.execute("BEGIN IMMEDIATE")
        first = bump_counter(conn, count)
        conn.execute("COMMIT")
        self.pause()
        conn.execute("BEGIN IMMEDIATE")
        return first


class HeldAfterAllocation:
    """Wraps the safe allocator so the test can hold the writer once it has its version."""

    def __init__(self) -> None:
        self.inner = LockedVersions()
        self.pause = lambda: None

    def begin(self, conn: sqlite3.Connection, count: int) -> int:
        first = self.inner.begin(conn, count)
        self.pause()
        return first


class Announcing:
    """Wraps an allocator to signal the moment a writer starts to write."""

    def __init__(self, inner) -> None:
        self.inner, self.started = inner, threading.Event()

    def begin(self, conn: sqlite3.Connection, count: int) -> int:
        self.started.set()
        return self.inner.begin(conn, count)


def run_scenario(store_url: str, allocator_a, allocator_b,
                 wait_for_b: float) -> tuple[bool, set[int]]:
    """Whether B committed within `wait_for_b` while A was held, and the versions the reader
    never saw."""
    open_store(store_url, create=True, policy=POLICY).close()
    allocated, release = threading.Event(), threading.Event()
    allocator_a.pause = lambda: (allocated.set(), release.wait(HOLD))
    b_announcing = Announcing(allocator_b)
    writer_a = open_store(store_url, versions=allocator_a, policy=POLICY)
    writer_b = open_store(store_url, versions=b_announcing, policy=POLICY)
    reader = open_store(store_url, policy=POLICY)
    b_done = threading.Event()
    thread_a = threading.Thread(target=writer_a.add_account, args=("a",), kwargs={"actor": "A"})
    thread_b = threading.Thread(target=lambda: (writer_b.add_account("b", actor="B"),
                                                b_done.set()))
    try:
        thread_a.start()
        assert allocated.wait(HOLD), "writer A never got its version"
        thread_b.start()
        assert b_announcing.started.wait(HOLD), "writer B never started"
        b_committed_first = b_done.wait(wait_for_b)
        seen, position = _follow(reader, 0)
        release.set()
        thread_a.join(HOLD)
        thread_b.join(HOLD)
        later, _ = _follow(reader, position)
        return b_committed_first, set(range(1, reader.version() + 1)) - seen - later
    finally:
        release.set()
        for store in (writer_a, writer_b, reader):
            store.close()


def _follow(reader, position: int) -> tuple[set[int], int]:
    """What a follower does: read the changes after its position, move to the last seen."""
    changes = reader.changes_since(position)
    seen = {change.version for change in changes}
    return seen, max(seen, default=position)


def test_a_writer_held_open_blocks_the_next_writer_and_the_reader_skips_nothing(store_url):
    """Version order is commit order: B waits for A's lock, so 1 commits before 2."""
    b_committed_first, skipped = run_scenario(store_url, HeldAfterAllocation(),
                                              LockedVersions(), wait_for_b=BLOCKED_FOR)
    assert not b_committed_first
    assert skipped == set()


def test_with_a_naive_allocator_the_same_reader_skips_a_change(store_url):
    """The proof the mechanism matters: allocating outside the write lock loses change 1."""
    b_committed_first, skipped = run_scenario(store_url, NaiveVersions(), NaiveVersions(),
                                              wait_for_b=HOLD)
    assert b_committed_first
    assert skipped == {1}

