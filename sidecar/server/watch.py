"""WatchChanges: a stream of the store's changes after a version, then of new ones.

Each stream reads the store's history through a reader of its own (opened for the stream,
closed with it) and learns of new changes from the follower, so it sees a store change in
the second the sidecar does. Memory stays bounded: a page of changes is read only when
the last one was sent. A send that waits longer than `send_timeout` (the client reads
too slowly) ends the stream with RESOURCE_EXHAUSTED; the client resumes from the last
version it got.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Protocol

import grpc

from maytrain.v1 import consent_check_service_pb2 as pb

from ..core.model import Micros
from ..feed import ChangeKind, FeedCursor, FeedEvent, HistoryGone
from ..store.protocol import HistoryReader
from .convert import timestamp_of

SEND_TIMEOUT = 10.0
HEARTBEAT = 5.0
_WIRE_KIND = {kind: pb.ChangeKind.Value(f"CHANGE_KIND_{kind.name}") for kind in ChangeKind}


class Following(Protocol):
    """What a stream reads of the follower: how far it is, and history reloads."""

    @property
    def history_reloads(self) -> int:
        """Snapshot reloads because the store's history changed."""

    def wait_for_version(self, version: int, timeout: float) -> object:
        """Return once the follower is at `version` or later, or after `timeout` s."""


class Watcher:
    """Serves WatchChanges streams for one sidecar."""

    def __init__(self, open_history: Callable[[], HistoryReader], follower: Following,
                 clock: Callable[[], Micros], *, send_timeout: float = SEND_TIMEOUT,
                 heartbeat: float = HEARTBEAT) -> None:
        self.open_history, self.follower, self.clock = open_history, follower, clock
        self.send_timeout, self.heartbeat = send_timeout, heartbeat

    def stream(self, request: pb.WatchChangesRequest, context: grpc.ServicerContext,
               stopping: Callable[[], bool]) -> Iterator[pb.WatchChangesResponse]:
        """The stream's messages until the client goes, the sidecar stops or it must end."""
        reader = self.open_history()
        try:
            yield from self._follow(reader, request, context, stopping)
        finally:
            reader.close()

    def _follow(self, reader: HistoryReader, request: pb.WatchChangesRequest,
                context: grpc.ServicerContext,
                stopping: Callable[[], bool]) -> Iterator[pb.WatchChangesResponse]:
        try:
            cursor = FeedCursor(reader, request.from_consent_version, self.clock())
        except HistoryGone as gone:
            context.abort(grpc.StatusCode.OUT_OF_RANGE, _replan(str(gone)))
        reloads, told = self.follower.history_reloads, -1.0
        while not stopping() and context.is_active():
            for events in cursor.read(self.clock()):
                changes = [_change(e) for e in events if e.restricts or not request.restricting_only]
                if changes:
                    yield from self._sent(pb.WatchChangesResponse(
                        changes=changes, consent_version=cursor.version), context)
                    told = time.monotonic()
            if self.follower.history_reloads != reloads:
                context.abort(grpc.StatusCode.OUT_OF_RANGE, _replan(
                    "the store's history changed under this stream (restored, re-made or "
                    "another store)"))
            if time.monotonic() - told >= self.heartbeat:  # caught up: say so, now and then
                yield from self._sent(pb.WatchChangesResponse(consent_version=cursor.version),
                                      context)
                told = time.monotonic()
            self.follower.wait_for_version(cursor.version + 1, self._pause(cursor))

    def _sent(self, response: pb.WatchChangesResponse,
              context: grpc.ServicerContext) -> Iterator[pb.WatchChangesResponse]:
        """Send one message; end the stream if the client took too long to take it."""
        started = time.monotonic()
        yield response
        if time.monotonic() - started > self.send_timeout:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, (
                f"the stream fell behind: a message waited over {self.send_timeout:g}s to be "
                f"read; watch again from consent version {response.consent_version}"))

    def _pause(self, cursor: FeedCursor) -> float:
        """How long to wait for a new change: at most a second, less if a grant runs out."""
        soonest = cursor.next_expiry()
        if soonest is None:
            return 1.0
        return max(0.0, min(1.0, (soonest - self.clock()) / 1e6))


def _replan(why: str) -> str:
    return (f"{why}; no partial history is sent: re-plan from a full pass over the "
            "manifests (maytrain purge-plan without --since-version) and watch from the "
            "consent version it reports")


def _change(event: FeedEvent) -> pb.ConsentChange:
    change = pb.ConsentChange(consent_version=event.consent_version, kind=_WIRE_KIND[event.kind],
                              restricts=event.restricts, account_id=event.account_id,
                              user_id=event.user_id, category=event.category,
                              purpose=event.purpose, entry_id=event.entry_id)
    if event.effective_from is not None:
        change.effective_from.CopyFrom(timestamp_of(event.effective_from))
    return change

