"""Follows a consent store: a snapshot first, then the changes after its version.

The follower owns the sidecar's current ConsentIndex and swaps it in one assignment, so a
batch is always decided at one consent version. Refreshes are single-flight: concurrent
callers share the one in flight. A failed sync changes nothing, so the staleness clock
(the index's `synced_at`) keeps running until a sync succeeds; the next attempts back off
(with jitter, so a fleet does not reconnect in step), never waiting longer than a sync period.

A reader that pushes changes (`wait_for_change`, see sidecar.store.protocol) is waited on
instead of sleeping: a pushed change is synced at once, polling stays the fallback, and a
sync at least every `heartbeat` seconds keeps a quiet store from reading as stale.

The follower keeps the store's chain at its index's version (sidecar.store.chain). Every
sync first asks the store for its chain there, and checks that each new change links to
the one before: a store restored from a backup, re-made or forked (or a version that went
backwards) is reloaded from a full snapshot in the same sync. If that reload fails, the
index is dropped, so every check is denied as stale rather than decided on a history the
store no longer has.

A reader that relays another follower's syncs (NATS, `sidecar.fanout.reader`) may also
offer `snapshot_index()` (an index it loaded whole, such as a mapped file) and `fresh_at()`
(when its data was last known current, on this process's clock): an index it feeds is then
never fresher than that, so staleness counts from the relay's last word, not from this sync.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

from .clock import Clock, wall_clock
from .core.compact import CompactBase
from .core.index import AccountRows, ConsentIndex
from .core.model import Change, ConsentEntry, Erasure, Micros, StoreRow
from .packed_base import proven_base
from .store.chain import chain_of
from .store.protocol import ConsentReader, PushingReader

log = logging.getLogger("maytrain.sync")

ReaderFactory = Callable[[], ConsentReader]
PAGE = 10_000
PUSH_SLICE = 0.1                 # longest wait on the reader before looking at wake/stop
RETRY_FIRST, RETRY_MAX = 0.1, 5.0  # backoff after failed syncs, doubling per failure
HISTORY_CHANGED = "store history changed under the sidecar: restored, re-made or forked"


class HistoryChanged(Exception):
    """The store no longer holds the history the index was built from (the reason why)."""


class StoreFollower:
    """Keeps a ConsentIndex current with a store; the only writer of `index`."""

    def __init__(self, open_reader: ReaderFactory, *, clock: Clock = wall_clock,
                 on_index: Callable[[ConsentIndex], None] | None = None,
                 initial: ConsentIndex | None = None, initial_chain: str = "",
                 on_time_seen: Callable[[Micros], None] | None = None,
                 spool_dir: str | None = None, packed_base_key: bytes | None = None) -> None:
        # `spool_dir` holds the store's packed base while a cold start maps it (the system's
        # temporary directory when None); the file is unlinked as it is made. With
        # `packed_base_key` (the snapshot key) only a base sealed with it is used.
        # `initial_chain`, the store's chain at the warm-start index's version, lets the
        # first sync follow changes from there instead of reloading; pass it only for a
        # file whose seal is keyed, or a forged file would outlive the first sync.
        self._open_reader, self._clock, self._on_index = open_reader, clock, on_index
        self._on_time_seen, self._spool_dir = on_time_seen, spool_dir
        self._packed_base_key = packed_base_key
        self._reader: ConsentReader | None = None
        self.index: ConsentIndex | None = initial
        self.warm_started = initial is not None
        self.last_error = ""
        self.snapshot_loads = 0
        self.failures = 0
        self.history_reloads = 0
        self.last_history_reload = ""  # why the store's history was last found changed
        # The store's chain at index.version, as followed (None: unknown, load a snapshot).
        self._chain: str | None = (initial_chain or None) if initial is not None else None
        self._packed: tuple[ConsentIndex, int] | None = None  # a packing to move onto
        self._pushes = False
        self._lock = threading.Lock()
        self._flight: threading.Event | None = None
        self._wake = threading.Event()
        self._changed = threading.Condition()
        self._started_monotonic = 0

    def refresh(self) -> ConsentIndex | None:
        """Sync once, or wait for the sync already in flight; returns the current index."""
        with self._lock:
            flight, leader = self._flight, self._flight is None
            if leader:
                flight = self._flight = threading.Event()
        assert flight is not None
        if not leader:
            flight.wait()
            return self.index
        try:
            self._sync()
        finally:
            with self._lock:
                self._flight = None
            flight.set()
        return self.index

    def wait_for_version(self, version: int, timeout: float) -> ConsentIndex | None:
        """The index once it reaches `version`, or the current one after `timeout` seconds.

        The caller only wakes the follow loop and waits for its next index: a request
        thread never syncs itself, so it never reads the store, never holds a request past
        its deadline while a store hangs, and never writes the snapshot file. Before the
        loop runs (or on a follower that never follows) nothing syncs for it: the call ends
        at its timeout with the index there is."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not _reached(self.index, version):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._wake.set()  # again after each index: the loop clears it as it syncs
                self._changed.wait(min(remaining, PUSH_SLICE))
        return self.index

    @property
    def chain(self) -> str:
        """The store's chain at the index's version ('' while unknown)."""
        return self._chain or ""

    def rebase(self, packed: ConsentIndex, loads: int) -> None:
        """Take a packing of an earlier index of this follower (the snapshot writer's file,
        mapped): the next sync moves the index onto it, keeping only later changes in its
        overlay. `loads` is `snapshot_loads` when that index was offered: a packing from
        before a reload is of another history, and is dropped."""
        self._packed = (packed, loads)

    def wake(self) -> None:
        """Ask the follow loop to sync now (a pushed notification arrived)."""
        self._wake.set()

    def follow(self, stop: threading.Event, interval: float, *,
               heartbeat: float | None = None, gap: float = 0.0) -> None:
        """Sync every `interval` seconds (or when woken, or pushed a change) until `stop`,
        never sooner than `gap` seconds after the last sync started."""
        # With a reader that pushes changes, `heartbeat` (if given) shortens the interval:
        # pushes carry the changes, heartbeats keep a quiet store from reading as stale.
        # `gap` makes a busy store's changes arrive in pages: a sync costs the same for one
        # change or a hundred, so a follower's cost stops growing with the write rate.
        last = -gap
        while not stop.is_set():
            if (wait := last + gap - time.monotonic()) > 0 and stop.wait(wait):
                return
            last = time.monotonic()
            self.refresh()
            period = self._period(interval, heartbeat)
            if self.last_error:
                self._wake.wait(self._retry_delay(period))
            elif self._pushes:
                self._wait_for_push(stop, period)
            else:
                self._wake.wait(period)
            self._wake.clear()

    def _period(self, interval: float, heartbeat: float | None) -> float:
        """Seconds between syncs when nothing happens."""
        return min(interval, heartbeat) if self._pushes and heartbeat else interval

    def _retry_delay(self, period: float) -> float:
        """Backoff after `failures` failed syncs in a row, jittered, at most one period."""
        delay = min(period, RETRY_MAX, RETRY_FIRST * 2 ** min(self.failures - 1, 16))
        return delay * random.uniform(0.5, 1.0)

    def _wait_for_push(self, stop: threading.Event, timeout: float) -> None:
        """Wait until a change is pushed, `timeout` passes, or someone wants a sync sooner."""
        # The reader's connection is waited on in short slices: another thread's refresh
        # needs the same connection, and is noticed (then shared) between two slices.
        deadline = time.monotonic() + timeout
        while not (stop.is_set() or self._wake.is_set() or self._flight is not None):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._pushed(min(PUSH_SLICE, remaining)):
                return

    def _pushed(self, timeout: float) -> bool:
        """True when the reader reports a change (or fails: the sync that follows says why)."""
        reader = self._reader
        if reader is None:
            return True
        try:
            return cast(PushingReader, reader).wait_for_change(timeout)
        except Exception:  # a broken connection: sync now, which reconnects or reports
            return True

    def close(self) -> None:
        """Close the store connection, if one is open."""
        self._drop_reader()

    def _sync(self) -> None:
        started, self._started_monotonic = self._clock(), time.monotonic_ns()
        try:
            reader = self._reader or self._connect()
            index, chain = self._advance(reader, started)
            index = self._as_fresh_as(reader, index)
        except Exception as exc:  # any failure leaves the old index; staleness runs on
            self._failed(exc)
            return
        if self.last_error:
            log.info("store reachable again at consent version %d", index.version)
        with self._changed:
            self.last_error, self.warm_started, self.index = "", False, index
            self._chain = chain
            self._changed.notify_all()
        self.failures = 0
        if self._on_index is not None:
            self._on_index(index)

    def _connect(self) -> ConsentReader:
        self._reader = self._open_reader()
        self._pushes = callable(getattr(self._reader, "wait_for_change", None))
        return self._reader

    def _advance(self, reader: ConsentReader, started: Micros) -> tuple[ConsentIndex, str]:
        """The index after this sync and the chain at its version: changes on top of ours,
        or a fresh snapshot (the first time, after a warm start from a file without the
        chain, or when history changed)."""
        index, chain = self.index, self._chain
        if index is None or chain is None:
            return self._load(reader, started)
        index = self._onto_packed(index)
        try:
            _check_history(reader, index.version, chain)
            return self._catch_up(reader, index, chain, started)
        except HistoryChanged as exc:
            return self._reload(reader, started, str(exc))

    def _as_fresh_as(self, reader: ConsentReader, index: ConsentIndex) -> ConsentIndex:
        """The index, stamped no fresher than a relaying reader says its data is (with no
        word from the relay yet: no fresher than the index it replaces, else stale)."""
        fresh_at = getattr(reader, "fresh_at", None)
        if not callable(fresh_at) or index.synced_at is None:
            return index
        known = fresh_at()
        if known is None:
            known = self.index.synced_at if self.index and self.index.synced_at else 0
        return index.confirmed(min(index.synced_at, known))

    def _onto_packed(self, index: ConsentIndex) -> ConsentIndex:
        """The index moved onto the latest packing of it, if one is waiting (see rebase)."""
        packed, self._packed = self._packed, None
        if packed is None or packed[1] != self.snapshot_loads or packed[0].version > index.version:
            return index
        return index.rebased(packed[0].base, packed[0].version)

    def _load(self, reader: ConsentReader, started: Micros) -> tuple[ConsentIndex, str]:
        whole = getattr(reader, "snapshot_index", None)  # forwarded by wrappers: none wraps it
        if callable(whole):
            return self._load_whole(whole)
        if getattr(type(reader), "read_packed_base", None) is not None:
            loaded = self._load_packed(reader, started)
            if loaded is not None:
                return loaded
        # A capability of the reader's class (as the store protocols are), not of whatever
        # a wrapper forwards: a reader that wraps snapshot() is read through it.
        if getattr(type(reader), "snapshot_base", None) is not None:
            return self._load_base(reader.snapshot_base, started)  # type: ignore[attr-defined]
        if getattr(type(reader), "snapshot_grouped", None) is not None:
            return self._load_grouped(reader.snapshot_grouped, started)  # type: ignore[attr-defined]
        snapshot = reader.snapshot()
        self.snapshot_loads += 1
        log.info("loaded a full snapshot at consent version %d (%d rows)",
                 snapshot.version, len(snapshot.rows))
        self._seen(snapshot.rows)
        return ConsentIndex.build(snapshot.version, snapshot.rows,
                                  synced_at=self._rebased(started)), snapshot.chain

    def _load_whole(self, load: Callable[[], tuple[ConsentIndex, str]]) -> tuple[ConsentIndex, str]:
        """An index the reader loaded whole, with the chain at its version."""
        index, chain = load()
        self.snapshot_loads += 1
        log.info("loaded a snapshot at consent version %d (%d accounts, %d entries)",
                 index.version, index.account_count, index.entry_count)
        return index, chain

    def _load_packed(self, reader: ConsentReader,
                     started: Micros) -> tuple[ConsentIndex, str] | None:
        """The store's packed base, proven and followed to the store's version; None (read
        the rows) when the store has none or it fails a check (see `packed_base`)."""
        try:
            if self._spool_dir:
                os.makedirs(self._spool_dir, exist_ok=True)
            with tempfile.TemporaryFile(dir=self._spool_dir) as spool:
                info = reader.read_packed_base(spool)  # type: ignore[attr-defined]
                if info is None:
                    return None
                base = CompactBase(proven_base(spool, info, self._packed_base_key))
        except Exception as exc:  # the base is a cache: whatever is wrong with it, read the truth
            # Most often a check failed (PackedBaseRefused), or the role may read the rows but
            # not the base (granted before schema 3); a store that is down fails the rows too.
            log.warning("the store's packed base was not used (%s: %s); reading every row",
                        type(exc).__name__, exc)
            return None
        try:
            _check_history(reader, info.version, info.chain)
            index, chain = self._catch_up(reader, ConsentIndex.on(base, info.version),
                                          info.chain, started)
        except HistoryChanged as exc:
            log.warning("the store's packed base at consent version %d is not in the store's "
                        "history (%s); reading every row", info.version, exc)
            return None
        self.snapshot_loads += 1
        self._tell_clock(info.latest_write)
        index = index.confirmed(self._rebased(started))
        log.info("loaded the store's packed base at consent version %d (%d accounts, %d "
                 "entries) and followed the store to %d", info.version, base.account_count,
                 base.entry_count, index.version)
        return index, chain

    def _load_base(self, load: Callable[[], tuple[int, str, CompactBase, Micros | None]],
                   started: Micros) -> tuple[ConsentIndex, str]:
        """A snapshot the store packed as it read it (a SQL store's cold start)."""
        version, chain, base, latest = load()
        index = ConsentIndex.on(base, version)
        self.snapshot_loads += 1
        log.info("loaded a full snapshot at consent version %d (%d accounts, %d entries)",
                 version, index.account_count, index.entry_count)
        self._tell_clock(latest)
        return index.confirmed(self._rebased(started)), chain

    def _load_grouped(self, grouped: Callable[[], Any],
                      started: Micros) -> tuple[ConsentIndex, str]:
        """A snapshot streamed in account order, packed as it is read (bounded memory)."""
        latest = _LatestTime()
        with grouped() as (version, chain, groups):
            index = ConsentIndex.from_groups(version, latest.watch(groups))
        self.snapshot_loads += 1
        log.info("loaded a full snapshot at consent version %d (%d accounts, %d entries)",
                 version, index.account_count, index.entry_count)
        self._tell_clock(latest.value)
        return index.confirmed(self._rebased(started)), chain

    def _catch_up(self, reader: ConsentReader, index: ConsentIndex, chain: str,
                  started: Micros) -> tuple[ConsentIndex, str]:
        """Apply the changes after the index's version, each checked to link to the last."""
        while True:
            changes = reader.changes_since(index.version, PAGE)
            chain = _linked(chain, index.version, changes)
            self._seen(change.row for change in changes)
            index = index.apply(changes, synced_at=self._rebased(started))
            if len(changes) < PAGE:
                return index, chain

    def _reload(self, reader: ConsentReader, started: Micros,
                reason: str) -> tuple[ConsentIndex, str]:
        """Replace a divergent index with a snapshot; drop it if the snapshot fails."""
        self.history_reloads += 1
        self.last_history_reload = reason
        log.warning("%s; reloading (%s)", HISTORY_CHANGED, reason)
        try:
            return self._load(reader, started)
        except Exception:
            self._drop_index()
            raise

    def _drop_index(self) -> None:
        """Fail closed: no index is better than one from a history the store lost."""
        log.warning("dropped the cache until a snapshot loads: every check is denied as stale")
        with self._changed:
            self.index, self._chain, self.warm_started = None, None, False
            self._changed.notify_all()

    def _rebased(self, started: Micros) -> Micros:
        """When this sync started, on the clock as it reads now: a clock moved up to a
        time seen meanwhile moves the start with it (a re-basing is no elapsed time)."""
        elapsed = (time.monotonic_ns() - self._started_monotonic) // 1000
        return max(started, self._clock() - elapsed)

    def _seen(self, rows: Iterable[StoreRow]) -> None:
        """Tell the clock the latest write time among rows about to be applied."""
        if self._on_time_seen is not None:
            self._tell_clock(latest_time(rows))

    def _tell_clock(self, latest: Micros | None) -> None:
        if latest is not None and self._on_time_seen is not None:
            self._on_time_seen(latest)

    def _failed(self, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"
        if message != self.last_error:
            log.warning("consent store sync failed (will retry): %s", message)
        self.last_error = message
        self.failures += 1
        self._drop_reader()

    def _drop_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            # Closing a broken connection may fail too; there is nothing to do about it.
            with contextlib.suppress(Exception):
                reader.close()


def _check_history(reader: ConsentReader, version: int, chain: str) -> None:
    """Raise HistoryChanged unless the store's chain at `version` is still `chain`."""
    found = reader.chain_at(version)
    if found is None:
        raise HistoryChanged(f"the store went back from consent version {version} to "
                             f"{reader.version()}")
    if found != chain:
        raise HistoryChanged(f"the store's chain at consent version {version} is not the "
                             "one this sidecar followed")


def _linked(chain: str, version: int, changes: list[Change]) -> str:
    """The chain after `changes`, each checked to follow the one before (HistoryChanged)."""
    for change in changes:
        expected = chain_of(chain, change)
        if change.chain != expected:
            raise HistoryChanged(f"change {change.version} does not follow the chain at "
                                 f"consent version {version}")
        chain, version = expected, change.version
    return chain


class _LatestTime:
    """The latest write time among the rows of account groups streamed past it."""

    def __init__(self) -> None:
        self.value: Micros | None = None

    def watch(self, groups: Iterable[AccountRows]) -> Iterator[AccountRows]:
        """The groups, unchanged, noting their rows' write times on the way."""
        for group in groups:
            _, account, entries, erasures = group
            found = latest_time([*([account] if account else ()), *entries, *erasures])
            if found is not None and (self.value is None or found > self.value):
                self.value = found
            yield group


def _reached(index: ConsentIndex | None, version: int) -> bool:
    return index is not None and index.version >= version


def latest_time(rows: Iterable[StoreRow]) -> Micros | None:
    """The latest time a store row was written at (by its writer's clock), if any."""
    times = [t for t in map(_written_at, rows) if t is not None]
    return max(times, default=None)


def _written_at(row: StoreRow) -> Micros | None:
    if isinstance(row, ConsentEntry):
        return row.recorded_at
    return row.requested_at if isinstance(row, Erasure) else row.created_at
