"""The Prometheus endpoint: counts by reason after known traffic, cache state, bounded labels."""

from __future__ import annotations

import math
import tempfile

import pytest
from observed_sidecar import BY_REASON, check_each_reason, cycle, samples
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from receipt_batches import REASONS, batch

from maytrain.v1 import consent_check_service_pb2 as pb
from sidecar.core import InvalidValueError
from sidecar.observability.metrics import NAMES, CacheView, Metrics, split_address
from sidecar.observability.reader import ObservedReader, observed_opener
from sidecar.policy_files import load_policy
from sidecar.settings import Settings
from sidecar.store import open_store


def decisions(found: dict, rpc: str) -> dict[str, float]:
    return {dict(labels)["reason"]: value for (name, labels), value in found.items()
            if name == "maytrain_decisions_total" and dict(labels)["rpc"] == rpc and value}


def test_metrics_are_off_unless_asked_for():
    assert Settings().metrics_listen is None


def test_counts_by_reason_after_known_traffic(start):
    running = start(metrics_listen="127.0.0.1:0")
    stub = running.stub()
    check_each_reason(stub)
    stub.CheckBatch(pb.CheckBatchRequest(records=cycle(90)), timeout=5)
    stub.CheckBatch(pb.CheckBatchRequest(records=cycle(9)), timeout=5)
    stream = [pb.CheckStreamRequest(records=cycle(18)), pb.CheckStreamRequest(records=cycle(9))]
    list(stub.CheckStream(iter(stream), timeout=5))

    found = samples(running.scrape())

    assert decisions(found, "Check") == dict.fromkeys(BY_REASON, 1.0)
    assert decisions(found, "CheckBatch") == dict.fromkeys(BY_REASON, 11.0)
    assert decisions(found, "CheckStream") == dict.fromkeys(BY_REASON, 3.0)
    verdicts = {dict(labels)["reason"]: dict(labels)["verdict"] for (name, labels) in found
                if name == "maytrain_decisions_total"}
    assert {r for r, v in verdicts.items() if v == "ALLOW"} == {"ALLOWED_BY_TERMS",
                                                                "ALLOWED_BY_CONSENT"}
    assert found["maytrain_batch_records_count", (("rpc", "CheckBatch"),)] == 2
    assert found["maytrain_batch_records_sum", (("rpc", "CheckBatch"),)] == 99
    assert found["maytrain_batch_records_sum", (("rpc", "CheckStream"),)] == 27
    assert found["maytrain_check_duration_seconds_count", (("rpc", "Check"),)] == 9


def test_cache_state_is_read_at_scrape_time(start):
    running = start(metrics_listen="127.0.0.1:0")
    index = running.sidecar.follower.index

    found = samples(running.scrape())

    assert found["maytrain_consent_version", ()] == index.version > 0
    assert found["maytrain_serving", ()] == 1
    assert found["maytrain_index_accounts", ()] == 5
    assert found["maytrain_index_entries", ()] == index.entry_count > 0
    assert 0 <= found["maytrain_sync_age_seconds", ()] < 30
    policy = running.sidecar.policy.version
    assert found["maytrain_policy_info", (("policy_version", policy),)] == 1
    assert found["maytrain_receipts_written_total", ()] == 0


def test_label_values_never_carry_an_id(start):
    running = start(metrics_listen="127.0.0.1:0")
    stub = running.stub()
    stub.CheckBatch(pb.CheckBatchRequest(records=cycle(45, prefix="secret-record")), timeout=5)

    labels = {value for (_, pairs) in samples(running.scrape()) for _, value in pairs}

    ids = {account for account, user, _, _ in BY_REASON.values()} | {
        user for _, user, _, _ in BY_REASON.values() if user}
    assert not labels & ids
    assert not [value for value in labels if "secret-record" in value]


def test_every_exported_family_is_named_in_one_place(start):
    running = start(metrics_listen="127.0.0.1:0")

    families = {family.name for family in text_string_to_metric_families(running.scrape())}

    exported = {name for name in families if name.startswith("maytrain_")}
    assert {name.removesuffix("_total") for name in NAMES} == exported


def test_store_failures_are_counted_by_kind():
    kinds: list[str] = []

    class Broken:
        def snapshot(self):
            raise OSError("disk gone")

        def changes_since(self, version, limit):
            raise OSError("disk gone")

    reader = ObservedReader(Broken(), kinds.append, None)
    for read in (reader.snapshot, lambda: reader.changes_since(3, 10)):
        with pytest.raises(OSError):
            read()

    def refuse():
        raise ConnectionError("no store")

    with pytest.raises(ConnectionError):
        observed_opener(refuse, kinds.append, None)()
    assert kinds == ["snapshot", "changes", "connect"]


def test_an_observed_reader_keeps_the_readers_optional_abilities():
    class Pushing:
        def wait_for_change(self, timeout):
            return True

    assert ObservedReader(Pushing(), print, None).wait_for_change(0.1) is True
    assert getattr(ObservedReader(object(), print, None), "wait_for_change", None) is None


def test_sync_age_is_infinite_before_any_data():
    metrics = Metrics("sha256:x", CacheView(index=lambda: None, serving=lambda: False,
                                            clock=lambda: 0))

    found = samples(generate_latest(metrics.registry).decode())
    assert math.isinf(found["maytrain_sync_age_seconds", ()])
    assert found["maytrain_serving", ()] == 0 and found["maytrain_consent_version", ()] == 0


@pytest.mark.parametrize(("address", "parsed"), [
    ("0.0.0.0:9090", ("0.0.0.0", 9090)), (":9090", ("0.0.0.0", 9090)),
    ("[::]:9090", ("::", 9090)), ("127.0.0.1:0", ("127.0.0.1", 0))])
def test_metrics_addresses(address, parsed):
    assert split_address(address) == parsed


@pytest.mark.parametrize("address", ["9090", "host:", "host:http", "host:70000"])
def test_a_bad_metrics_address_is_refused(address):
    with pytest.raises(InvalidValueError, match="metrics-listen"):
        split_address(address)


def test_a_batch_costs_one_increment_per_distinct_reason(monkeypatch):
    metrics = Metrics("sha256:x", CacheView(index=lambda: None, serving=lambda: True,
                                            clock=lambda: 0))
    increments: list[float] = []

    class Child:
        def inc(self, amount: float = 1) -> None:
            increments.append(amount)

    monkeypatch.setattr(metrics, "_by_reason", {key: Child() for key in metrics._by_reason})
    metrics.decided(batch(10_000))

    assert len(increments) == len(REASONS) and sum(increments) == 10_000


def test_an_observed_store_still_packs_its_snapshot_as_it_reads(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    open_store(url, create=True, policy=load_policy()).close()
    kinds: list[str] = []
    reader = observed_opener(lambda: open_store(url, policy=load_policy()), kinds.append, None)()
    assert getattr(type(reader), "snapshot_base", None) is not None
    assert reader.snapshot_base()[0] == 0
    assert getattr(type(ObservedReader(object(), print, None)), "snapshot_base", None) is None


def test_an_observed_store_still_offers_its_packed_base(tmp_path) -> None:
    """A cold start with metrics on (the chart's default) reads the pack, not the rows."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with open_store(url, create=True, policy=load_policy()) as store:
        store.add_account("acct-1", actor="t")
        store.pack()
    reader = observed_opener(lambda: open_store(url, policy=load_policy()), print, None)()
    assert getattr(type(reader), "read_packed_base", None) is not None
    with tempfile.TemporaryFile() as spool:
        assert reader.read_packed_base(spool).version == 1
        assert spool.tell() > 0
    reader.close()
