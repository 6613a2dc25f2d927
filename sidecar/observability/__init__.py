"""The sidecar's metrics, decision receipts and traces, composed as the settings ask.

Each part is optional and off by default: metrics with `metrics_listen`, receipts with
`receipts`, traces with the OTEL_* variables. What is on observes every decided call
(`observer`) and every read of the store (`opener`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from ..settings import Settings
from ..store.protocol import ConsentReader
from .metrics import CacheView, Metrics, MetricsServer
from .observers import BatchObserver, observer_of
from .reader import observed_opener
from .receipts import ReceiptWriter, Spool, SpoolLimits
from .tracing import Tracing, from_environment

log = logging.getLogger("maytrain.server")


class Observability:
    """Builds the parts at construction, starts and stops them with the sidecar."""

    def __init__(self, settings: Settings, policy_version: str, view: CacheView,
                 env: Mapping[str, str] | None = None, tracing: Tracing | None = None) -> None:
        self.settings = settings
        self.tracing = tracing or from_environment(env)
        self.receipts = _receipt_writer(settings) if settings.receipts else None
        if self.receipts is not None:
            view = CacheView(view.index, view.serving, view.clock, self.receipts.counts)
        self.metrics = Metrics(policy_version, view) if settings.metrics_listen else None
        self.server: MetricsServer | None = None
        self.observer: BatchObserver = observer_of(
            [part for part in (self.metrics, self.receipts, self.tracing) if part is not None])

    def opener(self, open_reader: Callable[[], ConsentReader]) -> Callable[[], ConsentReader]:
        """`open_reader`, with its failures counted and its reads traced (when either is on)."""
        if self.metrics is None and self.tracing is None:
            return open_reader
        count = self.metrics.sync_failed if self.metrics is not None else _ignore
        return observed_opener(open_reader, count, self.tracing)

    @property
    def metrics_port(self) -> int | None:
        """The port the metrics endpoint listens on, once started."""
        return self.server.port if self.server is not None else None

    def start(self) -> None:
        """Start the receipt writer and serve /metrics (a taken address fails here)."""
        if self.receipts is not None:
            self.receipts.start()
        if self.metrics is not None and self.settings.metrics_listen:
            self.server = self.metrics.serve(self.settings.metrics_listen)
            log.info("metrics on http://%s/metrics", self.settings.metrics_listen)

    def stop(self) -> None:
        """After the last call: write every queued receipt, export spans, stop serving."""
        if self.receipts is not None:
            counts = self.receipts.close()
            log.info("decision receipts: %d written, %d dropped, %d not sampled",
                     counts.written, sum(counts.dropped.values()), counts.unsampled,
                     extra={"written": counts.written, "dropped": counts.dropped})
        if self.tracing is not None:
            self.tracing.shutdown()
        if self.server is not None:
            self.server.stop()


def _receipt_writer(settings: Settings) -> ReceiptWriter:
    limits = SpoolLimits(file_bytes=min(settings.receipts_file_bytes, settings.receipts_max_bytes),
                         file_seconds=settings.receipts_file_seconds,
                         max_bytes=settings.receipts_max_bytes)
    return ReceiptWriter(Spool(settings.receipts or "", limits), sample=settings.receipts_sample,
                         capacity=settings.receipts_queue)


def _ignore(kind: str) -> None:
    """Failed reads are not counted without metrics."""
