"""The running sidecar process, composed: store follower, warm-start file, gRPC transport.

This is the one place that knows every part; each part knows only what it is given. The
transport (`sidecar.server`) sees the follower as an index source, never the store. Under
`serve --workers N` each worker process is one `Sidecar` in a `Team` (`sidecar.workers`):
only worker 0 writes the snapshot file, and readiness is the whole team's.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Protocol

import grpc

from maytrain.v1 import consent_check_service_pb2 as pb

from .clock import DecisionClock
from .core.index import ConsentIndex
from .core.policy import Policy
from .fanout.source import source_for
from .observability import Observability
from .observability.metrics import CacheView
from .observability.team_metrics import team_registry
from .server.service import ConsentCheckService
from .server.tls import tls_files
from .server.transport import GrpcTransport
from .server.watch import Watcher
from .settings import Settings
from .snapshot_seal import read_key
from .snapshot_writer import SnapshotWriter
from .store import ConsentStore, open_store
from .store.urls import opener_for
from .sync import StoreFollower

log = logging.getLogger("maytrain.server")
HEALTH_PERIOD = 0.2  # seconds between readiness updates


class Team(Protocol):
    """The worker processes of one sidecar, as one of them sees them."""

    index: int
    count: int

    def report(self, ready: bool) -> None:
        """Say whether this worker may serve now (called every HEALTH_PERIOD)."""

    def serving(self) -> int:
        """How many of the team's workers serve, as last heard."""

    def metrics_peers(self) -> dict[int, int]:
        """The loopback metrics port of each other worker (worker 0 serves them all)."""


class Alone:
    """The team of a sidecar that runs one process."""

    index, count = 0, 1

    def __init__(self) -> None:
        self._ready = False

    def report(self, ready: bool) -> None:
        self._ready = ready

    def serving(self) -> int:
        return 1 if self._ready else 0

    def metrics_peers(self) -> dict[int, int]:
        return {}


