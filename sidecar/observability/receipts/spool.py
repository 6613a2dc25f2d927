"""The receipt spool on disk: a directory of `receipts-<start>-<seq>.jsonl` files, each
line one answered call's receipts (see `lines`).

One file is open for appending at a time. It is rotated when it reaches its size or its age,
and when a rotation would take the spool over its total cap the oldest files are deleted
first, each deletion reported to the caller. `<start>` is the UTC time of the file's first
receipt, `<seq>` a number that only grows, also across restarts: files are ordered by it.

Under `serve --workers N` each worker has a spool of its own, `DIR/worker-<i>/` (a share
of the cap each), so no two processes ever append to, rotate or trim the same files;
readers take DIR and every worker spool in it together (`spool_directories`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .lines import count_receipts

FILE_PATTERN = re.compile(r"^receipts-(?P<start>\d{8}T\d{6}Z)-(?P<seq>\d+)\.jsonl$")
WORKER_PATTERN = re.compile(r"^worker-\d+$")


@dataclass(frozen=True)
class SpoolLimits:
    """When to rotate (bytes or seconds per file) and the cap on the spool's total bytes."""

    file_bytes: int = 64 << 20
    file_seconds: float = 3600.0
    max_bytes: int = 1 << 30


@dataclass(frozen=True)
class DeletedFile:
    """A file deleted to keep the spool under its cap, and the receipts it held."""

    path: Path
    size: int
    receipts: int


def numbered_files(directory: Path) -> list[tuple[int, Path]]:
    """The spool's files with their sequence numbers, oldest first."""
    found = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(directory):
            match = FILE_PATTERN.match(entry.name)
            if match and entry.is_file():
                found.append((int(match["seq"]), Path(entry.path)))
    return sorted(found)


def worker_spool(directory: str | Path, index: int) -> Path:
    """The spool of worker `index` of a sidecar run with several workers."""
    return Path(directory) / f"worker-{index}"


def spool_directories(directory: Path) -> list[Path]:
    """The spool `directory` and the worker spools in it, in worker order."""
    found = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(directory):
            if WORKER_PATTERN.match(entry.name) and entry.is_dir():
                found.append((int(entry.name.removeprefix("worker-")), Path(entry.path)))
    return [directory, *(path for _, path in sorted(found))]


def spool_files(directory: Path) -> list[Path]:
    """The spool's files, oldest first (by sequence number)."""
    return [path for _, path in numbered_files(directory)]


class Spool:
    """Appends text to the current file; rotates, fsyncs and trims when told to."""

    def __init__(self, directory: str | Path, limits: SpoolLimits = SpoolLimits()) -> None:
        self.directory, self.limits = Path(directory), limits
        self.directory.mkdir(parents=True, exist_ok=True)
        existing = spool_files(self.directory)
        self._seq = _seq_of(existing[-1]) if existing else 0
        self._file: BinaryIO | None = None
        self._size, self._opened = 0, 0.0
        self.path: Path | None = None
        self._receipts: dict[Path, int] = {}  # of the files this spool wrote: none to read

    def rotation_due(self, adding: int) -> bool:
        """True when `adding` more bytes should go to a new file (the current one is full
        or old); a file with nothing in it is never rotated."""
        if self._file is None or self._size == 0:
            return False
        too_big = self._size + adding > self.limits.file_bytes
        return too_big or time.monotonic() - self._opened >= self.limits.file_seconds

    def fits(self, adding: int) -> bool:
        """True when `adding` more bytes keep the current file (or a new one) within its
        size."""
        return (self._size if self._file is not None else 0) + adding <= self.limits.file_bytes

    def append(self, parts: Sequence[bytes], start: str, receipts: int = 0) -> None:
        """Write lines (in parts) holding `receipts` to the current file, opening one named
        after `start` (YYYYmmddTHHMMSSZ) if none is open. OSError propagates, and then
        none of the parts is in the file: what a failed write had written is cut off again
        (the caller counts those receipts as lost, so no reader may find them); the file
        stays open for the caller to fsync what came before, and close. Bytes, not text: a
        text file's encoder costs several times the write."""
        if self._file is None:
            self._open(start)
        assert self._file is not None and self.path is not None
        fd = self._file.fileno()
        try:
            size = _write_all(fd, parts)
        except OSError:
            with contextlib.suppress(OSError):  # else a torn line stays, which readers skip
                os.ftruncate(fd, self._size)
                os.lseek(fd, self._size, os.SEEK_SET)  # a later write leaves no hole
            raise
        self._size += size
        self._receipts[self.path] = self._receipts.get(self.path, 0) + receipts

    def fsync(self) -> None:
        """Make what was appended durable."""
        if self._file is not None:
            try:
                os.fsync(self._file.fileno())
            except OSError:
                self.close()
                raise

    def close(self) -> None:
        """Close the current file (after an fsync, if the caller wants it durable)."""
        file, self._file, self.path = self._file, None, None
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()

    def trim(self, reserve: int) -> list[DeletedFile]:
        """Delete the oldest closed files until the spool plus `reserve` bytes fits the cap."""
        files = [path for path in spool_files(self.directory) if path != self.path]
        sizes = {path: _size(path) for path in files}
        total = sum(sizes.values()) + (self._size if self._file is not None else 0)
        deleted = []
        for path in files:
            if total + reserve <= self.limits.max_bytes:
                break
            receipts = self._receipts.pop(path, None)
            if receipts is None:  # a file an earlier run wrote: count its lines
                receipts = _count_receipts(path)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                deleted.append(DeletedFile(path, sizes[path], receipts))
            total -= sizes[path]
        if deleted:
            _fsync_directory(self.directory)
        kept = set(files) | {self.path}  # forget files someone else deleted
        self._receipts = {path: n for path, n in self._receipts.items() if path in kept}
        return deleted

    def _open(self, start: str) -> None:
        while True:
            self._seq += 1
            path = self.directory / f"receipts-{start}-{self._seq:06d}.jsonl"
            try:
                self._file = open(path, "xb", buffering=0)  # noqa: SIM115
                break
            except FileExistsError:  # another writer's file, or a name seen late: skip it
                continue
        self.path, self._size, self._opened = path, 0, time.monotonic()
        _fsync_directory(self.directory)


def _write_all(fd: int, parts: Sequence[bytes]) -> int:
    """Write the parts with one system call (the writer thread then waits for the
    interpreter lock once, not once per part: a busy check thread holds it for up to 5 ms
    each time); the rest after a short write. The bytes written."""
    total = sum(map(len, parts))
    written = os.writev(fd, parts)
    if written < total:  # rare (a signal, a nearly full disk): write the rest
        rest = memoryview(b"".join(parts))[written:]
        while rest:
            step = os.write(fd, rest)
            if step <= 0:
                raise OSError(errno.EIO, "the spool file took no more bytes")
            rest = rest[step:]
    return total


def _seq_of(path: Path) -> int:
    match = FILE_PATTERN.match(path.name)
    return int(match["seq"]) if match else 0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _count_receipts(path: Path) -> int:
    """The receipts in a file's complete lines."""
    with contextlib.suppress(FileNotFoundError), open(path, "rb") as file:
        return sum(count_receipts(line) for line in file if line.endswith(b"\n"))
    return 0


def _fsync_directory(directory: Path) -> None:
    """Make a file's creation or deletion durable (where the platform allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
