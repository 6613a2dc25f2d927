"""Records with known decisions on the sample data (sidecar/samples/README.md), as dicts."""

from __future__ import annotations

from maytrain.client import Reason


def record(account: str, category: str, purpose: str = "ai.training", *, user: str = "",
           collected: str = "2025-06-01T00:00:00Z", region: str = "", rid: str = "r") -> dict:
    return {"record_id": rid, "account_id": account, "user_id": user, "data_category": category,
            "purpose": purpose, "collected_at": collected, "region": region}


# One record per reason the sidecar sends.
BY_REASON = {
    Reason.ALLOWED_BY_TERMS: record("sample-terms", "service_generated.telemetry"),
    Reason.ALLOWED_BY_CONSENT: record("sample-consented", "customer_content.chat"),
    Reason.DENIED_INVALID_RECORD: record("sample-terms", "customer_content"),
    Reason.DENIED_UNKNOWN_ACCOUNT: record("no-such-account", "service_generated.usage"),
    Reason.DENIED_ERASURE: record("sample-erased", "service_generated.usage"),
    Reason.DENIED_BY_POLICY: record("sample-terms", "account_data.billing"),
    Reason.DENIED_OPTED_OUT: record("sample-opted-out", "service_generated.telemetry"),
    Reason.DENIED_OUTSIDE_WINDOW: record("sample-terms", "service_generated.telemetry",
                                         collected="2023-01-15T00:00:00Z"),
    Reason.DENIED_NO_CONSENT: record("sample-terms", "customer_content.chat"),
}
ALLOWED = BY_REASON[Reason.ALLOWED_BY_TERMS]
DENIED = BY_REASON[Reason.DENIED_BY_POLICY]


def mixed(count: int) -> list[dict]:
    """`count` records cycling through every reason, with ids r0, r1, ..."""
    kinds = list(BY_REASON.values())
    return [{**kinds[i % len(kinds)], "record_id": f"r{i}"} for i in range(count)]


def expected_reasons(records: list[dict]) -> list[Reason]:
    """The reason each record of mixed() gets."""
    by_kind = {(r["account_id"], r["data_category"], r["collected_at"]): reason
               for reason, r in BY_REASON.items()}
    return [by_kind[(r["account_id"], r["data_category"], r["collected_at"])] for r in records]
