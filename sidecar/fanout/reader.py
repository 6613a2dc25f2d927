"""A ConsentReader on NATS: the relay's snapshot, then its stream, checked by the follower.

`sync.StoreFollower` follows a `NatsReader` as it follows a store: `snapshot_index()` maps
the relay's latest snapshot (or, as a last resort, reads the store itself), an ordered
consumer delivers the changes after the follower's version into memory, and
`changes_since` hands them over; the follower's chain check finds a missing or foreign
change and reloads. `fresh_at()` is the relay's last mark at the follower's version (its
heartbeat, or the snapshot's) moved onto this process's clock, so a silent relay or an
unreachable NATS makes the sidecar stale after max_staleness, however often it syncs.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..clock import Clock, wall_clock
from ..core.index import ConsentIndex
from ..core.model import Change, Micros
from ..store.errors import StoreError, StoreUnavailableError
from ..store.protocol import ConsentReader
from .link import NatsLink
from .snapshots import get_snapshot, latest_mark
from .wire import MSG_ID, SNAPSHOT_OBJECT, Mark, Names, WireError, change_of

log = logging.getLogger("maytrain.sync")
RECENT = 10_000        # chains of delivered versions kept, to tell a foreign mark
IDLE_HEARTBEAT = 1.0   # seconds; an ordered consumer silent for two is made again


class NatsReader:
    """Follows one relay's stream; the follower is its only caller, the loop its only feeder."""

    def __init__(self, url: str, names: Names, *, label: str, clock: Clock = wall_clock,
                 key: bytes | None = None, workdir: Path | None = None,
                 fallback: Callable[[], ConsentReader] | None = None,
                 idle_heartbeat: float = IDLE_HEARTBEAT) -> None:
        self.url, self._names, self._clock, self._key = label, names, clock, key
        self._workdir = workdir or Path(".")
        self._fallback, self._idle = fallback, idle_heartbeat
        self._lock, self._event = threading.Lock(), threading.Event()
        self._buffer: list[Change] = []
        self._position: tuple[int, str] | None = None  # the last version handed over
        self._recent: OrderedDict[int, str] = OrderedDict()
        self._mark: tuple[Mark, Micros] | None = None
        self._fresh_at: Micros | None = None
        self._diverged = ""
        self._sub: Any = None
        self._generation = 0
        self._subscribed_at: int | None = None
        self._loaded: Mark | None = None  # the snapshot last loaded
        self._gap_seen = False            # ... and the stream skipped a version after it
        self.link = NatsLink(url, name="maytrain-follower")
        self.link.call(self.link.nc.subscribe(names.heartbeat, cb=self._on_heartbeat))

    def version(self) -> int:
        """The latest version the relay has spoken of."""
        with self._lock:
            known = [self._position[0]] if self._position else []
            return max([*known, *([self._mark[0].version] if self._mark else [])], default=0)

    def snapshot(self) -> Any:
        raise StoreError("a NATS reader loads whole snapshots (snapshot_index)")

    def snapshot_index(self) -> tuple[ConsentIndex, str]:
        """The relay's latest snapshot, mapped, else the store's; then follow from there."""
        try:
            self._check_not_gapped()
            index, mark = get_snapshot(self.link, self._names, now=self._clock(),
                                       key=self._key, workdir=self._workdir)
            self._check_retained(mark.version)
        except StoreUnavailableError as exc:
            if self._fallback is None:
                raise
            log.warning("%s; reading a snapshot from the store instead", exc)
            index, mark = self._from_store()
        with self._lock:
            self._restart((mark.version, mark.chain))
            self._fresh_at = self._fresh_time(mark.synced_at)
            self._loaded, self._gap_seen = mark, False
        self._subscribe(mark.version)
        return index, mark.chain

    def changes_since(self, version: int, limit: int = 10_000) -> list[Change]:
        """The delivered changes after `version` (up to `limit`), in order, as received."""
        if self._subscribed_at is None or (self._position or (-1, ""))[0] != version:
            with self._lock:
                self._restart((version, self._known_chain(version)))
            self._subscribe(version)
        with self._lock:
            taken = [c for c in self._buffer if c.version > version][:limit]
            self._buffer = self._buffer[len(taken):] if taken else self._buffer
            for change in taken:
                self._remember(change.version, change.chain)
            if taken:
                self._position = (taken[-1].version, taken[-1].chain)
                if self._mark is not None:
                    self._match_mark()
        return taken

    def chain_at(self, version: int) -> str | None:
        """The chain at `version` as the relay published it ('' when nobody knows any more);
        a foreign chain when the relay's marks show another history."""
        with self._lock:
            if self._diverged:
                return f"(another history: {self._diverged})"
            known = self._known_chain(version)
        if known:
            return known
        return self._stream_chain(version)

    def wait_for_change(self, timeout: float) -> bool:
        """True when a change or a mark arrived within `timeout` seconds (or before)."""
        # Clear only an arrival this call reports. A wait that times out can still see the
        # loop thread set the event before its own clear() (the timeout fires, then the
        # waiter needs the GIL back while the loop delivers): clearing then lost the change
        # until the relay's next heartbeat woke the follower, about a second later.
        # Clearing before the sync that follows is safe: whatever arrives after the clear
        # sets the event again, and whatever arrived before it is in the buffer for that sync.
        if not self._event.wait(timeout):
            return False
        self._event.clear()
        return True

    def fresh_at(self) -> Micros | None:
        """When the data handed over was last known current (None: not since the start)."""
        with self._lock:
            return self._fresh_at

    def close(self) -> None:
        self.link.close()

    # -- state, under the lock

    def _restart(self, position: tuple[int, str]) -> None:
        """Forget what was delivered: the follower stands at `position` now."""
        self._generation += 1
        self._buffer, self._position, self._diverged = [], position, ""
        self._recent.clear()
        self._remember(*position)
        if self._mark is not None:
            self._match_mark()

    def _known_chain(self, version: int) -> str:
        if self._position and self._position[0] == version:
            return self._position[1]
        if self._mark and self._mark[0].version == version:
            return self._mark[0].chain
        return self._recent.get(version, "")

    def _remember(self, version: int, chain: str) -> None:
        if chain:
            self._recent[version] = chain
            while len(self._recent) > RECENT:
                self._recent.popitem(last=False)

    def _match_mark(self) -> None:
        """Take the relay's last mark as the data's freshness if it speaks of our version;
        note another history if it names a version we had with another chain."""
        assert self._mark is not None
        mark, fresh = self._mark
        if self._position is None or mark.version > self._position[0]:
            return
        ours = self._recent.get(mark.version)
        if mark.version == self._position[0] and ours == mark.chain:
            self._fresh_at = max(self._fresh_at or 0, fresh)
        elif ours is not None and ours != mark.chain:
            self._diverged = f"the relay's chain at consent version {mark.version} differs"
            self._event.set()

    def _fresh_time(self, synced_at: Micros) -> Micros:
        """A relay's wall-clock time on this process's clock: a relay clock behind ours ages
        the data, one ahead never makes it fresher than now."""
        return self._clock() - max(0, wall_clock() - synced_at)

    # -- the loop thread's callbacks

    async def _on_heartbeat(self, msg: Any) -> None:
        try:
            mark = Mark.decode(msg.data)
        except WireError as exc:
            log.warning("ignoring a heartbeat: %s", exc)
            return
        with self._lock:
            self._mark = (mark, self._fresh_time(mark.synced_at))
            self._match_mark()
        self._event.set()

    def _on_change(self, generation: int) -> Callable[[Any], Any]:
        async def deliver(msg: Any) -> None:
            try:
                change = change_of(msg.data, msg.headers)
            except WireError as exc:  # never skipped silently: the chain check stops there
                log.error("a message on %s is not a change: %s", self._names.changes, exc)
                return
            with self._lock:
                if generation == self._generation:
                    self._append(change)
            self._event.set()
        return deliver

    def _append(self, change: Change) -> None:
        last = self._buffer[-1].version if self._buffer else (self._position or (0, ""))[0]
        if change.version <= last:
            return  # a repeat after the consumer was made again
        if change.version != last + 1:
            self._gap_seen = True
            log.warning("the stream skips from consent version %d to %d: reloading", last,
                        change.version)
        self._buffer.append(change)

    # -- NATS

    def _subscribe(self, version: int) -> None:
        """(Re)start the ordered consumer at the message after `version`."""
        from nats.js.api import ConsumerConfig, DeliverPolicy

        with self._lock:
            generation = self._generation
        old, self._sub, self._subscribed_at = self._sub, None, None
        if old is not None:
            with contextlib.suppress(Exception):
                self.link.call(old.unsubscribe())
        start = self.link.call(self._start_sequence(version))
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                opt_start_seq=start)
        self._sub = self.link.call(self.link.js.subscribe(
            self._names.changes, stream=self._names.stream, cb=self._on_change(generation),
            ordered_consumer=True, idle_heartbeat=self._idle, config=config))
        jsi = getattr(getattr(self._sub, "_sub", None), "_jsi", None)
        if jsi is not None:  # made again after an outage, start where we did, not at 1
            jsi._sseq = max(jsi._sseq, start - 1)
        self._subscribed_at = version

    async def _start_sequence(self, version: int) -> int:
        state = (await self.link.js.stream_info(self._names.stream)).state
        if not state.messages:
            return int(state.last_seq) + 1
        offset = await self._offset(state.last_seq)
        return min(max(version + 1 - offset, state.first_seq), state.last_seq + 1)

    async def _offset(self, seq: int) -> int:
        """version - sequence, the same for every message of the stream's history."""
        msg = await self.link.js.get_msg(self._names.stream, seq=seq)
        return int((msg.headers or {})[MSG_ID]) - int(msg.seq)

    def _stream_chain(self, version: int) -> str | None:
        """The chain of the message for `version`, None past the stream's last, '' if gone."""
        return self.link.call(self._chain_in_stream(version))

    async def _chain_in_stream(self, version: int) -> str | None:
        from nats.js.errors import NotFoundError

        state = (await self.link.js.stream_info(self._names.stream)).state
        if state.messages:
            offset = await self._offset(state.last_seq)
            if version > state.last_seq + offset:
                return None
            if version - offset >= state.first_seq:
                with contextlib.suppress(NotFoundError):
                    msg = await self.link.js.get_msg(self._names.stream, seq=version - offset)
                    return str((msg.headers or {}).get("Maytrain-Chain", ""))
        for mark in (self._mark[0] if self._mark else None, await self._snapshot_mark()):
            if mark is not None and mark.version == version:
                return mark.chain
        return ""

    async def _snapshot_mark(self) -> Mark | None:
        from nats.js.errors import NotFoundError

        try:
            bucket = await self.link.js.object_store(self._names.bucket)
            return Mark.decode((await bucket.get_info(SNAPSHOT_OBJECT)).description)
        except (NotFoundError, WireError):
            return None

    def _check_not_gapped(self) -> None:
        """StoreUnavailableError while the stream skips a version after the snapshot that is
        still the latest: loading it again would only meet the same gap."""
        if self._gap_seen and self._loaded is not None \
                and latest_mark(self.link, self._names) == self._loaded:
            raise StoreUnavailableError(
                f"the stream misses a change after the relay's snapshot at consent version "
                f"{self._loaded.version}: waiting for a newer snapshot")

    def _check_retained(self, version: int) -> None:
        """StoreUnavailableError when the stream no longer holds the change after `version`."""
        first = self.link.call(self._first_version())
        if first is not None and first > version + 1:
            raise StoreUnavailableError(
                f"the relay's snapshot at consent version {version} is older than the "
                f"stream's first change ({first}): waiting for a newer snapshot")

    async def _first_version(self) -> int | None:
        state = (await self.link.js.stream_info(self._names.stream)).state
        if not state.messages:
            return None
        return int(state.first_seq) + await self._offset(state.last_seq)

    def _from_store(self) -> tuple[ConsentIndex, Mark]:
        """A snapshot read from the store itself (the last resort, with --store)."""
        assert self._fallback is not None
        started = self._clock()
        reader = self._fallback()
        try:
            with reader.snapshot_grouped() as (version, chain, groups):  # type: ignore[attr-defined]
                index = ConsentIndex.from_groups(version, groups, synced_at=started)
        finally:
            reader.close()
        return index, Mark(version, chain, wall_clock() - (self._clock() - started))


def known_mark(link: NatsLink, names: Names) -> Mark | None:
    """The latest snapshot's mark (for `maytrain relay` at start)."""
    return latest_mark(link, names)
