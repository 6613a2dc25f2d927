"""When the warm-start snapshot file is read and rewritten (its format is snapshot_file's)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from .core.index import ConsentIndex
from .core.model import Micros
from .snapshot_file import read_snapshot, remove_temporary_files, write_snapshot

log = logging.getLogger("maytrain.snapshot")


class SnapshotWriter:
    """Loads the file once at start; rewrites it after syncs, at most every `every` seconds
    while the version stands still (so a quiet store's file does not grow old).

    With a `key` the file is authenticated (HMAC-SHA256); without one its checksum only
    detects corruption, which is logged once. What a killed writer left is removed here.
    """

    def __init__(self, path: str | None, store_id: str, every: float,
                 key: bytes | None = None) -> None:
        self.path = Path(path) if path else None
        self.store_id, self.every, self._key = store_id, every, key
        self._written_version, self._written_at = -1, 0.0
        if self.path is None:
            return
        for left_over in remove_temporary_files(self.path):
            log.info("removed %s, left by a snapshot write that did not finish", left_over)
        if key is None:
            log.info("snapshot file %s is not authenticated (no --snapshot-key-file): its "
                     "checksum detects corruption, not a forged file", self.path)

    def load(self, now: Micros) -> ConsentIndex | None:
        """The saved index for this store, if there is a usable one (synced by `now`)."""
        if self.path is None:
            return None
        index = read_snapshot(self.path, self.store_id, now=now, key=self._key)
        if index is not None:
            log.info("loaded snapshot %s at consent version %d", self.path, index.version)
        return index

    def maybe_write(self, index: ConsentIndex) -> None:
        """Write after a sync that changed the version, or when the file grows old."""
        if self.path is None:
            return
        now = time.monotonic()
        if index.version == self._written_version and now - self._written_at < self.every:
            return
        try:
            write_snapshot(self.path, index, self.store_id, self._key)
            self._written_version, self._written_at = index.version, now
        except OSError as exc:
            log.warning("could not write snapshot %s: %s", self.path, exc)
