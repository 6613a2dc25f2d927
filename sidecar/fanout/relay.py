"""`maytrain relay`: follows a consent store and publishes it to NATS JetStream.

Each change goes to the stream once, as the message after the one for the version before
it: it is published with `Nats-Msg-Id` its version and `Nats-Expected-Last-Sequence` the
stream's last sequence as this relay knows it, so a second relay that published it first
makes this publish fail (or dedupe), and this relay reads the stream's last message and
goes on from there. Relays never keep what to publish: every round reads the store's
changes after the stream's last version, so a relay that was down, a NATS or a store
that restarted, resumes at the first version missing, never past one.

After every round a heartbeat (a `wire.Mark`: the version published, its chain, when the
store was read) tells followers how fresh the stream is. The latest snapshot, the relay's
own `StoreFollower` index, goes to the object store every N changes or S seconds; a store
whose history changed (restored, re-made) gets a new snapshot and a purged stream, and
its followers reload when their chain check finds the other history.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..clock import wall_clock
from ..core.index import ConsentIndex
from ..core.model import Change, Micros
from ..store.chain import chain_of
from ..store.protocol import ConsentReader
from ..sync import HISTORY_CHANGED, ReaderFactory, StoreFollower
from .link import NatsLink
from .snapshots import latest_mark, put_snapshot
from .wire import CHAIN_HEADER, EXPECTED_LAST, MSG_ID, Mark, Names, change_message

log = logging.getLogger("maytrain.relay")
PAGE = 1_000
WRONG_LAST_SEQUENCE = 10071  # JetStream's error code: another relay published first
WINDOW = 64  # publishes in flight at once
DEFAULT_RETENTION = 7 * 86_400.0
DUPLICATE_WINDOW = 120.0


@dataclass(frozen=True)
class Position:
    """The stream's last message: its sequence, and the version and chain it carries."""

    seq: int
    version: int
    chain: str


@dataclass(frozen=True)
class RelayOptions:
    """How often and how long: heartbeats, snapshots, the stream's retention."""

    heartbeat: float = 1.0
    snapshot_changes: int = 10_000
    snapshot_seconds: float = 300.0
    retention: float = DEFAULT_RETENTION
    sync_interval: float = 1.0
    round_gap: float = 0.02
    """At least this long from one round's start to the next's: while changes stream in,
    each round publishes those of the last `round_gap` seconds together."""


class OtherHistory(Exception):
    """The stream holds another history than the store's (a restored or re-made store)."""


