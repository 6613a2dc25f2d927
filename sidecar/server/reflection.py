"""Server reflection under both names clients look for: grpc.reflection.v1 (which grpcurl
and buf curl try first) and v1alpha. The two protocols are the same messages on the wire,
so one servicer answers both."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Sequence

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2

V1_SERVICE_NAME = "grpc.reflection.v1.ServerReflection"
V1_FILE = "grpc/reflection/v1/reflection.proto"
NAMES = (V1_SERVICE_NAME, reflection.SERVICE_NAME)


def add_reflection(server: grpc.Server, services: Sequence[str]) -> None:
    """Serve reflection for `services` (and reflection itself) under v1 and v1alpha."""
    register_v1_descriptor()
    servicer = reflection.ReflectionServicer((*services, *NAMES))
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString)
    for name in NAMES:
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(name, {"ServerReflectionInfo": handler}),))


def register_v1_descriptor() -> None:
    """Put grpc/reflection/v1/reflection.proto into the default pool, so that reflection
    can describe the v1 service it lists (`grpcurl describe` asks for every one).

    grpcio-reflection ships only the v1alpha file; v1 declares the same messages in the
    package grpc.reflection.v1, so its descriptor is the v1alpha one renamed."""
    pool = descriptor_pool.Default()
    with contextlib.suppress(ImportError):  # a grpcio-reflection that ships v1 registers it
        importlib.import_module("grpc_reflection.v1.reflection_pb2")
    with contextlib.suppress(KeyError):
        pool.FindFileByName(V1_FILE)
        return
    pool.AddSerializedFile(v1_file().SerializeToString())


def v1_file() -> descriptor_pb2.FileDescriptorProto:
    """The v1alpha reflection file, renamed into grpc.reflection.v1 (with v1's options)."""
    file = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(file)
    old, new = f".{file.package}.", ".grpc.reflection.v1."
    file.name, file.package = V1_FILE, "grpc.reflection.v1"
    file.options.Clear()
    file.options.go_package = "google.golang.org/grpc/reflection/grpc_reflection_v1"
    file.options.java_multiple_files = True
    file.options.java_package = "io.grpc.reflection.v1"
    file.options.java_outer_classname = "ServerReflectionProto"
    for message in file.message_type:
        _rename_types(message, old, new)
    for service in file.service:
        for method in service.method:
            method.input_type = method.input_type.replace(old, new, 1)
            method.output_type = method.output_type.replace(old, new, 1)
    return file


def _rename_types(message: descriptor_pb2.DescriptorProto, old: str, new: str) -> None:
    for field in message.field:
        if field.type_name.startswith(old):
            field.type_name = new + field.type_name[len(old):]
    for nested in message.nested_type:
        _rename_types(nested, old, new)
