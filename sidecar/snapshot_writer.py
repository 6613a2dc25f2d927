"""When the warm-start file is read and rewritten (its format is index_file's), on a thread
of its own: the sync path only hands over the latest index, it never writes.

A new body is written when enough has changed since the file's version (a share of the
entries, at least MIN_CHANGES) or when changes have waited FULL_EVERY seconds; a body
that is still current only gets a fresh sync time in its header, every `every` seconds,
so a quiet store's file does not grow old. After a new body is written, `on_written` is
given the index mapped from it (and the tag it was offered with), so the follower can
drop what the file now holds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .core.errors import MaytrainError
from .core.index import ConsentIndex
from .core.model import Micros
from .index_file import IndexFile, map_index, refresh_header, write_index
from .snapshot_file import remove_temporary_files

log = logging.getLogger("maytrain.snapshot")
MIN_CHANGES = 1_000
CHANGED_SHARE = 0.01  # of the entries
FULL_EVERY = 300.0    # seconds a change may wait for a new body


class SnapshotWriter:
    """Loads the file once at start; keeps it current from the indexes it is offered.

    With a `key` the file is authenticated (HMAC-SHA256); without one its checksum only
    detects corruption, which is logged once. What a killed writer left is removed here,
    unless `read_only` (a worker other than 0 of `serve --workers`: it loads the file that
    worker 0 writes, and must not remove the temporary file being written).
    """

    def __init__(self, path: str | None, store_id: str, every: float,
                 key: bytes | None = None, *, full_every: float = FULL_EVERY,
                 read_only: bool = False) -> None:
        self.path = Path(path) if path else None
        self.read_only = read_only
        self.store_id, self.every, self.full_every, self._key = store_id, every, full_every, key
        self.on_written: Callable[[ConsentIndex, int], None] | None = None
        self.header: IndexFile | None = None
        self._refreshed = self._written = time.monotonic()
        self._latest: tuple[ConsentIndex, str, int] | None = None
        self._offered = threading.Event()
        if self.path is None:
            return
        for left_over in () if read_only else remove_temporary_files(self.path):
            log.info("removed %s, left by a snapshot write that did not finish", left_over)
        if key is None:
            log.info("snapshot file %s is not authenticated (no --snapshot-key-file): its "
                     "checksum detects corruption, not a forged file", self.path)

    @property
    def authenticated(self) -> bool:
        """True when the file is sealed with a key (HMAC): only this sidecar could write it."""
        return self._key is not None

    def load(self, now: Micros) -> ConsentIndex | None:
        """The saved index for this store, if there is a usable one (synced by `now`)."""
        if self.path is None:
            return None
        try:
            index, self.header = map_index(self.path, self.store_id, now=now, key=self._key)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, MaytrainError) as exc:
            log.warning("ignoring snapshot file %s: %s", self.path, exc)
            return None
        log.info("loaded snapshot %s at consent version %d (%d accounts, mapped)", self.path,
                 index.version, index.account_count)
        return index

    def offer(self, index: ConsentIndex, chain: str = "", tag: int = 0) -> None:
        """Hand over the latest index and the store's chain at its version (cheap: the
        writer thread does the rest); `tag` comes back with `on_written`."""
        self._latest = (index, chain, tag)
        self._offered.set()

    def wake(self) -> None:
        """Make the writer thread look at once (at shutdown: to write the last index)."""
        self._offered.set()

    def run(self, stop: threading.Event) -> None:
        """Write what is due until `stop`, then once more with the last index offered."""
        while not stop.is_set():
            self._offered.wait(self.every)
            self._offered.clear()
            self._step()
        self._step()

    def _step(self) -> None:
        latest = self._latest
        if latest is not None:
            self.maybe_write(*latest)

    def maybe_write(self, index: ConsentIndex, chain: str = "", tag: int = 0) -> None:
        """Write a new body, refresh the header, or do nothing, as the index calls for."""
        if self.path is None or self.read_only or index.synced_at is None:
            return
        try:
            if self.header is not None and index.version == self.header.version:
                self._refresh(index.synced_at)
            elif self._body_due(index):
                self._write(index, chain, tag)
        except OSError as exc:
            log.warning("could not write snapshot %s: %s", self.path, exc)

    def _body_due(self, index: ConsentIndex) -> bool:
        if self.header is None or index.version < self.header.version:
            return True
        changes = index.version - self.header.version
        enough = max(MIN_CHANGES, int(CHANGED_SHARE * index.entry_count))
        return changes >= enough or time.monotonic() - self._written >= self.full_every

    def _refresh(self, synced_at: Micros) -> None:
        header, now = self.header, time.monotonic()
        if header is None or self.path is None or synced_at <= header.synced_at \
                or now - self._refreshed < self.every:
            return
        self.header = refresh_header(self.path, header, synced_at, self._key)
        self._refreshed = now

    def _write(self, index: ConsentIndex, chain: str, tag: int) -> None:
        assert self.path is not None and index.synced_at is not None
        started = time.monotonic()
        self.header = write_index(self.path, index, self.store_id, self._key, chain)
        self._written = self._refreshed = time.monotonic()
        log.info("wrote snapshot %s at consent version %d (%d bytes, %.1f s)", self.path,
                 index.version, self.header.body_bytes, self._written - started)
        if self.on_written is not None:
            mapped, _ = map_index(self.path, self.store_id, now=index.synced_at, key=self._key)
            self.on_written(mapped, tag)
