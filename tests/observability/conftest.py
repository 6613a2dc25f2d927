"""In-process sidecars on the sample store, for the metrics, receipts and tracing tests."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from running_sidecar import free_port

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc
from maytrain.v1 import consent_pb2
from sidecar.policy_files import load_policy
from sidecar.runtime import Sidecar
from sidecar.samples import load_sample
from sidecar.settings import resolve
from sidecar.store import open_store

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


@pytest.fixture
def sample_store(tmp_path: Path) -> str:
    """A SQLite store holding the sample data."""
    url = f"sqlite:///{tmp_path / 'consent.db'}"
    store = open_store(url, create=True, policy=load_policy())
    try:
        load_sample(store, actor="test")
    finally:
        store.close()
    return url


@pytest.fixture
def start(sample_store: str) -> Iterator:
    """start(**flags): a started in-process sidecar on the sample store; stopped after."""
    started: list[InProcess] = []

    def _start(**flags: object) -> InProcess:
        target = f"127.0.0.1:{free_port()}"
        settings = resolve({"store": sample_store, "listen": [target], "shutdown_grace": 1.0,
                            **flags}, env={})
        sidecar = Sidecar(settings, load_policy())
        sidecar.start()
        running = InProcess(sidecar, target)
        started.append(running)
        return running

    yield _start
    for running in started:
        running.stop()


def check_each_reason(stub: pb_grpc.ConsentCheckServiceStub) -> None:
    """One unary Check per reason."""
    for reason in BY_REASON:
        stub.Check(pb.CheckRequest(record=wire_record(reason, f"one-{reason}")), timeout=5)
