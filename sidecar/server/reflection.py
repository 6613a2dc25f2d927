"""Server reflection under both names clients look for: grpc.reflection.v1 (which grpcurl
and buf curl try first) and v1alpha. The two protocols are the same messages on the wire,
so one servicer answers both."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2

V1_SERVICE_NAME = "grpc.reflection.v1.ServerReflection"
NAMES = (V1_SERVICE_NAME, reflection.SERVICE_NAME)


def add_reflection(server: grpc.Server, services: Sequence[str]) -> None:
    """Serve reflection for `services` (and reflection itself) under v1 and v1alpha."""
    servicer = reflection.ReflectionServicer((*services, *NAMES))
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString)
    for name in NAMES:
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(name, {"ServerReflectionInfo": handler}),))
