"""Turning what callers hold into wire records, and wire answers into Decisions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from maytrain.client import Decision, InvalidRecordError, Reason, Record, Verdict
from maytrain.client._decisions import answer_problem, from_wire
from maytrain.client._records import INVALID_TIME, to_proto
from maytrain.v1 import consent_pb2


def test_keys_that_are_not_record_fields_are_ignored_so_records_can_carry_payload() -> None:
    message = to_proto({"account_id": "a", "data_category": "c", "purpose": "p",
                        "text": "payload", "embedding": [0.1, 0.2]})
    assert message == consent_pb2.Record(account_id="a", data_category="c", purpose="p")


def test_none_and_empty_values_leave_a_field_unset() -> None:
    message = to_proto({"account_id": "a", "user_id": None, "collected_at": None,
                        "region": "", "derived_from": None})
    assert not message.HasField("collected_at") and message.user_id == ""


def test_integer_record_ids_are_sent_as_text() -> None:
    assert to_proto({"record_id": 42}).record_id == "42"


@pytest.mark.parametrize("record, field", [
    ({"account_id": 17}, "account_id"),
    ({"data_category": ["a"]}, "data_category"),
    ({"derived_from": "customer_content.audio"}, "derived_from"),
    ({"derived_from": [3]}, "derived_from"),
    ({"collected_at": 1_700_000_000}, "collected_at"),
])
def test_a_field_of_the_wrong_type_raises_naming_the_field(record, field) -> None:
    with pytest.raises(InvalidRecordError, match=field) as raised:
        to_proto(record)
    assert isinstance(raised.value, TypeError)


def test_something_that_is_no_record_at_all_raises() -> None:
    with pytest.raises(InvalidRecordError, match="must be a dict"):
        to_proto(("sample-terms", "service_generated.usage"))


def test_a_record_dataclass_is_keyword_only_and_frozen() -> None:
    with pytest.raises(TypeError):
        Record("sample-terms")  # type: ignore[misc]
    record = Record(account_id="a", derived_from=["x"])
    with pytest.raises(AttributeError):
        record.account_id = "b"  # type: ignore[misc]
    assert list(to_proto(record).derived_from) == ["x"]


def test_a_naive_datetime_is_taken_as_utc() -> None:
    naive = to_proto({"collected_at": datetime(2025, 6, 1, 12, 30, 0, 250)})
    aware = to_proto({"collected_at": datetime(2025, 6, 1, 12, 30, 0, 250, tzinfo=UTC)})
    assert naive.collected_at == aware.collected_at
    assert naive.collected_at.ToJsonString() == "2025-06-01T12:30:00.000250Z"


def test_an_unreadable_time_becomes_one_the_sidecar_refuses() -> None:
    assert to_proto({"collected_at": "soon"}).collected_at == INVALID_TIME


def test_the_default_purpose_never_changes_the_callers_message() -> None:
    mine = consent_pb2.Record(account_id="a")
    sent = to_proto(mine, "ai.training")
    assert sent.purpose == "ai.training" and mine.purpose == ""
    assert to_proto({"purpose": "ai.evaluation"}, "ai.training").purpose == "ai.evaluation"


def test_only_an_allow_verdict_with_an_allowing_reason_is_allowed() -> None:
    assert Decision("r", Verdict.ALLOW, Reason.ALLOWED_BY_TERMS).allowed
    assert not Decision("r", Verdict.UNSPECIFIED, Reason.ALLOWED_BY_TERMS).allowed
    assert not Decision("r", Verdict.ALLOW, Reason.UNSPECIFIED).allowed
    assert not Decision("r", Verdict.ALLOW, Reason.DENIED_OPTED_OUT).allowed


def test_enum_numbers_the_client_does_not_know_read_as_unspecified() -> None:
    wire = consent_pb2.Decision(record_id="r", verdict=99, reason=99)
    (decision,) = from_wire([wire], 3, "sha256:x")
    assert (decision.verdict, decision.reason, decision.allowed) == (
        Verdict.UNSPECIFIED, Reason.UNSPECIFIED, False)


def test_every_wire_reason_has_a_client_reason() -> None:
    names = {name.removeprefix("REASON_") for name in consent_pb2.Reason.keys()}  # noqa: SIM118
    assert names == {reason.value for reason in Reason}


def test_an_answer_must_match_its_records_in_count_and_ids() -> None:
    records = [consent_pb2.Record(record_id=i) for i in ("a", "b")]
    decisions = [consent_pb2.Decision(record_id=i) for i in ("a", "b")]
    assert answer_problem(records, decisions) == ""
    assert "1 decisions for 2 records" in answer_problem(records, decisions[:1])
    assert "do not echo" in answer_problem(records, decisions[::-1])
