"""Traffic with known decisions on the sample store, and an in-process sidecar to send it to."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass, field

import grpc
from prometheus_client.parser import text_string_to_metric_families

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc
from maytrain.v1 import consent_pb2
from sidecar.runtime import Sidecar

# One record per reason on the sample data (sidecar/samples/README.md), as wire fields.
BY_REASON = {
    "ALLOWED_BY_TERMS": ("sample-terms", "", "service_generated.telemetry", "2025-03-01"),
    "ALLOWED_BY_CONSENT": ("sample-consented", "alice", "customer_content.audio", "2025-06-01"),
    "DENIED_INVALID_RECORD": ("sample-terms", "", "customer_content", "2025-03-01"),
    "DENIED_UNKNOWN_ACCOUNT": ("no-such-account", "", "service_generated.usage", "2025-03-01"),
    "DENIED_ERASURE": ("sample-consented", "carol", "customer_content.chat", "2025-06-01"),
    "DENIED_BY_POLICY": ("sample-terms", "", "account_data.billing", "2025-03-01"),
    "DENIED_OPTED_OUT": ("sample-opted-out", "", "service_generated.telemetry", "2025-03-01"),
    "DENIED_OUTSIDE_WINDOW": ("sample-terms", "", "service_generated.telemetry", "2023-01-15"),
    "DENIED_NO_CONSENT": ("sample-consented", "bob", "customer_content.audio", "2025-06-01"),
}


def wire_record(reason: str, record_id: str = "") -> consent_pb2.Record:
    """A wire record the sample data decides with `reason`."""
    account, user, category, day = BY_REASON[reason]
    record = consent_pb2.Record(record_id=record_id, account_id=account, user_id=user,
                                data_category=category, purpose="ai.training")
    record.collected_at.FromJsonString(f"{day}T00:00:00Z")
    return record


def cycle(count: int, prefix: str = "rec") -> list[consent_pb2.Record]:
    """`count` records cycling through every reason, with ids prefix-0, prefix-1, ..."""
    reasons = list(BY_REASON)
    return [wire_record(reasons[i % len(reasons)], f"{prefix}-{i}") for i in range(count)]


@dataclass
class InProcess:
    """A started Sidecar with a client channel to it."""

    sidecar: Sidecar
    target: str
    channels: list[grpc.Channel] = field(default_factory=list)
    stopped: bool = False

    def stub(self) -> pb_grpc.ConsentCheckServiceStub:
        channel = grpc.insecure_channel(self.target)
        self.channels.append(channel)
        return pb_grpc.ConsentCheckServiceStub(channel)

    def scrape(self) -> str:
        port = self.sidecar.observability.metrics_port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            return answer.read().decode()

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            for channel in self.channels:
                channel.close()
            self.sidecar.stop()


def check_each_reason(stub: pb_grpc.ConsentCheckServiceStub) -> None:
    """One unary Check per reason."""
    for reason in BY_REASON:
        stub.Check(pb.CheckRequest(record=wire_record(reason, f"one-{reason}")), timeout=5)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics exposition, by name and sorted labels."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}
