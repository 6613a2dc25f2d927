"""The real `maytrain serve` over TCP and a unix socket: every reason, read-your-writes,
limits, malformed records, and the wire contract's edges."""

from __future__ import annotations

import json

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from running_sidecar import SERVICE, RunningSidecar, free_port, maytrain

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_pb2

LISTENERS = ["tcp", "uds"]
R = consent_pb2


def stamp(text: str) -> Timestamp:
    ts = Timestamp()
    ts.FromJsonString(text)
    return ts


def record(account: str, category: str, purpose: str = "ai.training", *, user: str = "",
           collected: str = "2025-06-01T00:00:00Z", region: str = "", rid: str = "r",
           derived: tuple = ()) -> consent_pb2.Record:
    rec = consent_pb2.Record(record_id=rid, account_id=account, user_id=user,
                             data_category=category, purpose=purpose, region=region,
                             derived_from=list(derived))
    if collected:
        rec.collected_at.CopyFrom(stamp(collected))
    return rec


# One record per reason the sidecar sends, on the sample data (sidecar/samples/README.md).
REASONS = {
    R.REASON_ALLOWED_BY_TERMS: record("sample-terms", "service_generated.telemetry"),
    R.REASON_ALLOWED_BY_CONSENT: record("sample-consented", "customer_content.chat"),
    R.REASON_DENIED_INVALID_RECORD: record("sample-terms", "customer_content"),
    R.REASON_DENIED_UNKNOWN_ACCOUNT: record("no-such-account", "service_generated.usage"),
    R.REASON_DENIED_ERASURE: record("sample-erased", "service_generated.usage"),
    R.REASON_DENIED_BY_POLICY: record("sample-terms", "account_data.billing"),
    R.REASON_DENIED_OPTED_OUT: record("sample-opted-out", "service_generated.telemetry"),
    R.REASON_DENIED_OUTSIDE_WINDOW: record("sample-terms", "service_generated.telemetry",
                                           collected="2023-01-15T00:00:00Z"),
    R.REASON_DENIED_NO_CONSENT: record("sample-terms", "customer_content.chat"),
}


@pytest.mark.parametrize("listener", LISTENERS)
@pytest.mark.parametrize("reason", list(REASONS), ids=lambda r: R.Reason.Name(r))
def test_every_reason_is_reachable_through_check(shared: RunningSidecar, listener, reason) -> None:
    response = shared.stub(listener).Check(pb.CheckRequest(record=REASONS[reason]), timeout=5)
    assert R.Reason.Name(response.decision.reason) == R.Reason.Name(reason)
    allowed = reason in (R.REASON_ALLOWED_BY_TERMS, R.REASON_ALLOWED_BY_CONSENT)
    assert response.decision.verdict == (R.VERDICT_ALLOW if allowed else R.VERDICT_DENY)
    assert response.consent_version > 0 and response.policy_version.startswith("sha256:")


@pytest.mark.parametrize("listener", LISTENERS)
def test_a_batch_answers_in_order_and_echoes_record_ids(shared: RunningSidecar, listener) -> None:
    records = [consent_pb2.Record(record_id=f"id-{i}") for i in range(3)]
    for i, rec in enumerate(REASONS.values()):
        records.append(rec)
        records[-1].record_id = f"r{i}"
    response = shared.stub(listener).CheckBatch(pb.CheckBatchRequest(records=records), timeout=5)
    assert [d.record_id for d in response.decisions] == [r.record_id for r in records]
    assert [d.reason for d in response.decisions[3:]] == list(REASONS)


def test_a_demanded_version_the_store_never_reaches_is_a_stale_denial(shared) -> None:
    request = pb.CheckRequest(record=REASONS[R.REASON_ALLOWED_BY_TERMS],
                              min_consent_version=10**9)
    response = shared.stub().Check(request, timeout=1)
    assert response.decision.reason == R.REASON_DENIED_STALE_CACHE


def test_a_batch_with_one_malformed_record_answers_the_rest(shared: RunningSidecar) -> None:
    good = REASONS[R.REASON_ALLOWED_BY_TERMS]
    bad = record("sample-terms", "service_generated.telemetry", region="Narnia", rid="bad")
    response = shared.stub().CheckBatch(pb.CheckBatchRequest(records=[good, bad, good]), timeout=5)
    assert [d.reason for d in response.decisions] == [
        R.REASON_ALLOWED_BY_TERMS, R.REASON_DENIED_INVALID_RECORD, R.REASON_ALLOWED_BY_TERMS]


def test_an_out_of_range_timestamp_is_an_invalid_record(shared: RunningSidecar) -> None:
    rec = record("sample-terms", "service_generated.telemetry", collected="")
    rec.collected_at.seconds = 10**12
    response = shared.stub().Check(pb.CheckRequest(record=rec, explain=True), timeout=5)
    assert response.decision.reason == R.REASON_DENIED_INVALID_RECORD
    assert "collected_at" in response.decision.explanation


def test_an_empty_batch_gets_an_empty_answer(shared: RunningSidecar) -> None:
    response = shared.stub().CheckBatch(pb.CheckBatchRequest(), timeout=5)
    assert list(response.decisions) == [] and response.consent_version > 0


