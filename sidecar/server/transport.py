"""The gRPC servers of one sidecar: the main listeners and an optional health-only one.

Readiness (`""` and the service name) is what the caller says it is: NOT_SERVING while the
cache cannot answer. `liveness` stays SERVING while the process works, so a store outage
makes pods unready instead of getting them restarted.
"""

from __future__ import annotations

import logging
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2_grpc

from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc

from .guards import CallGuards
from .health import NOT_SERVING, SERVING, HealthReporter
from .listeners import ListenError, bind, check_address, open_unix_socket, server_options
from .reflection import add_reflection
from .service import SERVICE_NAME, ConsentCheckService
from .tls import ReloadingCredentials, TlsFiles, is_loopback

log = logging.getLogger("maytrain.server")
LIVENESS = "liveness"
READINESS = ("", SERVICE_NAME)
MAIN_WORKERS, HEALTH_WORKERS = 64, 4
RECORD_BYTES = 2048  # a generous record: three 256-character ids, a category, a purpose, ...
MESSAGE_SLACK = 1024 * 1024


def max_message_bytes(max_batch: int) -> int:
    """The largest message a call may send: a full batch of generous records."""
    return max_batch * RECORD_BYTES + MESSAGE_SLACK


class GrpcTransport:
    """Binds, starts and stops the servers; reports readiness through grpc.health.v1."""

    def __init__(self, service: ConsentCheckService, *, listen: tuple[str, ...],
                 health_listen: str | None, reuse_port: bool, max_streams: int,
                 tls: TlsFiles | None = None, insecure_listen: bool = False) -> None:
        self.listen, self.health_listen, self.reuse_port = listen, health_listen, reuse_port
        for address in (*listen, *([health_listen] if health_listen else [])):
            check_address(address)
        _refuse_plaintext_beyond_loopback(listen, tls, insecure_listen)
        self.credentials = ReloadingCredentials(tls).credentials if tls else None
        self.max_message_bytes = max_message_bytes(service.max_batch)
        self.guards = CallGuards(max_streams=max_streams, max_batch=service.max_batch,
                                 threads=MAIN_WORKERS)
        self.health = HealthReporter()
        self.server = self._main_server(service)
        self.health_server = self._health_server() if health_listen else None
        self.ports: list[int] = []

    def start(self) -> None:
        """Bind every listener (a taken address fails here), then start answering."""
        self.ports = [bind(self.server, address, self.credentials) for address in self.listen]
        if self.health_server is not None:
            bind(self.health_server, self.health_listen or "")
            self.health_server.start()
        self.server.start()
        for address in self.listen:
            open_unix_socket(address)

    def set_ready(self, ready: bool) -> None:
        """Readiness as the cache allows (and while a server thread is free); liveness
        SERVING while this process runs."""
        status = SERVING if ready and not self.guards.saturated() else NOT_SERVING
        for service in READINESS:
            self.health.set(service, status)
        self.health.set(LIVENESS, SERVING)

    def stop(self, grace: float) -> None:
        """Not ready from now; answer what was received within `grace` seconds."""
        for service in READINESS:
            self.health.set(service, NOT_SERVING)
        self.server.stop(grace).wait()
        if self.health_server is not None:
            self.health_server.stop(0).wait()

    def _main_server(self, service: ConsentCheckService) -> grpc.Server:
        server = self._new_server(MAIN_WORKERS, (self.guards,))
        pb_grpc.add_ConsentCheckServiceServicer_to_server(service, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        add_reflection(server, (SERVICE_NAME, health.SERVICE_NAME))
        return server

    def _health_server(self) -> grpc.Server:
        server = self._new_server(HEALTH_WORKERS)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        add_reflection(server, (health.SERVICE_NAME,))
        return server

    def _new_server(self, workers: int,
                    interceptors: tuple[grpc.ServerInterceptor, ...] = ()) -> grpc.Server:
        return grpc.server(futures.ThreadPoolExecutor(max_workers=workers),
                           interceptors=list(interceptors),
                           options=server_options(self.max_message_bytes, self.reuse_port))


def _refuse_plaintext_beyond_loopback(listen: tuple[str, ...], tls: TlsFiles | None,
                                      insecure: bool) -> None:
    """Consent answers in plaintext only on loopback and unix sockets, unless told so."""
    exposed = [address for address in listen if not is_loopback(address)]
    if not exposed or tls is not None:
        return
    if not insecure:
        raise ListenError(
            f"refusing to serve plaintext on {', '.join(exposed)}, which other machines can "
            "reach: give --tls-cert and --tls-key (and --tls-client-ca for mutual TLS), "
            "listen on 127.0.0.1 or a unix socket, or pass --insecure-listen")
    log.warning("serving plaintext on %s (--insecure-listen): anyone on that network can "
                "call the sidecar and read its answers", ", ".join(exposed))
