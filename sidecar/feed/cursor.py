"""FeedCursor: reads the change feed of a store forward from a consent version, with the
grants that run out placed among the changes.

Changes come in version order. A grant whose valid_until passes is placed after the last
change written before it ran out, and announced at that change's version, once its time
has come (`now`). The cursor keeps the grants that run out within the next hour in memory
(one query an hour, and the grants it reads in the feed), so following costs one
changes_since per batch of changes.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from ..core.model import ConsentEntry, Effect, Micros
from ..core.times import BEFORE_ALL_TIME
from ..store.protocol import HistoryReader
from .events import FeedEvent, describe, expired

HORIZON = 3600 * 1_000_000
PAGE = 1000


class HistoryGone(LookupError):
    """The store holds no history at the cursor's version (it is behind it: restored,
    re-made or another store)."""


class FeedCursor:
    """A position in the feed: `version` (changes up to it were read) and the time up to
    which expiries were announced."""

    def __init__(self, reader: HistoryReader, after: int, now: Micros) -> None:
        self.reader, self.version = reader, after
        if reader.version() < after:
            raise HistoryGone(f"the store is at consent version {reader.version()}, below "
                              f"{after}: it holds no history there")
        since = reader.changed_at(after) if after else None
        self.expired_until: Micros = BEFORE_ALL_TIME if since is None else since
        self._horizon = self.expired_until
        self._grants: dict[str, ConsentEntry] = {}
        self._soonest: list[tuple[Micros, str]] = []
        self._look_ahead(now)

    def read(self, now: Micros, page: int = PAGE) -> Iterator[list[FeedEvent]]:
        """The events after the cursor up to the store's version and `now`, a page of
        changes at a time (with the expiries placed among them)."""
        self._look_ahead(now)
        while True:
            changes = self.reader.changes_since(self.version, page)
            events: list[FeedEvent] = []
            for change in changes:
                written = change.changed_at if change.changed_at is not None else now
                events += self._expire(min(written, now))
                self.version = change.version
                events.append(describe(change))
                if isinstance(change.row, ConsentEntry):
                    self._track(change.row, written)
            if len(changes) < page:
                events += self._expire(now)
            if events:
                yield events
            if len(changes) < page:
                self.expired_until = max(self.expired_until, now)
                return

    def next_expiry(self) -> Micros | None:
        """When the soonest grant the cursor knows of runs out, or None."""
        while self._soonest:
            until, entry_id = self._soonest[0]
            held = self._grants.get(entry_id)
            if held is not None and held.valid_until == until:
                return until
            heapq.heappop(self._soonest)
        return None

    def _look_ahead(self, now: Micros) -> None:
        """Know every standing grant that runs out before an hour from now."""
        if now + HORIZON // 2 < self._horizon:
            return
        after, self._horizon = max(self._horizon, self.expired_until), now + HORIZON
        for entry in self.reader.expiring(after, self._horizon):
            self._track(entry)

    def _track(self, entry: ConsentEntry, written: Micros = BEFORE_ALL_TIME) -> None:
        """Follow a grant's latest state (`written` then): keep it while it may still run out
        in view. One that ended before it was written (withdrawn from a past time) never
        runs out in the feed: its WITHDRAWN said so."""
        ends = entry.valid_until
        if (entry.effect is not Effect.GRANT or entry.ended_version is not None or ends is None
                or ends <= max(self.expired_until, written) or ends > self._horizon):
            self._grants.pop(entry.entry_id, None)
            return
        self._grants[entry.entry_id] = entry
        heapq.heappush(self._soonest, (ends, entry.entry_id))

    def _expire(self, moment: Micros) -> list[FeedEvent]:
        """The grants that ran out by `moment`, announced at the cursor's version."""
        found = []
        while (soonest := self.next_expiry()) is not None and soonest <= moment:
            _, entry_id = heapq.heappop(self._soonest)
            found.append(expired(self._grants.pop(entry_id), self.version))
        return found
