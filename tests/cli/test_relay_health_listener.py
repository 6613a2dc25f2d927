"""`maytrain relay --health-listen`: the same health as `serve` (a watcher hears a steady
status once, List answers, reflection under v1 and v1alpha), and no address without a port."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from running_sidecar import free_port

from sidecar.cli import main, relay_command

SERVING = health_pb2.HealthCheckResponse.SERVING


@pytest.fixture
def relay_health() -> Iterator[str]:
    """The relay's health listener, for a relay whose rounds keep reaching NATS."""
    address, stop = f"127.0.0.1:{free_port()}", threading.Event()
    relay = SimpleNamespace(last_round=time.monotonic())
    threading.Thread(target=lambda: [setattr(relay, "last_round", time.monotonic())
                                     for _ in iter(lambda: stop.wait(0.1), True)],
                     daemon=True).start()
    server = relay_command._serve_health(
        SimpleNamespace(health_listen=address, heartbeat=1.0), relay, stop)
    yield address
    stop.set()
    server.stop(0).wait()


def listed(address: str) -> dict[str, int]:
    with grpc.insecure_channel(address) as channel:
        response = health_pb2_grpc.HealthStub(channel).List(health_pb2.HealthListRequest(),
                                                            timeout=2)
    return {name: status.status for name, status in response.statuses.items()}


def test_relay_refuses_a_health_address_without_a_port(tmp_path, capsys) -> None:
    code = main(["relay", "--store", f"sqlite:///{tmp_path}/absent.db",
                 "--nats", "nats://127.0.0.1:1", "--health-listen", "localhost"])
    assert code == 1
    assert "cannot listen on 'localhost': give host:port" in capsys.readouterr().err


def test_relay_health_lists_liveness_and_readiness(relay_health) -> None:
    deadline = time.monotonic() + 5
    while listed(relay_health).get("") != SERVING and time.monotonic() < deadline:
        time.sleep(0.1)
    assert listed(relay_health) == {"": SERVING, "liveness": SERVING}


def test_relay_health_watcher_hears_a_steady_status_once(relay_health) -> None:
    test_relay_health_lists_liveness_and_readiness(relay_health)  # readiness is set by now
    heard = []
    with grpc.insecure_channel(relay_health) as channel:
        try:
            for message in health_pb2_grpc.HealthStub(channel).Watch(
                    health_pb2.HealthCheckRequest(service=""), timeout=2):
                heard.append(message.status)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert heard == [SERVING]


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_relay_health_listener_serves_reflection(relay_health, version) -> None:
    with grpc.insecure_channel(relay_health) as channel:
        call = channel.stream_stream(
            f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
        (response,) = call(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                           timeout=5)
    names = {service.name for service in response.list_services_response.service}
    assert "grpc.health.v1.Health" in names and "grpc.reflection.v1.ServerReflection" in names
