"""CheckColumns over real gRPC: the same answers as CheckBatch, record for record; buffers
that do not fit the batch are refused whole, naming the column."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent import futures

import grpc
import numpy as np
import pytest
from core.consent_strategies import NOW, POLICY, scenarios
from hypothesis import HealthCheck, given, settings

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc
from maytrain.v1 import consent_pb2
from sidecar.core import Account, ConsentEntry, ConsentIndex, Effect, Record
from sidecar.server.service import ConsentCheckService

TOO_LATE = 253_402_300_800  # seconds: 10000-01-01, past what a timestamp may say
INDEX = ConsentIndex.build(4, [
    Account("a1", "US"), Account("a2", "DE"),
    ConsentEntry("g1", "a1", "customer_content", "ai", Effect.GRANT, valid_from=0)], synced_at=NOW)


class Holding:
    """An IndexSource that holds one index (the service reads nothing else of a follower)."""

    warm_started, last_error, history_reloads, last_history_reload = False, "", 0, ""

    def __init__(self, index: ConsentIndex | None) -> None:
        self.index = index

    def wait_for_version(self, version: int, timeout: float) -> ConsentIndex | None:
        return self.index


@pytest.fixture(scope="module")
def served():
    holding = Holding(INDEX)
    service = ConsentCheckService(holding, POLICY, lambda: NOW, store="sqlite:///x.db",
                                  max_staleness=30.0, max_batch=1000, stopping=threading.Event())
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_ConsentCheckServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield holding, pb_grpc.ConsentCheckServiceStub(channel)
    server.stop(0)


def strings(values: Sequence[str | None]) -> pb.StringColumn:
    """A dictionary column; None is a null slot (its index left at 7, as Arrow allows)."""
    distinct: dict[str, int] = {}
    codes = [7 if v is None else distinct.setdefault(v, len(distinct)) for v in values]
    validity = b"" if None not in values else np.packbits(
        [v is not None for v in values], bitorder="little").tobytes()
    return pb.StringColumn(dictionary=list(distinct), indices=np.array(codes, "<i4").tobytes(),
                           validity=validity)


def columns_request(records: Sequence[Record], **fields) -> pb.CheckColumnsRequest:
    """The columnar request for `records` (a record with a problem gets an impossible time)."""
    micros = [TOO_LATE * 1_000_000 if r.problem else (r.collected_at or 0) for r in records]
    dated = [r.collected_at is not None or bool(r.problem) for r in records]
    offsets = np.cumsum([0] + [len(r.derived_from) for r in records]).astype("<i4")
    return pb.CheckColumnsRequest(
        count=len(records), record_id=strings([r.record_id for r in records]),
        account_id=strings([r.account_id for r in records]),
        user_id=strings([r.user_id for r in records]),
        data_category=strings([r.data_category for r in records]),
        purpose=strings([r.purpose for r in records]), region=strings([r.region for r in records]),
        collected_at_micros=np.array(micros, "<i8").tobytes(),
        collected_at_validity=np.packbits(dated, bitorder="little").tobytes(),
        derived_from=pb.ListColumn(offsets=offsets.tobytes(),
                                   values=strings([s for r in records for s in r.derived_from])),
        **fields)


def batch_request(records: Sequence[Record], **fields) -> pb.CheckBatchRequest:
    wire = []
    for r in records:
        message = consent_pb2.Record(record_id=r.record_id, account_id=r.account_id,
                                     user_id=r.user_id, data_category=r.data_category,
                                     purpose=r.purpose, region=r.region,
                                     derived_from=r.derived_from)
        if r.problem:
            message.collected_at.seconds = TOO_LATE
        elif r.collected_at is not None:
            message.collected_at.FromMicroseconds(r.collected_at)
        wire.append(message)
    return pb.CheckBatchRequest(records=wire, **fields)


def unpacked(response: pb.CheckColumnsResponse, count: int) -> list[tuple[bool, int]]:
    allowed = np.unpackbits(np.frombuffer(response.allowed, np.uint8), count=count,
                            bitorder="little")
    assert len(response.allowed) == (count + 7) // 8 and len(response.reasons) == count
    return [(bool(a), r) for a, r in zip(allowed, response.reasons, strict=True)]


def from_batch(response: pb.CheckBatchResponse) -> list[tuple[bool, int]]:
    return [(d.verdict == consent_pb2.VERDICT_ALLOW, d.reason) for d in response.decisions]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenarios())
def test_columns_and_batch_agree_on_random_batches(served, scenario) -> None:
    holding, stub = served
    holding.index = scenario.index()
    try:
        for fields in ({}, {"default_purpose": "ai.training"}):
            records = scenario.records
            columns = stub.CheckColumns(columns_request(records, **fields), timeout=10)
            batch = stub.CheckBatch(batch_request(records, **fields), timeout=10)
            assert unpacked(columns, len(records)) == from_batch(batch)
            assert (columns.consent_version, columns.policy_version) == (
                batch.consent_version, batch.policy_version)
    finally:
        holding.index = INDEX


CHAT = Record("a1", "customer_content.chat", "ai.training", collected_at=NOW - 10**6)
USAGE = Record("a2", "service_generated.usage", "ai.training", collected_at=NOW - 10**6)


def test_explanations_come_one_per_record_as_check_batch_gives_them(served) -> None:
    _, stub = served
    records = [CHAT, USAGE, CHAT._replace(account_id="nobody")]
    columns = stub.CheckColumns(columns_request(records, explain=True), timeout=10)
    batch = stub.CheckBatch(batch_request(records, explain=True), timeout=10)
    assert list(columns.explanations) == [d.explanation for d in batch.decisions]
    assert unpacked(columns, 3) == from_batch(batch)


def test_an_empty_batch_gets_an_empty_answer(served) -> None:
    _, stub = served
    response = stub.CheckColumns(pb.CheckColumnsRequest(), timeout=10)
    assert (response.allowed, response.reasons, response.consent_version) == (b"", b"", 4)


def test_an_empty_column_leaves_the_field_unset_on_every_record(served) -> None:
    _, stub = served
    request = columns_request([CHAT, USAGE])
    request.ClearField("collected_at_micros")
    request.ClearField("collected_at_validity")
    request.ClearField("purpose")
    answers = unpacked(stub.CheckColumns(request, timeout=10), 2)
    assert [r for _, r in answers] == [consent_pb2.REASON_DENIED_INVALID_RECORD] * 2
    request.default_purpose = "ai.training"
    answers = unpacked(stub.CheckColumns(request, timeout=10), 2)
    undated = [r._replace(collected_at=None, purpose="") for r in (CHAT, USAGE)]
    batch = stub.CheckBatch(batch_request(undated, default_purpose="ai.training"), timeout=10)
    assert answers == from_batch(batch)
    assert answers[0] == (False, consent_pb2.REASON_DENIED_OUTSIDE_WINDOW)


def test_a_null_value_is_unset_and_a_bad_value_is_an_invalid_record(served) -> None:
    _, stub = served
    request = columns_request([CHAT, CHAT, CHAT._replace(region="XX"), CHAT])
    request.account_id.CopyFrom(strings(["a1", None, "a1", "a1"]))
    request.collected_at_micros = np.array([NOW - 10**6, NOW, NOW, TOO_LATE * 10**6],
                                           "<i8").tobytes()
    answers = unpacked(stub.CheckColumns(request, timeout=10), 4)
    assert answers == [(True, consent_pb2.REASON_ALLOWED_BY_CONSENT)] + [
        (False, consent_pb2.REASON_DENIED_INVALID_RECORD)] * 3


MALFORMED = {
    "indices of the wrong length": ("account_id", lambda r: setattr(
        r.account_id, "indices", r.account_id.indices[:-4])),
    "an index outside the dictionary": ("data_category", lambda r: setattr(
        r.data_category, "indices", np.array([0, 5], "<i4").tobytes())),
    "a negative index": ("purpose", lambda r: setattr(
        r.purpose, "indices", np.array([0, -1], "<i4").tobytes())),
    "a short validity bitmap": ("user_id", lambda r: _short_validity(r)),
    "offsets that go back": ("derived_from", lambda r: setattr(
        r.derived_from, "offsets", np.array([0, 1, 0], "<i4").tobytes())),
    "offsets of the wrong length": ("derived_from", lambda r: setattr(
        r.derived_from, "offsets", np.array([0, 1], "<i4").tobytes())),
    "offsets past the values": ("derived_from", lambda r: setattr(
        r.derived_from, "offsets", np.array([0, 1, 3], "<i4").tobytes())),
    "times of the wrong length": ("collected_at", lambda r: setattr(
        r, "collected_at_micros", b"\0" * 12)),
}


def _short_validity(request: pb.CheckColumnsRequest) -> None:
    """Nine records, whose user_id validity bitmap has one byte where two are needed."""
    request.CopyFrom(columns_request([CHAT] * 9))
    request.user_id.validity = b"\xff"


@pytest.mark.parametrize("name", MALFORMED)
def test_a_malformed_column_is_refused_whole_naming_it(served, name) -> None:
    _, stub = served
    column, spoil = MALFORMED[name]
    request = columns_request([CHAT, CHAT._replace(derived_from=("customer_content.audio",))])
    spoil(request)
    with pytest.raises(grpc.RpcError) as raised:
        stub.CheckColumns(request, timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"column {column}" in raised.value.details()


def test_a_batch_over_the_limit_is_refused(served) -> None:
    _, stub = served
    with pytest.raises(grpc.RpcError) as raised:
        stub.CheckColumns(columns_request([CHAT] * 1001), timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "over the limit of 1000" in raised.value.details()
