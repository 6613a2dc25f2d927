"""One client cannot take the sidecar from the others: idle streams are bounded, unary calls
and health keep answering, and an oversized batch is refused before it is parsed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2_grpc
from running_sidecar import SERVICE, SERVING, Launcher, RunningSidecar

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_pb2
from sidecar.server.guards import count_records

MAX_STREAMS = 8
TELEMETRY = consent_pb2.Record(account_id="sample-terms", data_category="service_generated.usage",
                               purpose="ai.training")
TELEMETRY.collected_at.FromSeconds(1_740_787_200)  # 2025-03-01, after the terms took effect


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory) -> Iterator[RunningSidecar]:
    launcher = Launcher(tmp_path_factory.mktemp("guards"))
    yield launcher("--max-streams", str(MAX_STREAMS), "--max-batch", "1000")
    launcher.stop_all()


def idle_requests(stop: threading.Event) -> Iterator[pb.CheckStreamRequest]:
    """A stream that sends nothing until the test ends."""
    stop.wait()
    return
    yield  # a generator


def open_idle_streams(sidecar: RunningSidecar, count: int, stop: threading.Event) -> list:
    calls = []
    for _ in range(count):
        calls.append(sidecar.stub().CheckStream(idle_requests(stop), timeout=30))
        channel = grpc.insecure_channel(sidecar.tcp)
        sidecar.channels.append(channel)
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        calls.append(reflect.ServerReflectionInfo(idle_requests(stop), timeout=30))
    return calls


def test_idle_streams_leave_unary_calls_and_health_answering(sidecar) -> None:
    stop = threading.Event()
    calls = open_idle_streams(sidecar, 64, stop)
    try:
        time.sleep(1)
        started = time.monotonic()
        answer = sidecar.stub().Check(pb.CheckRequest(record=TELEMETRY), timeout=2)
        assert answer.decision.verdict == consent_pb2.VERDICT_ALLOW
        assert sidecar.stub().GetStatus(pb.GetStatusRequest(), timeout=2).serving
        assert time.monotonic() - started < 2
        sidecar.wait_health(SERVICE, SERVING, timeout=2)
    finally:
        stop.set()
    refused = [call for call in calls if _code(call) == grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert len(refused) == 128 - MAX_STREAMS
    assert "--max-streams" in refused[0].details()


def _code(call) -> grpc.StatusCode | None:
    try:
        for _ in call:
            pass
    except grpc.RpcError as exc:
        return exc.code()
    return None


def test_a_batch_over_the_limit_is_refused_before_it_is_parsed(sidecar) -> None:
    empty = pb.CheckBatchRequest(records=[consent_pb2.Record()] * 1001)
    with pytest.raises(grpc.RpcError) as raised:
        sidecar.stub().CheckBatch(empty, timeout=5)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "over the limit of 1000 records per call" in raised.value.details()


def test_a_message_of_empty_records_at_the_size_limit_costs_no_memory(sidecar) -> None:
    before = _peak_rss(sidecar)
    raw = b"\x0a\x00" * (1000 * 2048 // 2)  # the whole message budget in empty records
    channel = grpc.insecure_channel(sidecar.tcp)
    sidecar.channels.append(channel)
    send = channel.unary_unary("/maytrain.v1.ConsentCheckService/CheckBatch",
                               request_serializer=None, response_deserializer=None)
    for _ in range(20):
        with pytest.raises(grpc.RpcError) as raised:
            send(raw, timeout=10)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _peak_rss(sidecar) - before < 64 * 1024 * 1024
    assert sidecar.stub().Check(pb.CheckRequest(record=TELEMETRY), timeout=2).decision.verdict


def test_a_full_batch_of_generous_records_fits_the_chart_memory_limit(sidecar) -> None:
    record = consent_pb2.Record(account_id="a" * 256, user_id="u" * 256, record_id="r" * 256,
                                data_category="customer_content.chat", purpose="ai.training")
    answer = sidecar.stub().CheckBatch(pb.CheckBatchRequest(records=[record] * 1000), timeout=10)
    assert len(answer.decisions) == 1000
    assert _peak_rss(sidecar) < 512 * 1024 * 1024


def _peak_rss(sidecar: RunningSidecar) -> int:
    status = Path(f"/proc/{sidecar.process.pid}/status").read_text()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(kib) * 1024


@pytest.mark.parametrize("records, limit, counted", [(0, 10, 0), (5, 10, 0), (11, 10, 11),
                                                    (500, 10, 11)])
def test_records_are_counted_on_the_wire_up_to_one_past_the_limit(records, limit,
                                                                  counted) -> None:
    raw = pb.CheckBatchRequest(records=[consent_pb2.Record()] * records,
                               default_purpose="ai").SerializeToString()
    assert count_records(raw, limit) == counted


def test_counting_stops_at_a_malformed_buffer() -> None:
    assert count_records(b"\x0b" * 100, 10) == 0
    assert count_records(b"\x0a\xff\xff\xff\xff\x0f" + b"\x0a\x00" * 20, 10) == 1
