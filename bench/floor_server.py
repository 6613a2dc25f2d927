"""The floor for gRPC benchmarks: a do-nothing ConsentCheckService on the same stack.

gRPC parses each request with the same generated messages as the sidecar's; the floor
then answers every record with a constant decision (a CheckColumns call with a same-sized
answer: a count-bit bitmap and a count-byte reason column), so the difference to the
sidecar is the decision work alone.

    python bench/floor_server.py ADDRESS
"""

from __future__ import annotations

import signal
import sys
import threading
from concurrent import futures

import grpc

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc
from maytrain.v1 import consent_pb2

ALLOW, REASON = consent_pb2.VERDICT_ALLOW, consent_pb2.REASON_ALLOWED_BY_TERMS
VERSIONS = {"consent_version": 1, "policy_version": "sha256:floor"}


class NothingService(pb_grpc.ConsentCheckServiceServicer):
    """Answers ALLOW for every record, deciding nothing."""

    def Check(self, request, context):
        return pb.CheckResponse(decision=consent_pb2.Decision(
            record_id=request.record.record_id, verdict=ALLOW, reason=REASON), **VERSIONS)

    def CheckBatch(self, request, context):
        response = pb.CheckBatchResponse(**VERSIONS)
        _echo(request.records, response.decisions)
        return response

    def CheckStream(self, request_iterator, context):
        for request in request_iterator:
            response = pb.CheckStreamResponse(**VERSIONS)
            _echo(request.records, response.decisions)
            yield response

    def CheckColumns(self, request, context):
        count = request.count
        return pb.CheckColumnsResponse(allowed=b"\xff" * ((count + 7) // 8),
                                       reasons=bytes([REASON]) * count, **VERSIONS)

    def GetStatus(self, request, context):
        return pb.GetStatusResponse(serving=True, **VERSIONS)


def _echo(records, decisions) -> None:
    """One ALLOW per record, echoing its record_id (as the sidecar's answer does)."""
    add = decisions.add
    for record in records:
        wire = add()
        wire.record_id, wire.verdict, wire.reason = record.record_id, ALLOW, REASON


def main() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         options=[("grpc.so_reuseport", 0),
                                  ("grpc.max_receive_message_length", 64 << 20),
                                  ("grpc.max_send_message_length", 64 << 20)])
    pb_grpc.add_ConsentCheckServiceServicer_to_server(NothingService(), server)
    server.add_insecure_port(sys.argv[1])
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop(0)


if __name__ == "__main__":
    main()
