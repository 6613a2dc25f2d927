"""The running sidecar: follower, gRPC servers, health, warm-start snapshots, shutdown.

Readiness (`""` and the service name) follows the cache: NOT_SERVING while it cannot
answer. `liveness` stays SERVING while the process works, so a store outage makes pods
unready instead of getting them restarted.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc

from ..clock import wall_clock
from ..core.policy import Policy
from ..settings import ServeSettings, mask_url
from ..snapshot_file import read_snapshot, write_snapshot
from ..store import open_store
from ..store.urls import opener_for
from ..sync import StoreFollower
from .listeners import bind, open_unix_socket, server_options
from .service import SERVICE_NAME, ConsentCheckService

log = logging.getLogger("maytrain.server")
LIVENESS = "liveness"
READINESS = ("", SERVICE_NAME)
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class Sidecar:
    """One sidecar process's parts, started by `start` and stopped by `stop`."""

    def __init__(self, settings: ServeSettings, policy: Policy) -> None:
        self.settings, self.policy = settings, policy
        opener_for(settings.store)  # a URL no backend serves is a start-up error, not an outage
        self.stopping = threading.Event()
        self._frozen_version = -1
        self._snapshots = _SnapshotWriter(settings, policy)
        self.follower = StoreFollower(
            lambda: open_store(settings.store, create=False, policy=policy),
            initial=self._snapshots.load(), on_index=self._on_index)
        self.service = ConsentCheckService(
            self.follower, policy, wall_clock, store_url=settings.store,
            max_staleness=settings.max_staleness, max_batch=settings.max_batch,
            stopping=self.stopping)
        self.health = health.HealthServicer(experimental_non_blocking=True)
        self.server = self._main_server()
        self.health_server = self._health_server()
        self.ports: list[int] = []

    def start(self) -> None:
        """Sync once, bind every listener, then follow the store in the background."""
        self.follower.refresh()
        self._update_health()
        self.ports = [bind(self.server, address) for address in self.settings.listen]
        if self.health_server is not None:
            bind(self.health_server, self.settings.health_listen or "")
            self.health_server.start()
        self.server.start()
        for address in self.settings.listen:
            open_unix_socket(address)
        for target, name in ((self._follow, "maytrain-sync"), (self._watch, "maytrain-health")):
            threading.Thread(target=target, name=name, daemon=True).start()
        log.info("serving on %s (policy %s, consent version %s)",
                 ", ".join(self.settings.listen), self.policy.version,
                 self.follower.index.version if self.follower.index else "none yet")

    def stop(self) -> None:
        """Turn readiness off, answer what was received, end streams, stop within grace."""
        log.info("shutting down: answering requests already received")
        for service in READINESS:
            self.health.set(service, _NOT_SERVING)
        self.stopping.set()
        self.server.stop(self.settings.shutdown_grace).wait()
        if self.health_server is not None:
            self.health_server.stop(0).wait()
        self.follower.close()

    def _main_server(self) -> grpc.Server:
        server = self._new_server()
        pb_grpc.add_ConsentCheckServiceServicer_to_server(self.service, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
        return server

    def _health_server(self) -> grpc.Server | None:
        if not self.settings.health_listen:
            return None
        server = self._new_server(workers=4)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        return server

    def _new_server(self, workers: int = 64) -> grpc.Server:
        return grpc.server(futures.ThreadPoolExecutor(max_workers=workers),
                           options=server_options(MAX_MESSAGE_BYTES, self.settings.reuse_port))

    def _on_index(self, index) -> None:
        """After a sync: keep the long-lived index out of the GC's scans, save a snapshot."""
        if index.version != self._frozen_version:
            gc.freeze()
            self._frozen_version = index.version
        self._snapshots.maybe_write(index)

    def _follow(self) -> None:
        # A store that pushes its changes is polled rarely; syncing at least four times per
        # max_staleness keeps a quiet store from reading as stale.
        limit = self.settings.max_staleness or self.policy.max_staleness_seconds
        self.follower.follow(self.stopping, self.settings.sync_interval, heartbeat=limit / 4)

    def _watch(self) -> None:
        """Keep health in step with the cache's freshness until shutdown."""
        while not self.stopping.wait(0.2):
            self._update_health()

    def _update_health(self) -> None:
        status = _SERVING if self.service.serving() else _NOT_SERVING
        for service in READINESS:
            self.health.set(service, status)
        self.health.set(LIVENESS, _SERVING)


class _SnapshotWriter:
    """Warm-start file handling: load at start, rewrite after syncs (throttled)."""

    def __init__(self, settings: ServeSettings, policy: Policy) -> None:
        self.path = Path(settings.snapshot_file) if settings.snapshot_file else None
        self.store_id = mask_url(settings.store)
        limit = settings.max_staleness or policy.max_staleness_seconds
        self.every = max(0.5, limit / 3)
        self._written_version, self._written_at = -1, 0.0

    def load(self):
        """The saved index for this store, if there is a usable one."""
        if self.path is None:
            return None
        index = read_snapshot(self.path, self.store_id)
        if index is not None:
            log.info("loaded snapshot %s at consent version %d", self.path, index.version)
        return index

    def maybe_write(self, index) -> None:
        """Write after a sync that changed the version, or when the file grows old."""
        if self.path is None:
            return
        now = time.monotonic()
        if index.version == self._written_version and now - self._written_at < self.every:
            return
        try:
            write_snapshot(self.path, index, self.store_id)
            self._written_version, self._written_at = index.version, now
        except OSError as exc:
            log.warning("could not write snapshot %s: %s", self.path, exc)
