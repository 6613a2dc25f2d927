"""The receipt writer: a bounded in-memory queue in front of one thread that fills the spool.

A check never waits for the disk: `decided()` formats the batch's spool line and puts it in
the queue, and the writer thread appends it to the spool. Formatting is done by the
checking thread because it is cheaper there than on another thread contending for the
same interpreter lock (measured: about half the cost). What does not fit in the queue is
counted as dropped, and a warning says how many every `report_every` seconds, so no
receipt is ever lost without a trace:

    decided == written + dropped + unsampled   (once the writer is closed)

`written` counts receipts that were fsynced; the writer syncs at most every
`fsync_every` seconds and at every rotation, not per line.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..observers import DecidedBatch
from .lines import Receipts, format_line, line_time, sampled
from .spool import DeletedFile, Spool

log = logging.getLogger("maytrain.receipts")
DROP_CAUSES = ("queue_full", "write_error", "shutdown")


@dataclass(frozen=True)
class ReceiptCounts:
    """The writer's counters, at one moment."""

    written: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_CAUSES, 0))
    unsampled: int = 0
    deleted: int = 0
    pending: int = 0
    """Receipts accepted and not yet fsynced (queued, being written, or awaiting the fsync)."""

    @property
    def decided(self) -> int:
        """Every decision the writer was told of."""
        return self.written + sum(self.dropped.values()) + self.unsampled + self.pending


MAX_PARTS = 1000
"""Parts written with one writev (Linux takes up to 1024)."""


@dataclass
class _Group:
    """Lines written together: their parts, bytes and receipts."""

    parts: list[bytes]
    size: int
    receipts: int


