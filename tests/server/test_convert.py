"""Wire records to core records and core decisions back."""

from __future__ import annotations

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_pb2
from sidecar.core import Decision, Reason
from sidecar.server.convert import WIRE, add_decisions, record_from_proto


def test_a_wire_record_becomes_a_core_record() -> None:
    message = consent_pb2.Record(record_id="r1", account_id="a", user_id="u",
                                 data_category="c.d", region="de", derived_from=["x", "y"])
    message.collected_at.FromMicroseconds(1_700_000_000_123_456)
    record = record_from_proto(message, default_purpose="ai")
    assert record == ("a", "c.d", "ai", "u", 1_700_000_000_123_456, "de", ("x", "y"), "r1", "")


def test_an_unset_timestamp_is_missing_and_epoch_zero_is_not() -> None:
    unset = record_from_proto(consent_pb2.Record())
    epoch = consent_pb2.Record()
    epoch.collected_at.SetInParent()
    assert unset.collected_at is None and record_from_proto(epoch).collected_at == 0


def test_an_out_of_range_timestamp_is_a_problem_not_an_error() -> None:
    message = consent_pb2.Record()
    message.collected_at.seconds = 10**13
    assert "collected_at" in record_from_proto(message).problem


def test_every_core_reason_has_a_wire_reason_and_verdict() -> None:
    for reason in Reason:
        verdict, wire = WIRE[reason]
        assert consent_pb2.Reason.Name(wire) == f"REASON_{reason.name}"
        assert consent_pb2.Verdict.Name(verdict) == f"VERDICT_{reason.verdict.name}"


def test_decisions_echo_record_ids_in_order() -> None:
    records = [record_from_proto(consent_pb2.Record(record_id=i)) for i in ("b", "a")]
    response = pb.CheckBatchResponse()
    add_decisions(response.decisions, records,
                  [Decision(Reason.DENIED_BY_POLICY, 5), Decision(Reason.ALLOWED_BY_TERMS, 8, "why")])
    assert [(d.record_id, d.reason, d.explanation) for d in response.decisions] == [
        ("b", consent_pb2.REASON_DENIED_BY_POLICY, ""),
        ("a", consent_pb2.REASON_ALLOWED_BY_TERMS, "why")]
