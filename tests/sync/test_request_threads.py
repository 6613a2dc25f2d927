"""Requests never sync: a call that waits for a consent version only wakes the follow loop.

The thread that calls `wait_for_version` (a gRPC server thread, in a sidecar) never reads
the store, writes or fsyncs the snapshot file, or runs the collector; those belong to the
follow loop's and the snapshot writer's threads. The store is real SQLite; the functions
are wrapped only to see which thread calls them.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from running_sidecar import free_port

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc
from maytrain.v1 import consent_pb2
from sidecar import snapshot_writer
from sidecar.core import Effect
from sidecar.policy_files import load_policy
from sidecar.runtime import Sidecar
from sidecar.samples import load_sample
from sidecar.settings import resolve
from sidecar.store import ConsentRequest, open_store
from sidecar.store.sqlite.store import SqliteStore
from sidecar.sync import StoreFollower

POLICY = load_policy()
WATCHED = ("store read", "snapshot write", "header rewrite", "fsync", "gc.freeze", "gc.collect")


class Threads:
    """Which threads did what: each watched function records its caller's thread."""

    def __init__(self) -> None:
        self.seen: dict[str, set[threading.Thread]] = {what: set() for what in WATCHED}
        self.requests: set[threading.Thread] = set()

    def wrap(self, what: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def watched(*args: Any, **kwargs: Any) -> Any:
            self.seen.setdefault(what, set()).add(threading.current_thread())
            return function(*args, **kwargs)
        return watched

    def on_request_threads(self) -> dict[str, set[str]]:
        """What request threads did (empty sets when they did none of it)."""
        return {what: {t.name for t in threads & self.requests}
                for what, threads in self.seen.items()}


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> Threads:
    seen = Threads()
    for target, name, what in (
            (SqliteStore, "_reading", "store read"),
            (snapshot_writer, "write_index", "snapshot write"),
            (snapshot_writer, "refresh_header", "header rewrite"),
            (os, "fsync", "fsync"), (gc, "freeze", "gc.freeze"), (gc, "collect", "gc.collect")):
        monkeypatch.setattr(target, name, seen.wrap(what, getattr(target, name)))
    waiting = StoreFollower.wait_for_version

    def wait_for_version(follower: StoreFollower, version: int, timeout: float) -> Any:
        seen.requests.add(threading.current_thread())
        return waiting(follower, version, timeout)

    monkeypatch.setattr(StoreFollower, "wait_for_version", wait_for_version)
    return seen


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'consent.db'}"
    with open_store(url, create=True, policy=POLICY) as store:
        load_sample(store, actor="test")
    return url


def opt_out(url: str, account: str = "sample-terms") -> int:
    with open_store(url, policy=POLICY) as store:
        request = ConsentRequest(account, "service_generated", "ai", Effect.OPT_OUT)
        return store.record_consent(request, actor="test").version


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


def test_a_waiting_caller_before_the_follow_loop_runs_does_not_sync(store_url, threads) -> None:
    follower = StoreFollower(lambda: open_store(store_url, policy=POLICY))
    got: list[Any] = []
    request = threading.Thread(target=lambda: got.append(follower.wait_for_version(1, 10)),
                               name="request")
    request.start()
    time.sleep(0.3)  # long enough for a request thread that syncs to have read the store
    assert request not in threads.seen["store read"] and request.is_alive()
    stop = threading.Event()
    loop = threading.Thread(target=follower.follow, args=(stop, 30.0), name="follow-loop")
    loop.start()
    try:
        request.join(5)
        assert got and got[0] is not None and got[0].version >= 1
        assert loop in threads.seen["store read"]  # woken at once, not after 30 s
        assert request not in threads.seen["store read"]
    finally:
        stop.set()
        follower.wake()
        loop.join(5)
        follower.close()


def test_without_a_follow_loop_a_wait_ends_at_its_timeout_unsynced(store_url, threads) -> None:
    follower = StoreFollower(lambda: open_store(store_url, policy=POLICY))
    started = time.monotonic()
    assert follower.wait_for_version(1, timeout=0.2) is None
    assert time.monotonic() - started >= 0.2
    assert threading.current_thread() not in threads.seen["store read"]


@pytest.fixture
def sidecar(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            threads: Threads) -> Iterator[tuple[Sidecar, pb_grpc.ConsentCheckServiceStub]]:
    """A started in-process sidecar with a snapshot file that gets a new body per change."""
    monkeypatch.setattr(snapshot_writer, "MIN_CHANGES", 1)
    target = f"127.0.0.1:{free_port()}"
    settings = resolve({"store": store_url, "listen": [target], "shutdown_grace": 1.0,
                        "sync_interval": 10.0, "snapshot_file": str(tmp_path / "index.snap")},
                       env={})
    running = Sidecar(settings, POLICY)
    running.start()
    channel = grpc.insecure_channel(target)
    try:
        yield running, pb_grpc.ConsentCheckServiceStub(channel)
    finally:
        channel.close()
        running.stop()


def _check(stub: pb_grpc.ConsentCheckServiceStub, min_version: int) -> pb.CheckResponse:
    record = consent_pb2.Record(account_id="sample-terms", data_category="service_generated.telemetry",
                                purpose="ai.training")
    record.collected_at.FromJsonString("2025-03-01T00:00:00Z")
    return stub.Check(pb.CheckRequest(record=record, min_consent_version=min_version), timeout=5)


def test_checks_that_wait_for_a_version_leave_store_snapshot_and_gc_to_other_threads(
        sidecar, store_url, threads) -> None:
    running, stub = sidecar
    _until(lambda: threads.seen["snapshot write"])  # the first body, after the first sync
    for account in ("sample-terms", "sample-consented", "sample-opted-out"):
        version = opt_out(store_url, account)
        started = time.monotonic()
        response = _check(stub, version)
        assert response.consent_version >= version
        assert time.monotonic() - started < 5  # the wait woke the loop (its period is 10 s)
        _until(lambda v=version: running.snapshots.header is not None
               and running.snapshots.header.version >= v)
    assert response.decision.reason == consent_pb2.REASON_DENIED_OPTED_OUT
    assert len(threads.requests) >= 1
    assert threads.on_request_threads() == {what: set() for what in threads.seen}
    writer = {t.name for t in threads.seen["snapshot write"]}
    assert writer == {"maytrain-snapshot"}
    assert {t.name for t in threads.seen["store read"]} <= {"maytrain-sync", "MainThread"}
