"""Prometheus metrics: every name the sidecar exports, its registry, and its HTTP endpoint.

Decisions are counted once per call, per distinct reason (a batch of 10,000 records costs a
handful of increments, not 10,000). The state of the cache (consent version, sync age,
serving, index size) and the receipt counts are read when Prometheus scrapes, not kept up
to date on every change. Label values come from closed sets: RPC names, verdicts, reasons,
error kinds and the policy version; never an account, user or record id.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..core.errors import InvalidValueError
from ..core.index import ConsentIndex
from ..core.model import Micros, Reason
from .observers import DecidedBatch, reason_counts
from .receipts.writer import ReceiptCounts

RPCS = ("Check", "CheckBatch", "CheckStream", "CheckColumns")
SYNC_ERROR_KINDS = ("connect", "snapshot", "changes")
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                    2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 10, 100, 1_000, 5_000, 10_000, 50_000, 100_000)

NAMES = {
    "maytrain_decisions_total": "Records decided, by RPC, verdict and reason.",
    "maytrain_check_duration_seconds": "Time from receiving a call to having its answer.",
    "maytrain_batch_records": "Records per call.",
    "maytrain_consent_version": "Consent version of the cache (0 before the first sync).",
    "maytrain_policy_info": "The policy in force (always 1; the version is the label).",
    "maytrain_sync_age_seconds": "Age of the cache's data (+Inf before it has any).",
    "maytrain_sync_errors_total": "Failed reads of the consent store, by kind.",
    "maytrain_serving": "1 while the cache may answer, 0 while it denies as stale.",
    "maytrain_index_accounts": "Accounts in the cache.",
    "maytrain_index_entries": "Consent entries in the cache.",
    "maytrain_receipts_written_total": "Decision receipts written to the spool and fsynced.",
    "maytrain_receipts_dropped_total": "Decision receipts lost, by cause (queue_full, "
                                       "write_error, shutdown).",
    "maytrain_receipts_pending": "Decision receipts accepted and not yet fsynced.",
    "maytrain_receipts_unsampled_total": "Decisions left out of the spool by --receipts-sample.",
    "maytrain_receipts_deleted_total": "Receipts deleted with the oldest spool files, to keep "
                                       "the spool under its size cap.",
}
"""Every metric family the sidecar exports, with its help text (the dashboard uses these)."""

# The *_created series double every counter's output and say only when the process started.
disable_created_metrics()


@dataclass(frozen=True)
class CacheView:
    """Where a scrape reads the cache's state (the runtime passes the follower's)."""

    index: Callable[[], ConsentIndex | None]
    serving: Callable[[], bool]
    clock: Callable[[], Micros]
    receipts: Callable[[], ReceiptCounts] | None = None


class Metrics:
    """The sidecar's registry; an observer of decided batches and of failed syncs."""

    def __init__(self, policy_version: str, view: CacheView) -> None:
        self.registry = CollectorRegistry()
        self._decisions = Counter("maytrain_decisions", NAMES["maytrain_decisions_total"],
                                  ("rpc", "verdict", "reason"), registry=self.registry)
        self._duration = Histogram("maytrain_check_duration_seconds",
                                   NAMES["maytrain_check_duration_seconds"], ("rpc",),
                                   buckets=DURATION_BUCKETS, registry=self.registry)
        self._records = Histogram("maytrain_batch_records", NAMES["maytrain_batch_records"],
                                  ("rpc",), buckets=BATCH_BUCKETS, registry=self.registry)
        self._sync_errors = Counter("maytrain_sync_errors", NAMES["maytrain_sync_errors_total"],
                                    ("kind",), registry=self.registry)
        policy = Gauge("maytrain_policy_info", NAMES["maytrain_policy_info"],
                       ("policy_version",), registry=self.registry)
        policy.labels(policy_version).set(1)
        # Every series exists from the start, at 0, so that rate() sees the first increase.
        self._by_reason = {(rpc, reason): self._decisions.labels(rpc, reason.verdict, reason)
                           for rpc in RPCS for reason in Reason}
        self._by_rpc = {rpc: (self._duration.labels(rpc), self._records.labels(rpc))
                        for rpc in RPCS}
        self._by_kind = {kind: self._sync_errors.labels(kind) for kind in SYNC_ERROR_KINDS}
        self.registry.register(_CacheCollector(view))
        self.exported = self.registry
        """What `serve` answers with (worker 0 of several: every worker's, see team_metrics)."""

    def decided(self, batch: DecidedBatch) -> None:
        """Count a batch: one increment per distinct reason, one observation per histogram."""
        rpc = batch.rpc
        for reason, count in reason_counts(batch.decisions).items():
            self._by_reason[rpc, reason].inc(count)
        duration, records = self._by_rpc[rpc]
        duration.observe(batch.seconds)
        records.observe(len(batch.records))

    def sync_failed(self, kind: str) -> None:
        """Count a failed read of the store (`kind` is one of SYNC_ERROR_KINDS)."""
        self._by_kind[kind].inc()

    def serve(self, address: str) -> MetricsServer:
        """Serve /metrics on `address` (host:port, [v6]:port or :port) in a daemon thread."""
        host, port = split_address(address)
        server, thread = start_http_server(port, host, registry=self.exported)
        return MetricsServer(server, thread)


