"""The floor for gRPC benchmarks: a do-nothing ConsentCheckService on the same stack.

It parses each request like the sidecar does and answers every record with a constant
decision, so the difference to the sidecar is the decision work alone.

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


class NothingService(pb_grpc.ConsentCheckServiceServicer):
    """Answers ALLOW for every record, deciding nothing."""

    def Check(self, request, context):
        return pb.CheckResponse(decision=consent_pb2.Decision(
            record_id=request.record.record_id, verdict=ALLOW, reason=REASON))

    def CheckBatch(self, request, context):
        response = pb.CheckBatchResponse()
        add = response.decisions.add
        for record in request.records:
            add(record_id=record.record_id, verdict=ALLOW, reason=REASON)
        return response


def main() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         options=[("grpc.so_reuseport", 0),
                                  ("grpc.max_receive_message_length", 64 << 20)])
    pb_grpc.add_ConsentCheckServiceServicer_to_server(NothingService(), server)
    server.add_insecure_port(sys.argv[1])
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop(0)


if __name__ == "__main__":
    main()
