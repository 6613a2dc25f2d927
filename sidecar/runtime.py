"""The running sidecar process, composed: store follower, warm-start file, gRPC transport.

This is the one place that knows every part; each part knows only what it is given. The
transport (`sidecar.server`) sees the follower as an index source, never the store.
"""

from __future__ import annotations

import logging
import threading

from .clock import DecisionClock
from .core.index import ConsentIndex
from .core.policy import Policy
from .observability import Observability
from .observability.metrics import CacheView
from .server.service import ConsentCheckService
from .server.tls import tls_files
from .server.transport import GrpcTransport
from .settings import Settings
from .snapshot_seal import read_key
from .snapshot_writer import SnapshotWriter
from .store import ConsentStore, open_store
from .store.masking import mask_url
from .store.urls import opener_for
from .sync import StoreFollower

log = logging.getLogger("maytrain.server")
HEALTH_PERIOD = 0.2  # seconds between readiness updates


class Sidecar:
    """One sidecar process's parts, started by `start` and stopped by `stop`."""

    def __init__(self, settings: Settings, policy: Policy) -> None:
        self.settings, self.policy = settings.under(policy), policy
        opener_for(settings.store)  # a URL no backend serves is a start-up error, not an outage
        self.stopping = threading.Event()
        limit = self.settings.staleness_limit
        self.snapshots = SnapshotWriter(settings.snapshot_file, mask_url(settings.store),
                                        every=max(0.5, limit / 3),
                                        key=read_key(settings.snapshot_key_file))
        self._writer = threading.Thread(target=self.snapshots.run, args=(self.stopping,),
                                        name="maytrain-snapshot", daemon=True)
        self.clock = DecisionClock()
        initial = self.snapshots.load(now=self.clock())
        if initial is not None and initial.synced_at is not None:
            self.clock.observe(initial.synced_at)  # the file's age never reads as negative
        self.observability = Observability(self.settings, policy.version, CacheView(
            index=lambda: self.follower.index, serving=lambda: self.service.serving(),
            clock=self.clock))
        # A file's chain lets the first sync follow on from it, but only a keyed seal
        # proves the file's rows are what that chain covers (see StoreFollower).
        header = self.snapshots.header if initial is not None else None
        if not self.snapshots.authenticated:
            header = None
        self.follower = StoreFollower(self.observability.opener(self._open_reader),
                                      clock=self.clock, initial=initial,
                                      on_index=self._on_index, on_time_seen=self.clock.observe,
                                      initial_chain=header.chain if header else "")
        self.snapshots.on_written = self.follower.rebase
        self.service = ConsentCheckService(
            self.follower, policy, self.clock, store=mask_url(settings.store),
            max_staleness=limit, max_batch=settings.max_batch, stopping=self.stopping,
            observer=self.observability.observer)
        self.transport = GrpcTransport(self.service, listen=settings.listen,
                                       health_listen=settings.health_listen,
                                       reuse_port=settings.reuse_port,
                                       max_streams=settings.max_streams,
                                       tls=tls_files(settings.tls_cert, settings.tls_key,
                                                     settings.tls_client_ca),
                                       insecure_listen=settings.insecure_listen)

    @property
    def ports(self) -> list[int]:
        """The TCP ports bound, in the order of `settings.listen` (0 for unix sockets)."""
        return self.transport.ports

    def start(self) -> None:
        """Sync once, bind every listener, then follow the store in the background."""
        self.observability.start()
        self.follower.refresh()
        self.transport.set_ready(self.service.serving())
        self.transport.start()
        self._writer.start()
        for target, name in ((self._follow, "maytrain-sync"), (self._watch, "maytrain-health")):
            threading.Thread(target=target, name=name, daemon=True).start()
        index = self.follower.index
        log.info("serving on %s (policy %s, consent version %s)", ", ".join(self.settings.listen),
                 self.policy.version, index.version if index else "none yet")

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
        self.snapshots.offer(index, self.follower.chain or "", self.follower.snapshot_loads)

    def _follow(self) -> None:
        # A store that pushes its changes is polled rarely; syncing at least four times per
        # max_staleness keeps a quiet store from reading as stale.
        self.follower.follow(self.stopping, self.settings.sync_interval,
                             heartbeat=self.settings.staleness_limit / 4)

    def _watch(self) -> None:
        """Keep readiness in step with the cache's freshness until shutdown."""
        while not self.stopping.wait(HEALTH_PERIOD):
            self.transport.set_ready(self.service.serving())
