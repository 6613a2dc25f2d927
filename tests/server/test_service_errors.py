"""The service maps failures to statuses a caller can act on, in one place."""

from __future__ import annotations

import threading
from concurrent import futures

import grpc
import pytest

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc
from maytrain.v1 import consent_pb2
from sidecar.policy_files import load_policy
from sidecar.server.service import ConsentCheckService


class BrokenFollower:
    """A follower whose cache fails when read (a bug, say): the failure to be mapped."""

    warm_started = False

    @property
    def index(self):
        raise RuntimeError("cache exploded: secret detail")


@pytest.fixture
def stub():
    service = ConsentCheckService(BrokenFollower(), load_policy(), lambda: 0,
                                  store="sqlite:///x.db", max_staleness=30.0, max_batch=2,
                                  stopping=threading.Event())
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_ConsentCheckServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield pb_grpc.ConsentCheckServiceStub(channel)
    server.stop(0)


def test_an_unexpected_failure_is_internal_without_its_details(stub, caplog) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        stub.Check(pb.CheckRequest(record=consent_pb2.Record(account_id="a")), timeout=5)
    assert raised.value.code() == grpc.StatusCode.INTERNAL
    assert "records were not answered" in raised.value.details()
    assert "secret detail" not in raised.value.details()
    assert "cache exploded" in caplog.text


def test_a_status_set_on_purpose_passes_through(stub) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        stub.CheckBatch(pb.CheckBatchRequest(records=[consent_pb2.Record()] * 3), timeout=5)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
