"""No reader can skip a change, on every backend, because versions are allocated inside the
write transaction, under the writers' lock (SQLite's write lock, PostgreSQL's counter row
lock). The same deterministic scenario, run with each backend's naive allocator, makes the
reader skip a change: that proves the mechanism matters.

Scenario: writer A gets its version, then is held (events, in a thread) with its
transaction open; writer B then writes; a reader follows the feed while A is held, and
again after A commits. With a naive allocator B commits version 2 while A still holds 1,
the reader moves on to 2, and A's change 1 lands behind it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import psycopg
import pytest

from sidecar.policy_files import load_policy
from sidecar.store import open_store
from sidecar.store.postgres import POSTGRES
from sidecar.store.sql.versions import LockedVersions, bump_counter
from sidecar.store.sqlite import SQLITE

POLICY = load_policy()
DIALECTS = {"sqlite": SQLITE, "postgres": POSTGRES}
HOLD = 5.0         # upper bound on any wait for an event that must happen
BLOCKED_FOR = 0.3  # how long B must stay blocked behind A to show writers serialise


class NaiveSqliteVersions:
    """The wrong way in SQLite: take a number in its own short transaction, then write."""

    def __init__(self) -> None:
        self.pause = lambda: None

    def begin(self, conn: sqlite3.Connection, count: int) -> int:
        conn.execute("BEGIN IMMEDIATE")
        first = bump_counter(conn, count, SQLITE)
        conn.execute("COMMIT")
        self.pause()
        conn.execute("BEGIN IMMEDIATE")
        return first


class SequenceVersions:
    """The wrong way in PostgreSQL: number writes from a plain sequence inside the write
    transaction (as a `bigserial` version column would); the counter is only raised to
    the write's last version after that (readers refuse a change above the counter)."""

    def __init__(self) -> None:
        self.pause = lambda: None

    def begin(self, conn: psycopg.Connection, count: int) -> int:
        conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        (first,) = conn.execute("SELECT nextval('naive_versions')").fetchone()
        conn.execute("SELECT setval('naive_versions', %s)", (first + count - 1,))
        self.pause()
        conn.execute("UPDATE consent_version SET version = greatest(version, %s) WHERE id = 1",
                     (first + count - 1,))
        return first


class HeldAfterAllocation:
    """Wraps the safe allocator so the test can hold the writer once it has its version."""

    def __init__(self, backend: str) -> None:
        self.inner = LockedVersions(DIALECTS[backend])
        self.pause = lambda: None

    def begin(self, conn: Any, count: int) -> int:
        first = self.inner.begin(conn, count)
        self.pause()
        return first


class Announcing:
    """Wraps an allocator to signal the moment a writer starts to write."""

    def __init__(self, inner) -> None:
        self.inner, self.started = inner, threading.Event()

    def begin(self, conn: Any, count: int) -> int:
        self.started.set()
        return self.inner.begin(conn, count)


@pytest.fixture
def created_url(store_url: str) -> str:
    """The URL of a new, empty store."""
    open_store(store_url, create=True, policy=POLICY).close()
    return store_url


def run_scenario(store_url: str, allocator_a, allocator_b,
                 wait_for_b: float) -> tuple[bool, set[int]]:
    """Whether B committed within `wait_for_b` while A was held, and the versions the reader
    never saw (of those numbered by the counter or written to the feed)."""
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
        numbered = set(range(1, reader.version() + 1))
        written = {change.version for change in reader.changes_since(0)}
        return b_committed_first, (numbered | written) - seen - later
    finally:
        release.set()
        for store in (writer_a, writer_b, reader):
            store.close()


def _follow(reader, position: int) -> tuple[set[int], int]:
    """What a follower does: read the changes after its position, move to the last seen."""
    changes = reader.changes_since(position)
    seen = {change.version for change in changes}
    return seen, max(seen, default=position)


@contextmanager
def raw_connection(backend: str, store_url: str) -> Iterator[Any]:
    """A plain driver connection to the store, in a transaction the caller ends."""
    if backend == "sqlite":
        with closing(sqlite3.connect(store_url.removeprefix("sqlite:///"))) as conn:
            yield conn
    else:
        with psycopg.connect(store_url) as conn:
            yield conn


def test_a_writer_held_open_blocks_the_next_writer_and_the_reader_skips_nothing(
        created_url, backend):
    """Version order is commit order: B waits for A's lock, so 1 commits before 2."""
    b_committed_first, skipped = run_scenario(created_url, HeldAfterAllocation(backend),
                                              LockedVersions(DIALECTS[backend]),
                                              wait_for_b=BLOCKED_FOR)
    assert not b_committed_first
    assert skipped == set()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sqlite_numbering_outside_the_write_lock_makes_the_reader_skip_a_change(created_url):
    """The proof SQLite's mechanism matters: allocating outside the write lock loses 1."""
    b_committed_first, skipped = run_scenario(created_url, NaiveSqliteVersions(),
                                              NaiveSqliteVersions(), wait_for_b=HOLD)
    assert b_committed_first
    assert skipped == {1}


@pytest.mark.parametrize("backend", ["postgres"])
def test_postgres_numbering_from_a_plain_sequence_makes_the_reader_skip_a_change(created_url):
    """The proof the counter row matters: a sequence hands out 2 before 1 commits; 1 is lost."""
    with psycopg.connect(created_url, autocommit=True) as conn:
        conn.execute("CREATE SEQUENCE naive_versions")
    b_committed_first, skipped = run_scenario(created_url, SequenceVersions(),
                                              SequenceVersions(), wait_for_b=HOLD)
    assert b_committed_first
    assert skipped == {1}


def test_the_counter_is_bumped_once_per_version(created_url, backend):
    """bump_counter returns the first of `count` new versions and leaves the counter at the
    last; rolled back, it numbers nothing."""
    with raw_connection(backend, created_url) as conn:
        assert bump_counter(conn, 3, DIALECTS[backend]) == 1
        assert bump_counter(conn, 2, DIALECTS[backend]) == 4
        conn.rollback()
    with open_store(created_url, policy=POLICY) as store:
        assert store.version() == 0