class ReceiptWriter:
    """Observer of decided batches that spools their receipts (or counts why it did not)."""

    def __init__(self, spool: Spool, *, sample: float = 1.0, capacity: int = 100_000,
                 fsync_every: float = 1.0, report_every: float = 10.0) -> None:
        self.spool, self.sample, self.capacity = spool, sample, capacity
        self.fsync_every, self.report_every = fsync_every, report_every
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._items: deque[tuple[list[bytes], int]] = deque()  # lines (parts), receipts
        self._queued = 0  # receipts in memory: reserved, queued, or in the writer's hands
        self._formatting = 0  # checks that reserved room and are formatting their line
        self._closing = self._warned_closed = False
        self._last_error = ""
        self._written = self._unsampled = self._deleted = self._unsynced = 0
        self._dropped = dict.fromkeys(DROP_CAUSES, 0)
        self._unreported = dict.fromkeys(DROP_CAUSES, 0)
        self._thread = threading.Thread(target=self._run, name="maytrain-receipts", daemon=True)

    def start(self) -> None:
        """Trim what an earlier run left over the cap, then start the writer thread."""
        self._deleted_files(self.spool.trim(reserve=0))
        self._thread.start()

    def decided(self, batch: DecidedBatch) -> None:
        """Queue a batch's receipts (the sampled share); count what does not fit."""
        records, decisions = sampled(batch.records, batch.decisions, self.sample)
        taken = self._reserve(len(batch.decisions), len(decisions))
        if not taken:
            return
        try:
            line = format_line(Receipts(batch, records, decisions, taken))
        except Exception:  # a bug, but the receipts it held are still counted
            with self._lock:
                self._formatting, self._queued = self._formatting - 1, self._queued - taken
                self._drop("write_error", taken)
            raise
        with self._lock:
            self._formatting -= 1
            self._items.append((line, taken))
            self._wake.notify()

    def _reserve(self, decided: int, offered: int) -> int:
        """Room in the queue for what fits of `offered` receipts (of `decided`); the rest
        is counted as unsampled or dropped."""
        with self._lock:
            self._unsampled += decided - offered
            if self._closing:
                late, self._warned_closed = not self._warned_closed, True
                self._drop("shutdown", offered)
                taken = 0
            else:
                late, taken = False, max(0, min(offered, self.capacity - self._queued))
                self._drop("queue_full", offered - taken)
                self._queued += taken
                self._formatting += 1 if taken else 0
        if late:
            log.warning("decision receipts arrived after the receipt writer closed; they are "
                        "dropped and counted (cause shutdown)")
        return taken

    def counts(self) -> ReceiptCounts:
        """The counters now."""
        with self._lock:
            return ReceiptCounts(self._written, dict(self._dropped), self._unsampled,
                                 self._deleted, self._queued + self._unsynced)

    def close(self, timeout: float = 60.0) -> ReceiptCounts:
        """Write and fsync everything queued, stop the thread, close the file; later
        batches are counted as dropped ("shutdown")."""
        with self._lock:
            self._closing = True
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("the receipt writer did not finish within %.0f s; %d receipts "
                          "were not written", timeout, self._queued)
        return self.counts()

    def _drop(self, cause: str, count: int) -> None:
        """Count receipts lost (the lock is held)."""
        if not count:
            return
        self._dropped[cause] += count
        self._unreported[cause] += count

    def _run(self) -> None:
        last_sync = last_report = time.monotonic()
        while True:
            with self._lock:
                if not self._items and not (self._closing and not self._formatting):
                    self._wake.wait(self._next_wait(last_sync, last_report))
                items = list(self._items)
                closing = self._closing and not self._items and not self._formatting
                self._items.clear()
            for group in self._groups(items):
                self._write(group)
            now = time.monotonic()
            if closing or now - last_sync >= self.fsync_every:
                self._sync()
                last_sync = now
            if closing or now - last_report >= self.report_every:
                self._report()
                last_report = now
            if closing:
                self.spool.close()
                return

    def _next_wait(self, last_sync: float, last_report: float) -> float:
        now = time.monotonic()
        sync_in = self.fsync_every - (now - last_sync) if self._unsynced else self.report_every
        return max(0.01, min(sync_in, self.report_every - (now - last_report)))

    def _groups(self, items: list[tuple[list[bytes], int]]) -> Iterator[_Group]:
        """The queued lines in groups written with one system call each: the writer then
        waits for the interpreter lock once a group, not once a line, and keeps up with a
        check thread that holds it. A group fits the file it starts in."""
        group: _Group | None = None
        for parts, count in items:
            size = sum(map(len, parts))
            if group is not None and (len(group.parts) + len(parts) > MAX_PARTS
                                      or not self.spool.fits(group.size + size)):
                yield group
                group = None
            if group is None:
                group = _Group([], 0, 0)
            group.parts.extend(parts)
            group.size, group.receipts = group.size + size, group.receipts + count
        if group is not None:
            yield group

    def _write(self, group: _Group) -> None:
        parts, count = group.parts, group.receipts
        try:
            if self.spool.rotation_due(group.size):
                self._sync()
                self.spool.close()
                self._deleted_files(self.spool.trim(reserve=self.spool.limits.file_bytes))
            self.spool.append(parts, line_time(parts[0]), count)
        except OSError as exc:
            with self._lock:
                self._queued -= count
            self._sync()  # what the file took before is written once this fsync succeeds
            self.spool.close()
            self._failed(exc, count)
            return
        with self._lock:
            self._queued -= count
            self._unsynced += count

    def _sync(self) -> None:
        """fsync the current file; what was appended to it counts as written from now."""
        if not self._unsynced:
            return
        try:
            self.spool.fsync()
        except OSError as exc:
            self._failed(exc, 0)
            return
        with self._lock:
            self._written, self._unsynced = self._written + self._unsynced, 0
        self._last_error = ""

    def _failed(self, exc: OSError, count: int) -> None:
        """A write or an fsync failed: what it held, and what was not yet synced, is lost."""
        with self._lock:
            lost, self._unsynced = count + self._unsynced, 0
            self._drop("write_error", lost)
        message = str(exc.strerror or exc)
        if message != self._last_error:  # a full disk fails every batch: say it once,
            self._last_error = message    # then count (see _report)
            log.error("could not write decision receipts to %s: %s (%d receipts lost, "
                      "counted as dropped)", self.spool.directory, message, lost)

    def _report(self) -> None:
        with self._lock:
            unreported, self._unreported = self._unreported, dict.fromkeys(DROP_CAUSES, 0)
            total = sum(self._dropped.values())
        if unreported["queue_full"]:
            log.warning("receipt queue full: dropped %d decision receipts since the last report "
                        "(%d dropped in all); lower --receipts-sample or raise --receipts-queue",
                        unreported["queue_full"], total,
                        extra={"dropped": unreported["queue_full"], "dropped_total": total})
        if unreported["write_error"]:
            log.error("could not write %d decision receipts since the last report (%s); "
                      "they are counted as dropped", unreported["write_error"],
                      self._last_error or "recovered since")

    def _deleted_files(self, deleted: list[DeletedFile]) -> None:
        for gone in deleted:
            with self._lock:
                self._deleted += gone.receipts
            log.warning("deleted receipt file %s (%d receipts, %d bytes) to keep the spool "
                        "under its cap of %d bytes", gone.path.name, gone.receipts, gone.size,
                        self.spool.limits.max_bytes)

