"""Maps maytrain.v1 messages to the core's records and the core's decisions back."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.timestamp_pb2 import Timestamp

from maytrain.v1 import consent_pb2 as pb

from ..core.model import Decision, Micros, Reason, Record, Verdict

_MIN_SECONDS, _MAX_SECONDS = -62_135_596_800, 253_402_300_799  # 0001-01-01 .. 9999-12-31
_BAD_TIMESTAMP = "collected_at is not a valid timestamp (years 1-9999, nanos 0-999999999)"
_new = tuple.__new__
_VERDICTS = {Verdict.ALLOW: pb.VERDICT_ALLOW, Verdict.DENY: pb.VERDICT_DENY}
WIRE = {reason: (_VERDICTS[reason.verdict], pb.Reason.Value(f"REASON_{reason.name}"))
        for reason in Reason}
"""Each core reason as the (verdict, reason) enum numbers of the wire."""


def record_from_proto(message: pb.Record, default_purpose: str = "") -> Record:
    """The core record for a wire record; a record without a purpose takes the default."""
    return records_from_proto((message,), default_purpose)[0]


def records_from_proto(messages: Iterable[pb.Record], default_purpose: str) -> list[Record]:
    """Core records for a batch, in order (one loop: this runs for every record)."""
    records = []
    append = records.append
    for m in messages:
        stamp = m.collected_at
        seconds, nanos = stamp.seconds, stamp.nanos
        collected_at: Micros | None = None
        problem = ""
        if seconds or nanos or m.HasField("collected_at"):
            if _MIN_SECONDS <= seconds <= _MAX_SECONDS and 0 <= nanos < 1_000_000_000:
                collected_at = seconds * 1_000_000 + nanos // 1000
            else:
                problem = _BAD_TIMESTAMP
        derived = m.derived_from
        # tuple.__new__ skips the named tuple's Python-level __new__: ~20% of this loop.
        append(_new(Record, (m.account_id, m.data_category, m.purpose or default_purpose,
                             m.user_id, collected_at, m.region,
                             tuple(derived) if derived else (), m.record_id, problem)))
    return records


def decision_to_proto(record: Record, decision: Decision) -> pb.Decision:
    """The wire decision for one record, echoing its record_id."""
    verdict, reason = WIRE[decision.reason]
    return pb.Decision(record_id=record.record_id, verdict=verdict, reason=reason,
                       explanation=decision.explanation)


def add_decisions(target, records: list[Record], decisions: list[Decision]) -> None:
    """Append wire decisions to a repeated field, in the records' order."""
    add = target.add  # setting fields one by one is faster than add(**fields) in upb
    for record, decision in zip(records, decisions, strict=True):
        wire = add()
        wire.record_id = record.record_id
        wire.verdict, wire.reason = WIRE[decision.reason]
        if decision.explanation:
            wire.explanation = decision.explanation


def timestamp_of(micros: Micros) -> Timestamp:
    """The wire timestamp of a time in micros."""
    return Timestamp(seconds=micros // 1_000_000, nanos=(micros % 1_000_000) * 1000)
