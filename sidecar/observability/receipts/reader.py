"""Reading a receipt spool back: its files in order, each receipt that passes a filter.

Receipts come out one JSON object a line, keys in `lines.FIELDS` order. A torn line (the
last one of a file when the process died mid-write) or a line that is not a spool line is
skipped and counted. Following (`follow=True`) keeps reading as the writer appends, and
moves on to each new file. The spools of a sidecar's workers (`DIR/worker-<i>/`) are read
with DIR's own, their lines merged by time.
"""

from __future__ import annotations

import heapq
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii as _quoted  # type: ignore[attr-defined]
from pathlib import Path

from .lines import expand, parse_line
from .spool import numbered_files, spool_directories

CHUNK = 1 << 20


@dataclass(frozen=True)
class ReceiptFilter:
    """What a receipt must match; None matches anything. `since` is inclusive, `until`
    exclusive; both are receipt times (`lines.receipt_time`), which sort as text."""

    account: str | None = None
    user: str | None = None
    verdict: str | None = None
    reason: str | None = None
    since: str | None = None
    until: str | None = None
    min_version: int | None = None

    def matches_batch(self, batch: dict) -> bool:
        """True when the fields a line's receipts share pass (time and version)."""
        time = str(batch.get("time", ""))
        if (self.since is not None and time < self.since) or (
                self.until is not None and time >= self.until):
            return False
        version = batch.get("consent_version")
        return self.min_version is None or (isinstance(version, int)
                                            and version >= self.min_version)

    def matches(self, receipt: dict) -> bool:
        """True when one receipt passes every condition given."""
        exact = (("account", self.account), ("user", self.user), ("verdict", self.verdict),
                 ("reason", self.reason))
        return self.matches_batch(receipt) and not any(
            want is not None and receipt.get(key) != want for key, want in exact)

    def quick_reject(self, line: str) -> bool:
        """True when no receipt of the line can match, seen without parsing it: the
        account's text is nowhere in it."""
        return self.account is not None and _quoted(self.account)[1:-1] not in line


@dataclass
class ReadStats:
    """What a read skipped."""

    skipped: int = 0


@dataclass
class _Position:
    seq: int = 0
    offset: int = 0
    partial: bytes = field(default=b"")


def read_receipts(directory: str | Path, wanted: ReceiptFilter = ReceiptFilter(), *,
                  follow: bool = False, poll: float = 0.5,
                  stop: threading.Event | None = None,
                  stats: ReadStats | None = None) -> Iterator[str]:
    """Every receipt in the spool that `wanted` matches, as a JSON line (with its newline)."""
    stats = stats if stats is not None else ReadStats()
    for raw in _spool_lines(Path(directory), follow, poll, stop or threading.Event()):
        line = raw.decode("utf-8", "replace")
        if wanted.quick_reject(line):
            continue
        batch = parse_line(line)
        if batch is None:
            stats.skipped += 1
        elif wanted.matches_batch(batch):
            for receipt in expand(batch):
                if wanted.matches(receipt):
                    yield json.dumps(receipt, separators=(",", ":")) + "\n"


def _spool_lines(directory: Path, follow: bool, poll: float,
                 stop: threading.Event) -> Iterator[bytes]:
    """Every complete line of the spools' files, oldest file first, then (when following)
    each line as it is appended; a torn last line of a finished file is yielded as is
    (the caller finds it is no receipt). The spools' lines are merged by their time."""
    tails: dict[Path, _Tail] = {}
    while True:
        for spool in spool_directories(directory):
            tails.setdefault(spool, _Tail(spool))
        yield from heapq.merge(*(tail.lines(follow) for tail in tails.values()), key=_time_of)
        if not follow or stop.wait(poll):
            return


def _time_of(line: bytes) -> bytes:
    """The time a spool line starts with ({"time":"2026-03-15T14:23:01.123456Z"...)."""
    return line[:40]


class _Tail:
    """Where reading one spool has got to."""

    def __init__(self, directory: Path) -> None:
        self.directory, self.at = directory, _Position()

    def lines(self, follow: bool) -> Iterator[bytes]:
        """The lines written since the last call (all of them, at first)."""
        files = [(seq, path) for seq, path in numbered_files(self.directory)
                 if seq >= self.at.seq]
        for position, (seq, path) in enumerate(files):
            if seq != self.at.seq:
                self.at = _Position(seq)
            at = self.at
            for chunk in _chunks(path, at):
                *lines, at.partial = (at.partial + chunk).split(b"\n")
                yield from lines
            if position < len(files) - 1 or not follow:  # finished
                if at.partial:
                    yield at.partial
                self.at = _Position(seq + 1)


def _chunks(path: Path, at: _Position) -> Iterator[bytes]:
    """What the file holds past `at.offset`, in chunks, moving the offset along."""
    try:
        with open(path, "rb") as file:
            file.seek(at.offset)
            while chunk := file.read(CHUNK):
                at.offset += len(chunk)
                yield chunk
    except FileNotFoundError:  # trimmed away under the cap while we read
        return