class Sidecar:
    """One sidecar process's parts, started by `start` and stopped by `stop`."""

    def __init__(self, settings: Settings, policy: Policy, team: Team | None = None) -> None:
        self.settings, self.policy = settings.under(policy), policy
        self.team: Team = team or Alone()
        if settings.store:  # following NATS needs no store
            opener_for(settings.store)  # a URL no backend serves is a start-up error
        self.stopping = threading.Event()
        limit = self.settings.staleness_limit
        self.clock = DecisionClock()
        self.source = source_for(self.settings, self.clock, self._open_reader)
        # Every worker warm-starts from the file; only worker 0 writes it.
        key = read_key(settings.snapshot_key_file)
        self.snapshots = SnapshotWriter(settings.snapshot_file, self.source.label,
                                        every=max(0.5, limit / 3), key=key,
                                        read_only=self.team.index != 0)
        self._writer = threading.Thread(target=self.snapshots.run, args=(self.stopping,),
                                        name="maytrain-snapshot", daemon=True)
        initial = self.snapshots.load(now=self.clock())
        if initial is not None and initial.synced_at is not None:
            self.clock.observe(initial.synced_at)  # the file's age never reads as negative
        self.observability = Observability(self.settings, policy.version, CacheView(
            index=lambda: self.follower.index, serving=lambda: self.service.serving(),
            clock=self.clock))
        metrics = self.observability.metrics
        if metrics is not None and self.team.count > 1 and self.team.index == 0:
            metrics.exported = team_registry(metrics.registry, 0, self.team.metrics_peers)
        # A file's chain lets the first sync follow on from it, but only a keyed seal
        # proves the file's rows are what that chain covers (see StoreFollower).
        header = self.snapshots.header if initial is not None else None
        if not self.snapshots.authenticated:
            header = None
        self.follower = StoreFollower(self.observability.opener(self.source.open_reader),
                                      clock=self.clock, initial=initial,
                                      on_index=self._on_index, on_time_seen=self.clock.observe,
                                      initial_chain=header.chain if header else "",
                                      spool_dir=_spool_dir(settings.snapshot_file),
                                      packed_base_key=key)
        self.snapshots.on_written = self.follower.rebase
        self.service = TeamService(
            self.follower, policy, self.clock, store=self.source.label,
            max_staleness=limit, max_batch=settings.max_batch, stopping=self.stopping,
            observer=self.observability.observer,
            watcher=Watcher(self._open_reader, self.follower, self.clock)
            if self.source.has_store else None)
        self.transport = GrpcTransport(self.service, listen=settings.listen,
                                       health_listen=settings.health_listen,
                                       reuse_port=settings.reuse_port,
                                       max_streams=settings.max_streams,
                                       tls=tls_files(settings.tls_cert, settings.tls_key,
                                                     settings.tls_client_ca),
                                       insecure_listen=settings.insecure_listen)
        self.service.team = self.team

    @property
    def ports(self) -> list[int]:
        """The TCP ports bound, in the order of `settings.listen` (0 for unix sockets)."""
        return self.transport.ports

    def start(self) -> None:
        """Sync once, bind every listener, then follow the store in the background."""
        self.observability.start()
        self.follower.refresh()
        self._update_readiness()
        self.transport.start()
        if not self.snapshots.read_only:
            self._writer.start()
        for target, name in ((self._follow, "maytrain-sync"), (self._watch, "maytrain-health")):
            threading.Thread(target=target, name=name, daemon=True).start()
        index = self.follower.index
        worker = f"worker {self.team.index} of {self.team.count}, " if self.team.count > 1 else ""
        log.info("serving on %s (%spolicy %s, consent version %s)",
                 ", ".join(self.settings.listen), worker, self.policy.version,
                 index.version if index else "none yet")

    def stop(self) -> None:
        """Turn readiness off, answer what was received, end streams, stop within grace."""
        log.info("shutting down: answering requests already received")
        self.stopping.set()
        self.transport.stop(self.settings.shutdown_grace)
        self.observability.stop()
        if self._writer.is_alive():
            self.snapshots.wake()
            self._writer.join(timeout=self.settings.shutdown_grace)
        self.follower.close()

    def _open_reader(self) -> ConsentStore:
        return open_store(self.settings.store, create=False, policy=self.policy,
                          password_file=self.settings.store_password_file)

    def _on_index(self, index: ConsentIndex) -> None:
        """After a sync: hand the index to the snapshot writer's thread (it never blocks)."""
        # No gc.freeze() per version any more: the compact index is a few large buffers,
        # not millions of objects for the collector to scan, and freezing every version
        # kept each replaced overlay alive for good.
        if not self.snapshots.read_only:
            self.snapshots.offer(index, self.follower.chain or "", self.follower.snapshot_loads)

    def _follow(self) -> None:
        # A store that pushes its changes is polled rarely; syncing at least four times per
        # max_staleness keeps a quiet store from reading as stale.
        self.follower.follow(self.stopping, self.settings.sync_interval,
                             heartbeat=self.settings.staleness_limit / 4)

    def _watch(self) -> None:
        """Keep readiness in step with the cache's freshness until shutdown."""
        while not self.stopping.wait(HEALTH_PERIOD):
            self._update_readiness()

    def _update_readiness(self) -> None:
        """Tell the team whether this worker may serve; ready only while all of it may."""
        ready = self.service.serving() and not self.transport.guards.saturated()
        self.team.report(ready)
        self.transport.set_ready(ready and self.team.serving() == self.team.count)


class TeamService(ConsentCheckService):
    """The service, with GetStatus also saying how many workers serve and which answered."""

    team: Team = Alone()

    def GetStatus(self, request: pb.GetStatusRequest,
                  context: grpc.ServicerContext) -> pb.GetStatusResponse:
        response = super().GetStatus(request, context)
        response.workers, response.worker = self.team.count, self.team.index
        response.workers_serving = self.team.serving()
        return response


def _spool_dir(snapshot_file: str | None) -> str | None:
    """Where a cold start holds the store's packed base: beside the snapshot file (a
    volume the sidecar writes), else the system's temporary directory."""
    return str(Path(snapshot_file).parent) if snapshot_file else None
