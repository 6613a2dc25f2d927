"""Decisions as the client returns them: a small frozen dataclass with readable enums,
made from the wire's answers, or made by the client itself when no answer came."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from maytrain.v1 import consent_pb2 as pb


class Verdict(enum.StrEnum):
    """Whether a record may be used; compares equal to its name ("ALLOW")."""

    UNSPECIFIED = "UNSPECIFIED"
    ALLOW = "ALLOW"
    DENY = "DENY"


class Reason(enum.StrEnum):
    """The rule that decided; compares equal to its name ("DENIED_OPTED_OUT")."""

    UNSPECIFIED = "UNSPECIFIED"
    ALLOWED_BY_TERMS = "ALLOWED_BY_TERMS"
    ALLOWED_BY_CONSENT = "ALLOWED_BY_CONSENT"
    DENIED_INVALID_RECORD = "DENIED_INVALID_RECORD"
    DENIED_STALE_CACHE = "DENIED_STALE_CACHE"
    DENIED_UNKNOWN_ACCOUNT = "DENIED_UNKNOWN_ACCOUNT"
    DENIED_ERASURE = "DENIED_ERASURE"
    DENIED_BY_POLICY = "DENIED_BY_POLICY"
    DENIED_OPTED_OUT = "DENIED_OPTED_OUT"
    DENIED_OUTSIDE_WINDOW = "DENIED_OUTSIDE_WINDOW"
    DENIED_NO_CONSENT = "DENIED_NO_CONSENT"
    DENIED_UNAVAILABLE = "DENIED_UNAVAILABLE"


ALLOWING_REASONS = frozenset({Reason.ALLOWED_BY_TERMS, Reason.ALLOWED_BY_CONSENT})
# Wire enum numbers to the client's enums; numbers this client does not know (a newer
# sidecar) read as UNSPECIFIED, which never allows.
_VERDICTS = {pb.Verdict.Value(f"VERDICT_{v.name}"): v for v in Verdict}
_REASONS = {pb.Reason.Value(f"REASON_{r.name}"): r for r in Reason}


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one record, with the versions it was decided at."""

    record_id: str
    verdict: Verdict
    reason: Reason
    explanation: str = ""
    consent_version: int = 0  # 0 when the client decided (no answer from the sidecar)
    policy_version: str = ""

    @property
    def allowed(self) -> bool:
        """True only for an ALLOW verdict with an allowing reason: anything else denies."""
        return self.verdict is Verdict.ALLOW and self.reason in ALLOWING_REASONS


def from_wire(decisions: Sequence[pb.Decision], consent_version: int,
              policy_version: str) -> list[Decision]:
    """Client decisions for the wire decisions of one answer."""
    verdicts, reasons = _VERDICTS, _REASONS
    return [Decision(d.record_id, verdicts.get(d.verdict, Verdict.UNSPECIFIED),
                     reasons.get(d.reason, Reason.UNSPECIFIED), d.explanation,
                     consent_version, policy_version) for d in decisions]


def unavailable(records: Sequence[pb.Record], why: str) -> list[Decision]:
    """Denials for records the sidecar did not answer: the client fails closed."""
    return [Decision(r.record_id, Verdict.DENY, Reason.DENIED_UNAVAILABLE, why)
            for r in records]


def answer_problem(records: Sequence[pb.Record], decisions: Sequence[pb.Decision]) -> str:
    """Why an answer does not fit its request ('' when it does): count and ids must match."""
    if len(decisions) != len(records):
        return f"the sidecar answered {len(decisions)} decisions for {len(records)} records"
    if any(d.record_id != r.record_id for d, r in zip(decisions, records, strict=True)):
        return "the sidecar's decisions do not echo the records' ids in order"
    return ""