class MetricsServer:
    """The running HTTP endpoint; `port` is the one bound (useful with port 0)."""

    def __init__(self, server, thread) -> None:
        self._server, self._thread = server, thread
        self.port: int = server.server_port

    def stop(self) -> None:
        """Stop answering scrapes and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def split_address(address: str) -> tuple[str, int]:
    """(host, port) of `host:port`, `[::]:port` or `:port` (all interfaces)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise InvalidValueError(f"metrics-listen must be host:port, [v6]:port or :port, "
                                f"not {address!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


class _CacheCollector:
    """The gauges read at scrape time: cache state and receipt counts."""

    def __init__(self, view: CacheView) -> None:
        self.view = view
        self._sized: tuple[ConsentIndex | None, int, int] = (None, 0, 0)

    def collect(self) -> Iterator[Metric]:
        index = self.view.index()
        accounts, entries = self._size(index)
        age = math.inf if index is None or index.synced_at is None else max(
            0.0, (self.view.clock() - index.synced_at) / 1e6)
        yield _gauge("maytrain_consent_version", 0 if index is None else index.version)
        yield _gauge("maytrain_sync_age_seconds", age)
        yield _gauge("maytrain_serving", 1 if self.view.serving() else 0)
        yield _gauge("maytrain_index_accounts", accounts)
        yield _gauge("maytrain_index_entries", entries)
        yield from _receipt_metrics(self.view.receipts() if self.view.receipts else
                                    ReceiptCounts())

    def _size(self, index: ConsentIndex | None) -> tuple[int, int]:
        """Accounts and entries of an index, counted once per index (indexes never change)."""
        known, accounts, entries = self._sized
        if index is not known:
            accounts = 0 if index is None else _account_count(index)
            entries = 0 if index is None else index.entry_count
            self._sized = (index, accounts, entries)
        return accounts, entries


def _account_count(index: ConsentIndex) -> int:
    """Accounts the store knows, in the index (kept by an index that counts them itself)."""
    count = getattr(index, "account_count", None)
    if count is None:
        count = sum(1 for state in index.accounts.values() if state.account)
    return int(count)


def _gauge(name: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, NAMES[name], value=value)


def _receipt_metrics(counts: ReceiptCounts) -> Iterator[Metric]:
    for name, value in (("written", counts.written), ("unsampled", counts.unsampled),
                        ("deleted", counts.deleted)):
        full = f"maytrain_receipts_{name}"
        yield CounterMetricFamily(full, NAMES[f"{full}_total"], value=value)
    dropped = CounterMetricFamily("maytrain_receipts_dropped",
                                  NAMES["maytrain_receipts_dropped_total"], labels=("cause",))
    for cause, value in sorted(counts.dropped.items()):
        dropped.add_metric((cause,), value)
    yield dropped
    yield _gauge("maytrain_receipts_pending", counts.pending)
