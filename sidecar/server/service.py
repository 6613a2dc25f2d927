"""maytrain.v1.ConsentCheckService: wire requests to decide_batch() and back, nothing more.

Every batch is decided against the one index the follower holds at that moment. A call
that demands a consent version the cache has not reached waits for a sync within its
deadline (at most 2 s); malformed records are decisions, not errors; only a call that is
malformed as a whole (a batch over the limit) gets an error status.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import grpc
import numpy as np
from google.protobuf.duration_pb2 import Duration

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc

from ..core.columnar import decide_columns
from ..core.decision import decide_batch, stale_cache_problem
from ..core.index import ConsentIndex
from ..core.model import Decision, Micros, Record
from ..core.plans import PlanCache
from ..core.policy import Policy
from ..observability.observers import NO_OBSERVER, BatchObserver, DecidedBatch
from .columns import ColumnRecords, ColumnsError, RuleDecisions, answer_columns, columns_from_proto
from .convert import (
    add_decisions,
    decision_to_proto,
    record_from_proto,
    records_from_proto,
    timestamp_of,
)
from .watch import Watcher

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ConsentCheckService"].full_name
log = logging.getLogger("maytrain.server")
MAX_CATCH_UP_SECONDS = 2.0
_END = object()


def _guarded(handler):
    """Map an unexpected failure to INTERNAL with a message a caller can act on; log why.
    Statuses a handler set on purpose (INVALID_ARGUMENT, ...) pass through."""

    @functools.wraps(handler)
    def call(self, request, *args):
        context: grpc.ServicerContext = args[-1]
        try:
            return handler(self, request, *args)
        except Exception:
            if context.code() not in (None, grpc.StatusCode.OK):
                raise
            log.exception("%s failed", handler.__name__)
            context.abort(grpc.StatusCode.INTERNAL, "the sidecar failed to decide this call; "
                          "its records were not answered (details in the sidecar's log)")

    return call


class IndexSource(Protocol):
    """Where the service reads the consent index (sidecar.sync.StoreFollower is one)."""

    @property
    def index(self) -> ConsentIndex | None:
        """The current index, or None before the first sync."""

    @property
    def warm_started(self) -> bool:
        """True while the index is the warm-start snapshot, not yet synced."""

    @property
    def last_error(self) -> str:
        """Why the latest sync failed ('' when it succeeded)."""

    @property
    def history_reloads(self) -> int:
        """Snapshot reloads because the store's history changed under the index."""

    @property
    def last_history_reload(self) -> str:
        """Why the latest of those reloads was needed ('' for none)."""

    def wait_for_version(self, version: int, timeout: float) -> ConsentIndex | None:
        """The index once at `version` or later, or the current one after `timeout` s."""


