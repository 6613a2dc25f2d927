"""WatchChanges streams under a slow reader and a store that changes its history: each ends
with a status the client resumes or re-plans on, never holding an unbounded backlog."""

from __future__ import annotations

import threading
import time
from concurrent import futures

import grpc
import pytest

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc
from sidecar.core.model import Effect
from sidecar.policy_files import load_policy
from sidecar.server.service import ConsentCheckService
from sidecar.server.watch import Watcher
from sidecar.store import open_store
from sidecar.store.requests import AccountRequest, ConsentRequest

POLICY = load_policy()
NOW = 1_800_000_000_000_000


class Following:
    """The follower as a stream sees it: reloads counted, new versions waited for."""

    def __init__(self) -> None:
        self.history_reloads = 0

    def wait_for_version(self, version: int, timeout: float) -> None:
        time.sleep(min(timeout, 0.05))


@pytest.fixture
def served(tmp_path):
    url = f"sqlite:///{tmp_path / 'feed.db'}"
    with open_store(url, create=True, policy=POLICY) as store:
        store.write([AccountRequest("a")] + [
            ConsentRequest("a", "customer_content", "ai", Effect.OPT_OUT, entry_id=f"o{i}")
            for i in range(40_000)], actor="test")
    following = Following()
    watcher = Watcher(lambda: open_store(url, policy=POLICY), following, lambda: NOW,
                      send_timeout=0.3, heartbeat=0.2)
    service = ConsentCheckService(None, POLICY, lambda: NOW, store=url, max_staleness=30.0,
                                  max_batch=10, stopping=threading.Event(), watcher=watcher)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_ConsentCheckServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    # Without BDP probing the client's window stays small, as a slow reader's would.
    with grpc.insecure_channel(f"127.0.0.1:{port}", [("grpc.http2.bdp_probe", 0)]) as channel:
        yield following, pb_grpc.ConsentCheckServiceStub(channel)
    server.stop(0)


def test_a_reader_slower_than_the_feed_is_ended_to_resume_from_its_version(served) -> None:
    _, stub = served
    stream = stub.WatchChanges(pb.WatchChangesRequest(), timeout=30)
    first = next(stream)
    time.sleep(1.5)  # the sidecar's sends wait on a reader that does not read
    versions = [first.consent_version]
    with pytest.raises(grpc.RpcError) as ended:
        versions += [response.consent_version for response in stream]
    assert ended.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "watch again from consent version" in ended.value.details()
    assert versions[-1] < 40_001  # ended before the reader had the whole feed


def test_a_store_whose_history_changed_under_a_stream_ends_it_out_of_range(served) -> None:
    following, stub = served
    stream = stub.WatchChanges(pb.WatchChangesRequest(from_consent_version=40_001), timeout=30)
    assert list(next(stream).changes) == []  # caught up at once
    following.history_reloads += 1
    with pytest.raises(grpc.RpcError) as ended:
        for _ in stream:
            pass
    assert ended.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert "history changed" in ended.value.details() and "full pass" in ended.value.details()


def test_a_sidecar_without_a_store_history_says_so(tmp_path) -> None:
    service = ConsentCheckService(None, POLICY, lambda: NOW, store="", max_staleness=30.0,
                                  max_batch=10, stopping=threading.Event())
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_ConsentCheckServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel, \
                pytest.raises(grpc.RpcError) as refused:
            next(pb_grpc.ConsentCheckServiceStub(channel).WatchChanges(pb.WatchChangesRequest()))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    finally:
        server.stop(0)
