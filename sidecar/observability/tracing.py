"""OpenTelemetry traces: a span per RPC and per read of the consent store, when asked for.

Tracing is on when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
is set and the `otel` extra is installed (`pip install 'maytrain[otel]'`); every other
standard variable (OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, OTEL_EXPORTER_OTLP_HEADERS, ...)
is read by the SDK itself. `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn
it off. Off, nothing is imported and nothing is done.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

from ..core.model import Verdict
from .observers import DecidedBatch, reason_counts

log = logging.getLogger("maytrain.tracing")
SERVICE = "maytrain.v1.ConsentCheckService"
ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class Tracing:
    """Makes spans with one tracer; `decided` is an observer of batches."""

    def __init__(self, provider: Any) -> None:
        from opentelemetry import propagate, trace

        self.provider, self._propagate, self._kind = provider, propagate, trace.SpanKind
        self.tracer = provider.get_tracer("maytrain")

    def decided(self, batch: DecidedBatch) -> None:
        """A SERVER span for the call just answered, timed after the fact, in the caller's
        trace when the call carried one (W3C traceparent)."""
        end = time.time_ns()
        headers = {key: value for key, value in batch.metadata() if isinstance(value, str)}
        reasons = reason_counts(batch.decisions)
        span = self.tracer.start_span(
            f"{SERVICE}/{batch.rpc}", context=self._propagate.extract(headers),
            kind=self._kind.SERVER, start_time=end - int(batch.seconds * 1e9),
            attributes={"rpc.system": "grpc", "rpc.service": SERVICE, "rpc.method": batch.rpc,
                        "maytrain.records": len(batch.records),
                        "maytrain.denied": sum(n for reason, n in reasons.items()
                                               if reason.verdict is Verdict.DENY),
                        "maytrain.consent_version": batch.consent_version,
                        "maytrain.policy_version": batch.policy_version})
        span.end(end_time=end)

    @contextlib.contextmanager
    def span(self, name: str, **attributes: Any) -> Iterator[Any]:
        """A span around a block; an exception is recorded on it and raised on."""
        with self.tracer.start_as_current_span(name, attributes=attributes) as span:
            yield span

    def shutdown(self) -> None:
        """Export what is buffered, then stop."""
        self.provider.shutdown()


def from_environment(env: Mapping[str, str] | None = None,
                     exporter: Any = None) -> Tracing | None:
    """Tracing as the standard variables ask, or None (off). `exporter` replaces the OTLP
    exporter (tests pass an in-memory one)."""
    env = os.environ if env is None else env
    if not any(env.get(name) for name in ENDPOINTS) and exporter is None:
        return None
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true" or (
            env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none"):
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed: "
                    "no traces (install maytrain[otel])")
        return None
    named = env.get("OTEL_SERVICE_NAME") or "service.name=" in env.get(
        "OTEL_RESOURCE_ATTRIBUTES", "")
    provider = TracerProvider(resource=Resource.create({} if named else {
        "service.name": "maytrain"}))
    provider.add_span_processor(BatchSpanProcessor(exporter or _otlp_exporter()))
    return Tracing(provider)


def _otlp_exporter() -> Any:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()
