"""When the warm-start snapshot file is read and rewritten (its format is snapshot_file's)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from .core.index import ConsentIndex
from .snapshot_file import read_snapshot, write_snapshot

log = logging.getLogger("maytrain.snapshot")


class SnapshotWriter:
    """Loads the file once at start; rewrites it after syncs, at most every `every` seconds
    while the version stands still (so a quiet store's file does not grow old)."""

    def __init__(self, path: str | None, store_id: str, every: float) -> None:
        self.path = Path(path) if path else None
        self.store_id, self.every = store_id, every
        self._written_version, self._written_at = -1, 0.0

    def load(self) -> ConsentIndex | None:
        """The saved index for this store, if there is a usable one."""
        if self.path is None:
            return None
        index = read_snapshot(self.path, self.store_id)
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
            write_snapshot(self.path, index, self.store_id)
            self._written_version, self._written_at = index.version, now
        except OSError as exc:
            log.warning("could not write snapshot %s: %s", self.path, exc)
