"""Health as the protocol says (a watcher hears each change once; List answers) and
reflection under v1 and v1alpha, on the main listener and the health-only one."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from running_sidecar import SERVICE, SERVING

V1 = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
V1ALPHA = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


def test_a_watcher_hears_a_steady_status_once(shared) -> None:
    with grpc.insecure_channel(shared.health) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=SERVICE), timeout=2)
        heard = []
        try:
            for message in watch:
                heard.append(message.status)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert heard == [SERVING]


def test_list_names_every_service_with_its_status(shared) -> None:
    with grpc.insecure_channel(shared.health) as channel:
        listed = health_pb2_grpc.HealthStub(channel).List(health_pb2.HealthListRequest(),
                                                          timeout=2)
    statuses = {name: status.status for name, status in listed.statuses.items()}
    assert statuses == {"": SERVING, SERVICE: SERVING, "liveness": SERVING}
    assert "Traceback" not in shared.log.read_text()


@pytest.mark.parametrize("method", [V1, V1ALPHA], ids=["v1", "v1alpha"])
@pytest.mark.parametrize("listener", ["tcp", "health"])
def test_reflection_lists_the_services(shared, method, listener) -> None:
    target = shared.tcp if listener == "tcp" else shared.health
    with grpc.insecure_channel(target) as channel:
        call = channel.stream_stream(
            method, request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        response = next(iter(call(iter([request]), timeout=5)))
    names = {service.name for service in response.list_services_response.service}
    assert "grpc.health.v1.Health" in names and "grpc.reflection.v1.ServerReflection" in names
    assert (SERVICE in names) == (listener == "tcp")
