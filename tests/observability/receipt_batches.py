"""Decided batches made without a server, for the receipt writer's tests."""

from __future__ import annotations

from sidecar.core.model import Decision, Reason, Record, Rule
from sidecar.observability.observers import DecidedBatch

NOW = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
REASONS = list(Reason)


def batch(count: int, *, start: int = 0, now: int = NOW, version: int = 7,
          rpc: str = "CheckBatch", account: str = "acct") -> DecidedBatch:
    """`count` decisions of records r<start>..., cycling through the reasons."""
    records = [Record(f"{account}-{i % 3}", "customer_content.chat", "ai.training", f"u{i % 5}",
                      None, "", (), f"r{start + i}") for i in range(count)]
    decisions = [Decision(REASONS[i % len(REASONS)], Rule.INVALID_RECORD) for i in range(count)]
    return DecidedBatch(rpc, records, decisions, now, version, "sha256:test", 0.001)
