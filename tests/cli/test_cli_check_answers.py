"""`maytrain check` reads an answer strictly: exit 0 only for ALLOW with an allowing reason.

The sidecar here is a stand-in that sends a chosen answer, because no real sidecar sends
these: the point is what the command does with an answer it must not trust.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent import futures

import grpc
import pytest

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc
from maytrain.v1 import consent_pb2


class AnsweringService(pb_grpc.ConsentCheckServiceServicer):
    """Answers every Check with the decision it was given."""

    def __init__(self) -> None:
        self.decision = consent_pb2.Decision()

    def Check(self, request: pb.CheckRequest, context: grpc.ServicerContext) -> pb.CheckResponse:
        return pb.CheckResponse(decision=self.decision, consent_version=3, policy_version="p")


@pytest.fixture(scope="module")
def answering() -> Iterator[tuple[AnsweringService, str]]:
    service = AnsweringService()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_ConsentCheckServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield service, f"127.0.0.1:{port}"
    server.stop(0)


def check(maytrain: Callable, target: str):
    return maytrain("check", "--target", target, "--account", "a", "--category",
                    "service_generated.usage", "--purpose", "ai.training")


@pytest.mark.parametrize("verdict, reason, code", [
    (consent_pb2.VERDICT_ALLOW, consent_pb2.REASON_ALLOWED_BY_TERMS, 0),
    (consent_pb2.VERDICT_ALLOW, consent_pb2.REASON_ALLOWED_BY_CONSENT, 0),
    (consent_pb2.VERDICT_DENY, consent_pb2.REASON_DENIED_OPTED_OUT, 1),
    (consent_pb2.VERDICT_ALLOW, consent_pb2.REASON_DENIED_OPTED_OUT, 2),
    (consent_pb2.VERDICT_DENY, consent_pb2.REASON_ALLOWED_BY_TERMS, 2),
    (consent_pb2.VERDICT_UNSPECIFIED, consent_pb2.REASON_ALLOWED_BY_TERMS, 2),
    (consent_pb2.VERDICT_ALLOW, consent_pb2.REASON_UNSPECIFIED, 2),
    (7, consent_pb2.REASON_ALLOWED_BY_TERMS, 2),
    (consent_pb2.VERDICT_ALLOW, 99, 2),
])
def test_only_a_coherent_allow_exits_zero(answering, maytrain, verdict, reason, code) -> None:
    service, target = answering
    service.decision = consent_pb2.Decision(verdict=verdict, reason=reason)
    result = check(maytrain, target)
    assert result.code == code, result.err
    if code == 2:
        assert "Traceback" not in result.err
        assert "treat the record as denied" in result.err
