"""Traces: off without OTEL_EXPORTER_OTLP_ENDPOINT; a span per RPC and per store read."""

from __future__ import annotations

import time

import pytest
from observed_sidecar import cycle, wire_record

from maytrain.v1 import consent_check_service_pb2 as pb
from sidecar.observability import tracing
from sidecar.policy_files import load_policy
from sidecar.store import open_store

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def spans(monkeypatch) -> InMemorySpanExporter:
    """Spans the sidecars started in this test export (to memory, not the network)."""
    exporter = InMemorySpanExporter()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    monkeypatch.setattr(tracing, "_otlp_exporter", lambda: exporter)
    return exporter


@pytest.mark.parametrize("env", [{}, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
                                      "OTEL_SDK_DISABLED": "true"},
                                 {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
                                  "OTEL_TRACES_EXPORTER": "none"}])
def test_tracing_is_off_unless_the_standard_variables_ask(env):
    assert tracing.from_environment(env) is None


def test_every_rpc_is_a_span_with_the_consent_version_and_record_count(start, spans):
    running = start()
    stub = running.stub()
    stub.CheckBatch(pb.CheckBatchRequest(records=cycle(27)), timeout=5)
    stub.Check(pb.CheckRequest(record=wire_record("DENIED_ERASURE")), timeout=5,
               metadata=[("traceparent", f"00-{TRACE_ID}-00f067aa0ba902b7-01")])
    version = running.sidecar.follower.index.version
    running.stop()

    by_name = {span.name: span for span in spans.get_finished_spans()}
    batch = by_name["maytrain.v1.ConsentCheckService/CheckBatch"]
    assert batch.attributes["maytrain.records"] == 27
    assert batch.attributes["maytrain.denied"] == 21
    assert batch.attributes["maytrain.consent_version"] == version
    assert batch.end_time > batch.start_time
    check = by_name["maytrain.v1.ConsentCheckService/Check"]
    assert f"{check.context.trace_id:032x}" == TRACE_ID  # the caller's trace goes on


def test_every_sync_is_a_span_with_the_rows_it_read(start, spans):
    running = start(sync_interval=0.05)
    version = running.sidecar.follower.index.version
    deadline = time.monotonic() + 10  # on a busy machine the first poll may take a while
    while time.monotonic() < deadline and not any(
            s.name == "maytrain.sync.changes" for s in spans.get_finished_spans()):
        time.sleep(0.05)
    running.stop()

    finished = spans.get_finished_spans()
    packed = next(s for s in finished if s.name == "maytrain.sync.packed_base")
    assert packed.attributes["maytrain.packed_base.found"] is False  # never packed
    snapshot = next(s for s in finished if s.name == "maytrain.sync.snapshot")
    assert snapshot.attributes["maytrain.consent_version"] == version
    assert snapshot.attributes["maytrain.records"] > 0
    assert any(s.name == "maytrain.sync.changes" for s in finished)
    assert any(s.name == "maytrain.sync.connect" for s in finished)
    assert finished[0].resource.attributes["service.name"] == "maytrain"


def test_a_cold_start_from_a_packed_base_is_a_span_with_its_version(start, sample_store,
                                                                    spans):
    store = open_store(sample_store, policy=load_policy())
    try:
        packed_version = store.pack().version
    finally:
        store.close()
    running = start()
    running.stop()

    finished = spans.get_finished_spans()
    packed = next(s for s in finished if s.name == "maytrain.sync.packed_base")
    assert packed.attributes["maytrain.packed_base.found"] is True
    assert packed.attributes["maytrain.consent_version"] == packed_version
    assert not any(s.name == "maytrain.sync.snapshot" for s in finished)  # no rows read