class ConsentCheckService(pb_grpc.ConsentCheckServiceServicer):
    """The servicer; holds no state of its own beyond what it is given.

    `store` is the store as it may be shown (credentials masked), for GetStatus; `observer`
    is told of every decided call (metrics, receipts, traces).
    """

    def __init__(self, follower: IndexSource, policy: Policy, clock: Callable[[], Micros], *,
                 store: str, max_staleness: float, max_batch: int,
                 stopping: threading.Event, observer: BatchObserver = NO_OBSERVER,
                 watcher: Watcher | None = None) -> None:
        self.follower, self.policy, self.clock = follower, policy, clock
        self.store, self.observer = store, observer
        self.max_staleness, self.max_batch, self.stopping = max_staleness, max_batch, stopping
        self.plans = PlanCache()
        self.watcher = watcher

    def serving(self) -> bool:
        """True while the cache may answer (has data within max_staleness)."""
        return not stale_cache_problem(self.follower.index, self.policy, self.clock(),
                                       self.max_staleness, 0)

    @_guarded
    def Check(self, request: pb.CheckRequest, context: grpc.ServicerContext) -> pb.CheckResponse:
        started = time.perf_counter()
        index = self._index_for(request.min_consent_version, context)
        record, now = record_from_proto(request.record), self.clock()
        decision = decide_batch([record], index, self.policy, now,
                                max_staleness=self.max_staleness,
                                min_version=request.min_consent_version,
                                explain=request.explain, cache=self.plans)[0]
        response = pb.CheckResponse(decision=decision_to_proto(record, decision),
                                    **self._versions(index))
        self._observe("Check", [record], [decision], now, index, started, context)
        return response

    def CheckBatch(self, request: pb.CheckBatchRequest,
                   context: grpc.ServicerContext) -> pb.CheckBatchResponse:
        response = pb.CheckBatchResponse()
        self._answer(request, response, context, "CheckBatch")
        return response

    @_guarded
    def CheckColumns(self, request: pb.CheckColumnsRequest,
                     context: grpc.ServicerContext) -> pb.CheckColumnsResponse:
        started = time.perf_counter()
        if request.count > self.max_batch:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"a batch of {request.count} records is over the limit of "
                          f"{self.max_batch} records per call: split it into smaller batches")
        try:
            columns = columns_from_proto(request)
        except ColumnsError as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{error}: no record was decided")
        index = self._index_for(request.min_consent_version, context)
        now = self.clock()
        response = pb.CheckColumnsResponse(**self._versions(index))
        records: Sequence[Record] = ColumnRecords(columns)
        if request.explain:  # explanations are per record: the row path makes them
            records = columns.records()
            decisions: Sequence[Decision] = decide_batch(
                records, index, self.policy, now, max_staleness=self.max_staleness,
                min_version=request.min_consent_version, explain=True)
            rules = np.array([d.rule for d in decisions], np.uint8)
            response.explanations.extend(d.explanation for d in decisions)
        else:
            rules = decide_columns(columns, index, self.policy, now,
                                   max_staleness=self.max_staleness,
                                   min_version=request.min_consent_version, cache=self.plans)
            decisions = RuleDecisions(rules)
        answer_columns(response, rules)
        self._observe("CheckColumns", records, decisions, now, index, started, context)
        return response

    def CheckStream(self, request_iterator: Iterator[pb.CheckStreamRequest],
                    context: grpc.ServicerContext) -> Iterator[pb.CheckStreamResponse]:
        inbox: queue.Queue = queue.Queue(maxsize=2)
        threading.Thread(target=_read_into, args=(request_iterator, inbox, context),
                         name="maytrain-stream-reader", daemon=True).start()
        while True:
            try:
                request = inbox.get(timeout=0.05)
            except queue.Empty:
                if self.stopping.is_set() or not context.is_active():
                    break
                continue
            if request is _END:
                return
            response = pb.CheckStreamResponse()
            self._answer(request, response, context, "CheckStream")
            yield response
        context.abort(grpc.StatusCode.UNAVAILABLE,
                      "the sidecar is shutting down: every request received was answered; "
                      "reconnect and send the rest again")

    def WatchChanges(self, request: pb.WatchChangesRequest,
                     context: grpc.ServicerContext) -> Iterator[pb.WatchChangesResponse]:
        if self.watcher is None:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                          "this sidecar reads no store history, so it has no change feed")
        yield from self.watcher.stream(request, context, self.stopping.is_set)

    @_guarded
    def GetStatus(self, request: pb.GetStatusRequest,
                  context: grpc.ServicerContext) -> pb.GetStatusResponse:
        index, now = self.follower.index, self.clock()
        follower = self.follower
        response = pb.GetStatusResponse(serving=self.serving(), store=self.store,
                                        warm_started=follower.warm_started,
                                        sync_error=follower.last_error,
                                        history_reloads=follower.history_reloads,
                                        last_history_reload=follower.last_history_reload,
                                        **self._versions(index))
        if index is not None and index.synced_at is not None:
            response.last_sync_time.CopyFrom(timestamp_of(index.synced_at))
            response.staleness.CopyFrom(_duration(max(0, now - index.synced_at)))
            response.accounts = index.account_count
            response.consent_entries = index.entry_count
        return response

    @_guarded
    def _answer(self, request, response, context: grpc.ServicerContext, rpc: str) -> None:
        """Decide a batch request into a batch or stream response."""
        started = time.perf_counter()
        if len(request.records) > self.max_batch:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"a batch of {len(request.records)} records is over the limit of "
                          f"{self.max_batch} records per call: split it into smaller batches")
        index = self._index_for(request.min_consent_version, context)
        records, now = records_from_proto(request.records, request.default_purpose), self.clock()
        decisions = decide_batch(records, index, self.policy, now,
                                 max_staleness=self.max_staleness,
                                 min_version=request.min_consent_version,
                                 explain=request.explain, cache=self.plans)
        response.consent_version, response.policy_version = _versions(index, self.policy)
        add_decisions(response.decisions, records, decisions)
        self._observe(rpc, records, decisions, now, index, started, context)

    def _observe(self, rpc: str, records: Sequence[Record], decisions: Sequence[Decision],
                 now: Micros,
                 index: ConsentIndex | None, started: float,
                 context: grpc.ServicerContext) -> None:
        """Tell the observer about a decided call (one report per call, never per record)."""
        if self.observer is NO_OBSERVER:
            return
        consent_version, policy_version = _versions(index, self.policy)
        self.observer.decided(DecidedBatch(rpc, records, decisions, now, consent_version,
                                           policy_version, time.perf_counter() - started,
                                           context.invocation_metadata))

    def _index_for(self, min_version: int, context: grpc.ServicerContext) -> ConsentIndex | None:
        """The current index, after waiting (within the deadline) for `min_version`."""
        index = self.follower.index
        if min_version and (index is None or index.version < min_version):
            remaining = context.time_remaining()
            budget = MAX_CATCH_UP_SECONDS if remaining is None else min(
                MAX_CATCH_UP_SECONDS, max(0.0, remaining - 0.05))
            index = self.follower.wait_for_version(min_version, budget)
        return index

    def _versions(self, index: ConsentIndex | None) -> dict:
        consent_version, policy_version = _versions(index, self.policy)
        return {"consent_version": consent_version, "policy_version": policy_version}


def _versions(index: ConsentIndex | None, policy: Policy) -> tuple[int, str]:
    return (0 if index is None else index.version), policy.version


def _read_into(requests: Iterator, inbox: queue.Queue, context: grpc.ServicerContext) -> None:
    """Move a stream's requests into a small queue (its bound is the stream's read-ahead)."""
    try:
        for request in requests:
            if not _put(inbox, request, context):
                return
    except Exception:  # the stream was cancelled or broke; the handler sees _END
        pass
    _put(inbox, _END, context)


def _put(inbox: queue.Queue, item: object, context: grpc.ServicerContext) -> bool:
    """Put unless the call has ended meanwhile; False when nobody will read it."""
    while context.is_active():
        try:
            inbox.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False



def _duration(micros: Micros) -> Duration:
    return Duration(seconds=micros // 1_000_000, nanos=(micros % 1_000_000) * 1000)
