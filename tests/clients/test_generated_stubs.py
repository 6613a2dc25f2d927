"""Tests that the committed maytrain.v1 stubs match the protos and work at run time."""

import importlib.util
import shutil
from pathlib import Path

from google.protobuf.timestamp_pb2 import Timestamp

REPO = Path(__file__).resolve().parents[2]


def load_generator():
    """Import scripts/generate_protos.py, which is a script rather than a package module."""
    spec = importlib.util.spec_from_file_location(
        "generate_protos", REPO / "scripts" / "generate_protos.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_stubs_match_the_protos():
    problems = load_generator().check()
    assert not problems, "run `python scripts/generate_protos.py`:\n" + "\n".join(problems)


def test_drift_reports_a_proto_copy_edited_by_hand(tmp_path):
    generator = load_generator()
    committed = tmp_path / generator.STUB_DIR
    shutil.copytree(generator.SIDECAR_PROTOS / generator.STUB_DIR, committed)
    (committed / "consent.proto").write_text("// edited by hand\n")

    problems = generator.drift(tmp_path, generator.OUT_ROOT, (".proto",))

    assert [p.splitlines()[0] for p in problems] == [f"differs: {committed / 'consent.proto'}"]


def test_check_batch_request_round_trips_through_the_wire_format():
    from maytrain.v1 import consent_check_service_pb2 as service
    from maytrain.v1 import consent_pb2 as consent

    record = consent.Record(
        record_id="r-1",
        account_id="acme",
        user_id="u-7",
        data_category="customer_content.derived.transcript",
        collected_at=Timestamp(seconds=1_700_000_000),
        region="DE",
        derived_from=["customer_content.audio"],
    )
    request = service.CheckBatchRequest(
        records=[record, consent.Record(record_id="r-2")],
        default_purpose="ai.training",
        min_consent_version=42,
        explain=True,
    )

    parsed = service.CheckBatchRequest.FromString(request.SerializeToString())

    assert parsed == request
    assert [r.record_id for r in parsed.records] == ["r-1", "r-2"]
    assert parsed.records[0].derived_from == ["customer_content.audio"]
    assert not parsed.records[1].HasField("collected_at")


def test_service_is_published_under_its_fully_qualified_name():
    from maytrain.v1 import consent_check_service_pb2 as service
    from maytrain.v1 import consent_check_service_pb2_grpc as service_grpc

    descriptor = service.DESCRIPTOR.services_by_name["ConsentCheckService"]
    stream = descriptor.methods_by_name["CheckStream"]
    names = [m.name for m in descriptor.methods]

    assert descriptor.full_name == "maytrain.v1.ConsentCheckService"
    assert names == ["Check", "CheckBatch", "CheckStream", "CheckColumns", "WatchChanges", "GetStatus"]
    assert stream.client_streaming and stream.server_streaming
    assert hasattr(service_grpc, "ConsentCheckServiceStub")