def test_a_record_without_purpose_takes_the_default_purpose(shared: RunningSidecar) -> None:
    rec = record("sample-terms", "service_generated.telemetry", purpose="")
    stub = shared.stub()
    without = stub.CheckBatch(pb.CheckBatchRequest(records=[rec]), timeout=5)
    defaulted = stub.CheckBatch(pb.CheckBatchRequest(records=[rec], default_purpose="ai"),
                                timeout=5)
    assert without.decisions[0].reason == R.REASON_DENIED_INVALID_RECORD
    assert defaulted.decisions[0].reason == R.REASON_ALLOWED_BY_TERMS


def test_explain_names_the_rule_and_the_deciding_entries(shared: RunningSidecar) -> None:
    request = pb.CheckRequest(record=REASONS[R.REASON_DENIED_OPTED_OUT], explain=True)
    explanation = shared.stub().Check(request, timeout=5).decision.explanation
    assert explanation.startswith("rule 6 DENIED_OPTED_OUT:")
    assert "sample-opted-out-training" in explanation


def test_status_reports_versions_counts_and_masked_store(shared: RunningSidecar) -> None:
    status = shared.stub().GetStatus(pb.GetStatusRequest(), timeout=5)
    assert status.serving and not status.warm_started
    assert status.accounts == 5 and status.consent_entries > 0 and status.consent_version > 0
    assert status.store == shared.store and status.staleness.ToTimedelta().total_seconds() < 5


def test_health_listener_serves_only_health(shared: RunningSidecar) -> None:
    with grpc.insecure_channel(shared.health) as channel:
        from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc

        with pytest.raises(grpc.RpcError) as raised:
            pb_grpc.ConsentCheckServiceStub(channel).GetStatus(pb.GetStatusRequest(), timeout=5)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_reflection_lists_the_service(shared: RunningSidecar) -> None:
    with grpc.insecure_channel(shared.tcp) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
        names = {s.name for reply in replies for s in reply.list_services_response.service}
    assert SERVICE in names


def test_check_command_exit_codes(shared: RunningSidecar) -> None:
    base = ["check", "--target", shared.tcp, "--account", "sample-terms", "--purpose",
            "ai.training", "--collected-at", "2025-06-01T00:00:00Z"]
    allowed = maytrain(*base, "--category", "service_generated.usage", cwd=shared.workdir,
                       check=False)
    denied = maytrain(*base, "--category", "account_data.billing", "--json",
                      cwd=shared.workdir, check=False)
    failed = maytrain("check", "--target", f"127.0.0.1:{free_port()}", "--account", "a",
                      "--category", "b", "--purpose", "c", "--timeout", "1",
                      cwd=shared.workdir, check=False)
    assert (allowed.returncode, denied.returncode, failed.returncode) == (0, 1, 2)
    assert '"reason": "DENIED_BY_POLICY"' in denied.stdout
    assert "did not answer" in failed.stderr


def test_a_write_is_reflected_by_a_check_at_its_version(start_sidecar) -> None:
    sidecar = start_sidecar("--sync-interval", "30")
    rec = REASONS[R.REASON_ALLOWED_BY_TERMS]
    written = sidecar.cli("consent", "opt-out", "--account", "sample-terms", "--category",
                          "service_generated", "--purpose", "ai", "--json")
    version = json.loads(written.stdout)["consent_version"]
    response = sidecar.stub("uds").Check(
        pb.CheckRequest(record=rec, min_consent_version=version), timeout=3)
    assert response.decision.reason == R.REASON_DENIED_OPTED_OUT
    assert response.consent_version >= version


def test_a_batch_over_the_limit_is_refused_naming_the_limit(start_sidecar) -> None:
    sidecar = start_sidecar("--max-batch", "5")
    records = [REASONS[R.REASON_ALLOWED_BY_TERMS]] * 6
    with pytest.raises(grpc.RpcError) as raised:
        sidecar.stub().CheckBatch(pb.CheckBatchRequest(records=records), timeout=5)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "limit of 5 records" in raised.value.details()
    assert len(sidecar.stub().CheckBatch(pb.CheckBatchRequest(records=records[:5]),
                                         timeout=5).decisions) == 5


@pytest.mark.parametrize("listener", LISTENERS)
def test_a_second_sidecar_on_a_taken_address_fails_clearly(start_sidecar, listener) -> None:
    first = start_sidecar(name="first")
    address = first.target(listener)
    second = maytrain("serve", "--store", first.store, "--listen", address, cwd=first.workdir,
                      check=False)
    assert second.returncode == 1
    assert f"cannot listen on {address}" in second.stderr
    assert first.stub(listener).GetStatus(pb.GetStatusRequest(), timeout=5).serving


def test_serve_refuses_a_store_url_no_backend_serves(tmp_path) -> None:
    result = maytrain("serve", "--store", "postgresq://me:s3cret@db/x", "--listen",
                      f"127.0.0.1:{free_port()}", cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert "unsupported store URL 'postgresq://me:***@db/x'" in result.stderr
    assert "s3cret" not in result.stderr
