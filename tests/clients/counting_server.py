"""A stand-in ConsentCheckService that counts the attempts it receives and fails the first
few with a chosen status (or never answers streams, or answers batches short): a test
double for retries, deadlines and broken answers only. Every record it answers is
allowed, at consent version 7."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent import futures
from pathlib import Path

import grpc

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc
from maytrain.v1 import consent_pb2

VERSION = 7


class CountingServer(pb_grpc.ConsentCheckServiceServicer):
    """Fails the first `fail_first` calls of each method with `code`; counts every call."""

    def __init__(self, workdir: Path, *, fail_first: int = 0,
                 code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE,
                 stall_streams: bool = False, drop_decisions: bool = False) -> None:
        self.fail_first, self.code, self.stall_streams = fail_first, code, stall_streams
        self.drop_decisions = drop_decisions
        self.calls: Counter[str] = Counter()
        self._lock, self._stopping = threading.Lock(), threading.Event()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        pb_grpc.add_ConsentCheckServiceServicer_to_server(self, self._server)
        self.tcp = f"127.0.0.1:{self._server.add_insecure_port('127.0.0.1:0')}"
        self.uds = f"unix:{workdir / 'counting.sock'}"
        self._server.add_insecure_port(self.uds)
        self._server.start()

    def target(self, listener: str) -> str:
        return self.tcp if listener == "tcp" else self.uds

    def stop(self) -> None:
        self._stopping.set()
        self._server.stop(0).wait()

    def Check(self, request, context):
        self._count("Check", context)
        return pb.CheckResponse(decision=_allowed(request.record), consent_version=VERSION,
                                policy_version="test")

    def CheckBatch(self, request, context):
        self._count("CheckBatch", context)
        records = request.records[1:] if self.drop_decisions else request.records
        return pb.CheckBatchResponse(decisions=[_allowed(r) for r in records],
                                     consent_version=VERSION, policy_version="test")

    def CheckStream(self, request_iterator, context):
        self._count("CheckStream", context)
        for request in request_iterator:
            if self.stall_streams:
                self._stopping.wait(30)  # never answers in time: the client must give up
            yield pb.CheckStreamResponse(decisions=[_allowed(r) for r in request.records],
                                         consent_version=VERSION, policy_version="test")

    def _count(self, method: str, context: grpc.ServicerContext) -> None:
        with self._lock:
            self.calls[method] += 1
            attempt = self.calls[method]
        if attempt <= self.fail_first:
            context.abort(self.code, f"attempt {attempt} of {method} fails on purpose")


def _allowed(record: consent_pb2.Record) -> consent_pb2.Decision:
    return consent_pb2.Decision(record_id=record.record_id, verdict=consent_pb2.VERDICT_ALLOW,
                                reason=consent_pb2.REASON_ALLOWED_BY_TERMS)
