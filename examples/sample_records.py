"""Synthetic records for the examples: one kind per row of the sample data's table
(sidecar/samples/README.md), so that every reason shows up. Load that data with
`maytrain store init --sample`, then serve the store."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

NEW, OLD = "2025-06-01T00:00:00Z", "2023-01-15T00:00:00Z"  # after / before the terms' date
TELEMETRY, CHAT = "service_generated.telemetry", "customer_content.chat"

# (account, user, category, purpose, collected_at, region), cycled through in order.
KINDS = [
    ("sample-terms", "", TELEMETRY, "ai.training", NEW, ""),  # ALLOWED_BY_TERMS
    ("sample-terms", "", TELEMETRY, "ai.training", OLD, ""),  # DENIED_OUTSIDE_WINDOW
    ("sample-terms", "", "account_data.billing", "ai.training", NEW, ""),  # DENIED_BY_POLICY
    ("sample-terms", "", CHAT, "ai.training", NEW, ""),  # DENIED_NO_CONSENT
    ("sample-terms", "", TELEMETRY, "ai.training", NEW, "fr"),  # DENIED_NO_CONSENT (EU)
    ("sample-terms", "", "customer_content", "ai.training", NEW, ""),  # DENIED_INVALID_RECORD
    ("no-such-account", "", TELEMETRY, "ai.training", NEW, ""),  # DENIED_UNKNOWN_ACCOUNT
    ("sample-opted-out", "", TELEMETRY, "ai", NEW, ""),  # DENIED_OPTED_OUT
    ("sample-opted-out", "erin", "service_generated.usage", "product_improvement", NEW, ""),
    ("sample-consented", "", CHAT, "ai.training.generative", NEW, ""),  # ALLOWED_BY_CONSENT
    ("sample-consented", "alice", "customer_content.audio", "ai.training", NEW, ""),
    ("sample-consented", "carol", CHAT, "ai.training", NEW, ""),  # DENIED_ERASURE
    ("sample-erased", "", TELEMETRY, "product_improvement", NEW, ""),  # DENIED_ERASURE
    ("sample-eu", "", TELEMETRY, "product_improvement", NEW, ""),  # ALLOWED_BY_CONSENT
]


def sample_records(count: int) -> Iterator[dict]:
    """`count` records as dicts, each with a payload beside its record fields."""
    for number, kind in zip(range(count), itertools.cycle(KINDS)):
        account, user, category, purpose, collected_at, region = kind
        yield {"record_id": f"rec-{number:07d}", "account_id": account, "user_id": user,
               "data_category": category, "purpose": purpose, "collected_at": collected_at,
               "region": region, "text": f"payload of record {number}"}