class Relay:
    """One relay: a follower for snapshots, a publisher for changes, heartbeats."""

    def __init__(self, open_reader: ReaderFactory, url: str, names: Names, *, store: str,
                 options: RelayOptions = RelayOptions(), key: bytes | None = None,
                 workdir: Path | None = None) -> None:
        self._open_reader, self._url, self.names, self.store = open_reader, url, names, store
        self.options, self._key = options, key
        self._workdir = workdir or Path(tempfile.gettempdir())
        self.follower = StoreFollower(open_reader, on_index=self._on_index)
        self._link: NatsLink | None = None
        self._reader: ConsentReader | None = None
        self._position: Position | None = None  # None: read it from the stream first
        self._reloads_seen = 0
        self.snapshot_mark: Mark | None = None
        self._snapshot_at = time.monotonic()
        self._offered: tuple[ConsentIndex, str] | None = None
        self._wake_snapshots = threading.Event()
        self.published = 0
        self.last_error = ""
        self.last_round = 0.0  # monotonic time of the last round that reached NATS

    def run(self, stop: threading.Event) -> None:
        """Follow and publish until `stop`."""
        writer = threading.Thread(target=self._snapshots, args=(stop,), daemon=True,
                                  name="maytrain-relay-snapshot")
        writer.start()
        period = min(self.options.sync_interval, self.options.heartbeat)
        self.follower.follow(stop, period, heartbeat=self.options.heartbeat,
                             gap=self.options.round_gap)
        self._wake_snapshots.set()
        writer.join(timeout=10)
        self.close()

    def close(self) -> None:
        self.follower.close()
        self._drop()

    @property
    def position(self) -> Position | None:
        return self._position

    def _on_index(self, index: ConsentIndex) -> None:
        """After each sync of the follower: publish what the stream lacks, then a heartbeat."""
        try:
            synced_at = self._publish()
            self._heartbeat(synced_at)
            self._offer(index)
        except Exception as exc:  # NATS or the store away: the next sync tries again
            self._failed(exc)
            return
        if self.last_error:
            log.info("publishing again at consent version %d", self._position.version
                     if self._position else 0)
        self.last_error, self.last_round = "", time.monotonic()

    def _publish(self) -> Micros:
        """Publish every change after the stream's last; when the store was last read."""
        link, reader = self._connected()
        if self.follower.history_reloads != self._reloads_seen:  # the store went back
            self._reloads_seen, self._position = self.follower.history_reloads, None
        position = self._position
        if position is None:  # read from the stream: is it still the store's history?
            position = self._read_position(link)
            found = reader.chain_at(position.version)
            if found != position.chain:
                position = self._reset(link, reader, position, found)
        while True:
            started = wall_clock()
            changes = reader.changes_since(position.version, PAGE)
            try:
                position = self._publish_page(link, position, changes)
            except _Behind:  # another relay published some first: on from its last
                position = self._position = self._read_position(link)
                continue
            if len(changes) < PAGE:
                return started

    def _publish_page(self, link: NatsLink, position: Position,
                      changes: list[Change]) -> Position:
        chain = position.chain
        for change in changes:
            if chain_of(chain, change) != change.chain:
                self._position = None
                raise OtherHistory(f"change {change.version} does not follow the stream's "
                                   f"chain at consent version {change.version - 1}")
            chain = change.chain
        position = link.call(self._send(link, position, changes), 30.0 + len(changes) / 100)
        self._position = position
        return position

    async def _send(self, link: NatsLink, position: Position, changes: list[Change]) -> Position:
        """Publish `changes` after `position`, WINDOW at a time in flight, in order: each
        expects the sequence of the one before, so the stream takes them only in order."""
        for start in range(0, len(changes), WINDOW):
            window = changes[start:start + WINDOW]
            acks = await asyncio.gather(*(
                self._publish_one(link, change, position.seq + i)
                for i, change in enumerate(window)), return_exceptions=True)
            for change, ack in zip(window, acks, strict=True):
                if isinstance(ack, BaseException):
                    self._position = position
                    if _wrong_last(ack):
                        raise _Behind from ack
                    raise ack
                if not ack.duplicate:
                    self.published += 1
                position = Position(ack.seq, change.version, change.chain)
        return position

    async def _publish_one(self, link: NatsLink, change: Change, last_seq: int) -> Any:
        data, headers = change_message(change)
        headers[EXPECTED_LAST] = str(last_seq)
        return await link.js.publish(self.names.changes, data, headers=headers,
                                     stream=self.names.stream)

    def _heartbeat(self, synced_at: Micros) -> None:
        link, position = self._link, self._position
        assert link is not None and position is not None
        mark = Mark(position.version, position.chain, synced_at, self.store)
        link.call(link.nc.publish(self.names.heartbeat, mark.encode()))

    def _read_position(self, link: NatsLink) -> Position:
        """The stream's last message; for an empty stream, the latest snapshot's version
        (one is put first, from this relay's index, when there is none)."""
        state = link.call(self._ensure_stream(link))
        if state.messages:
            msg = link.call(link.js.get_msg(self.names.stream, seq=state.last_seq))
            headers = msg.headers or {}
            return Position(msg.seq, int(headers[MSG_ID]), headers[CHAIN_HEADER])
        mark = self.snapshot_mark = latest_mark(link, self.names) or self._first_snapshot(link)
        return Position(state.last_seq, mark.version, mark.chain)

    def _first_snapshot(self, link: NatsLink) -> Mark:
        index, chain = self.follower.index, self.follower.chain
        assert index is not None
        log.info("the stream is new: a snapshot at consent version %d first", index.version)
        return self._put(link, index, chain)

    async def _ensure_stream(self, link: NatsLink) -> Any:
        from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
        from nats.js.errors import NotFoundError

        retention = self.options.retention
        config = StreamConfig(name=self.names.stream, subjects=[self.names.changes],
                              retention=RetentionPolicy.LIMITS, storage=StorageType.FILE,
                              discard=DiscardPolicy.OLD, max_age=retention,
                              duplicate_window=min(DUPLICATE_WINDOW, retention),
                              description="maytrain consent changes, one per version")
        try:
            info = await link.js.stream_info(self.names.stream)
        except NotFoundError:
            info = await link.js.add_stream(config)
            log.info("created stream %s (retention %.0f s)", self.names.stream, retention)
        if info.config.max_age is not None and abs(info.config.max_age - retention) > 1:
            info = await link.js.update_stream(config)
            log.info("stream %s now keeps %.0f s", self.names.stream, retention)
        return info.state

    def _reset(self, link: NatsLink, reader: ConsentReader, position: Position,
               found: str | None) -> Position:
        """The store has another history than the stream: a snapshot of the store's, then
        a purged stream that goes on from it."""
        log.error("%s: the stream is at consent version %d, the store %s; putting a new "
                  "snapshot and purging the stream", HISTORY_CHANGED, position.version,
                  "is behind it" if found is None else "has another chain there")
        index, chain = _store_snapshot(reader)
        self._put(link, index, chain)
        link.call(link.js.purge_stream(self.names.stream))
        state = link.call(link.js.stream_info(self.names.stream)).state
        self._position = Position(state.last_seq, index.version, chain)
        return self._position

    def _offer(self, index: ConsentIndex) -> None:
        """Hand the index to the snapshot thread when a snapshot is due."""
        mark = self.snapshot_mark
        if mark is not None and index.version <= mark.version:
            return
        behind = index.version - (mark.version if mark else 0)
        waited = time.monotonic() - self._snapshot_at
        if mark is None or behind >= self.options.snapshot_changes \
                or waited >= self.options.snapshot_seconds:
            self._offered = (index, self.follower.chain)
            self._wake_snapshots.set()

    def _snapshots(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._wake_snapshots.wait(1.0)
            self._wake_snapshots.clear()
            offered, self._offered = self._offered, None
            link = self._link
            if offered is None or link is None:
                continue
            try:
                self._put_if_newer(link, *offered)
            except Exception as exc:
                log.warning("could not put a snapshot: %s: %s", type(exc).__name__, exc)

    def _put_if_newer(self, link: NatsLink, index: ConsentIndex, chain: str) -> None:
        current = latest_mark(link, self.names)
        if current is not None and current.version >= index.version:
            self.snapshot_mark, self._snapshot_at = current, time.monotonic()
            return
        self._put(link, index, chain)

    def _put(self, link: NatsLink, index: ConsentIndex, chain: str) -> Mark:
        started = time.monotonic()
        mark = put_snapshot(link, self.names, index, chain, self.store, self._key,
                            self._workdir)
        self.snapshot_mark, self._snapshot_at = mark, time.monotonic()
        log.info("put a snapshot at consent version %d (%.1f s)", mark.version,
                 self._snapshot_at - started)
        return mark

    def _connected(self) -> tuple[NatsLink, ConsentReader]:
        if self._link is None:
            self._link = NatsLink(self._url, name="maytrain-relay")
        if self._reader is None:
            self._reader = self._open_reader()
        return self._link, self._reader

    def _failed(self, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"
        if message != self.last_error:
            log.warning("relay round failed (will retry): %s", message)
        self.last_error = message
        self._position = None  # read again from the stream: another relay may have gone on
        if isinstance(exc, OtherHistory):
            return
        reader, self._reader = self._reader, None
        if reader is not None:
            try:
                reader.close()
            except Exception as close_error:
                log.debug("closing the store reader: %s", close_error)

    def _drop(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            link.close()
        if self._reader is not None:
            self._reader.close()
            self._reader = None


class _Behind(Exception):
    """Another relay published past this relay's position."""


def _wrong_last(exc: BaseException) -> bool:
    return getattr(exc, "err_code", None) == WRONG_LAST_SEQUENCE


def _store_snapshot(reader: ConsentReader) -> tuple[ConsentIndex, str]:
    synced_at = wall_clock()
    grouped = getattr(type(reader), "snapshot_grouped", None)
    if grouped is not None:
        with reader.snapshot_grouped() as (version, chain, groups):  # type: ignore[attr-defined]
            return ConsentIndex.from_groups(version, groups, synced_at=synced_at), chain
    snapshot = reader.snapshot()
    return ConsentIndex.build(snapshot.version, snapshot.rows, synced_at), snapshot.chain
