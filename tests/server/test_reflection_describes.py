"""Reflection as grpcurl and buf curl use it: every service listed, under v1 and v1alpha,
can be described (its file, with the files it imports, builds into a fresh pool)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2

from sidecar.server.health import HealthReporter
from sidecar.server.reflection import V1_SERVICE_NAME, add_reflection, v1_file

SERVICE = "maytrain.v1.ConsentCheckService"


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    import maytrain.v1.consent_check_service_pb2  # noqa: F401  (registers the service)

    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(HealthReporter(), server)
    add_reflection(server, (SERVICE, health.SERVICE_NAME))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(0).wait()


def ask(target: str, version: str, *requests: reflection_pb2.ServerReflectionRequest
        ) -> list[reflection_pb2.ServerReflectionResponse]:
    with grpc.insecure_channel(target) as channel:
        call = channel.stream_stream(
            f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
        return list(call(iter(requests), timeout=5))


def describe(target: str, version: str, symbol: str) -> descriptor_pool.DescriptorPool:
    """What a reflection client does with `symbol`: build the files it is sent."""
    (response,) = ask(target, version,
                      reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol))
    assert not response.HasField("error_response"), response.error_response
    files = {file.name: file for file in map(
        descriptor_pb2.FileDescriptorProto.FromString,
        response.file_descriptor_response.file_descriptor_proto)}
    pool, added = descriptor_pool.DescriptorPool(), set()
    while files:  # each file after those it imports, all of which the answer must hold
        ready = [name for name, file in files.items() if set(file.dependency) <= added]
        assert ready, f"files whose imports were not sent: {sorted(files)}"
        for name in ready:
            pool.Add(files.pop(name))
            added.add(name)
    return pool


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_every_listed_service_can_be_described(target, version) -> None:
    (listing,) = ask(target, version, reflection_pb2.ServerReflectionRequest(list_services=""))
    names = [service.name for service in listing.list_services_response.service]
    assert V1_SERVICE_NAME in names and "grpc.reflection.v1alpha.ServerReflection" in names
    for name in names:
        assert describe(target, version, name).FindServiceByName(name).methods


def test_the_v1_service_takes_v1_messages() -> None:
    (method,) = v1_file().service[0].method
    assert (method.input_type, method.output_type) == (
        ".grpc.reflection.v1.ServerReflectionRequest",
        ".grpc.reflection.v1.ServerReflectionResponse")


def test_the_v1_descriptor_matches_v1alpha_on_the_wire(target) -> None:
    pool = describe(target, "v1", V1_SERVICE_NAME)
    v1 = pool.FindMessageTypeByName("grpc.reflection.v1.ServerReflectionResponse")
    alpha = reflection_pb2.ServerReflectionResponse.DESCRIPTOR
    assert [(f.name, f.number, f.type) for f in v1.fields] == [
        (f.name, f.number, f.type) for f in alpha.fields]
