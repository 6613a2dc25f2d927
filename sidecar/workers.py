"""`maytrain serve --workers N`: N serving processes on the same TCP listeners, supervised.

grpcio cannot fork once gRPC runs, so each worker is a fresh interpreter
(`sidecar.worker_process`) that follows the store itself and binds the listeners with
SO_REUSEPORT, so that the kernel spreads connections over them. The supervisor first makes
sure no other process holds a port, hands each worker its settings, hears each one say
whether it may serve, and tells them all how many do: health on any worker answers for the
whole sidecar. A worker that dies stops the rest and the sidecar exits 1 (fail closed; the
pod restarts). A unix socket cannot be shared by processes: with one, one worker serves.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from .cpus import usable_cores
from .observability.receipts.spool import worker_spool
from .server.listeners import ListenError, check_address, claim_shared_port, release, unix_path
from .settings import Settings
from .worker_process import orders

log = logging.getLogger("maytrain.workers")
PERIOD = 0.2  # seconds between looks at the workers
SILENT_AFTER = 1.0  # a worker not heard from for this long is not serving (it hangs)
RETELL_EVERY = 1.0  # seconds between repeats of the serving count (a full pipe drops one)
EXIT_GRACE = 5.0  # seconds past --shutdown-grace before a worker is killed
FILE_WAIT = 30.0  # seconds after worker 0 serves that the others wait for its snapshot file


def worker_count(settings: Settings, cores: Callable[[], int] = usable_cores) -> int:
    """How many workers serve: --workers, else the cores the cgroup allows; one with a unix
    socket listener unless --workers says more, which is refused."""
    sockets = [a for a in (*settings.listen, settings.health_listen or "") if unix_path(a)]
    if settings.workers is None:
        if sockets and cores() > 1:
            log.info("serving with 1 worker: processes cannot share the unix socket %s "
                     "(listen on TCP only to serve with a worker per core)", sockets[0])
        return 1 if sockets else cores()
    if settings.workers > 1 and sockets:
        raise ListenError(f"--workers {settings.workers} cannot serve {sockets[0]}: processes "
                          "cannot share a unix socket; listen on TCP (such as 127.0.0.1:50051) "
                          "with several workers, or give --workers 1")
    return settings.workers


def worker_settings(settings: Settings, index: int, count: int) -> Settings:
    """What worker `index` of `count` runs: shared ports, its own receipt spool (a share of
    the cap), and the metrics endpoint for worker 0; the others serve theirs on loopback,
    for worker 0 to read (`observability.team_metrics`)."""
    receipts = str(worker_spool(settings.receipts, index)) if settings.receipts else None
    metrics = settings.metrics_listen if index == 0 or not settings.metrics_listen \
        else "127.0.0.1:0"
    return replace(settings, reuse_port=True, workers=count, receipts=receipts,
                   receipts_max_bytes=max(1, settings.receipts_max_bytes // count),
                   metrics_listen=metrics)


@dataclass
class _Worker:
    index: int
    process: subprocess.Popen[bytes]
    commands: int  # our end of the pipe it reads
    reports: int   # our end of the pipe it writes
    pending: bytes = b""
    bound: bool = False
    ready: bool = False
    metrics_port: int | None = None
    bound_at: float = 0.0  # when it said it was bound
    heard: float = 0.0

    def serving(self, now: float) -> bool:
        return self.bound and self.ready and now - self.heard < SILENT_AFTER


class Supervisor:
    """Starts `count` workers, keeps them told how many serve, stops them all."""

    def __init__(self, settings: Settings, count: int) -> None:
        self.settings, self.count = settings, count
        for address in (*settings.listen, *([settings.health_listen] if settings.health_listen
                                            else [])):
            check_address(address)
        self.workers: list[_Worker] = []
        self._serving, self._told = -1, 0.0

    def run(self, stop: threading.Event) -> int:
        """Serve until `stop` (then drain every worker and return 0) or until a worker
        dies (then stop the others and return its failure)."""
        shared, held = self._claim_ports()
        try:
            self._start_workers(shared, 1 if self._file_to_come() else self.count)
            failure = self._watch(stop, shared, held)
        finally:
            release(held)
        return self._stop_all(failure)

    def _file_to_come(self) -> bool:
        """True when worker 0 is to write the keyed snapshot file the others start from.

        Each worker would otherwise pack a cold start's index of its own and keep it: a
        keyed file is mapped by all of them (its pages shared) and followed on from."""
        path, keyed = self.settings.snapshot_file, self.settings.snapshot_key_file
        if not path or not keyed or Path(path).exists():
            return False
        log.info("starting worker 0 first: the other workers start from the snapshot file "
                 "it writes after its first sync")
        return True

    def _start_workers(self, shared: Settings, upto: int) -> None:
        for index in range(len(self.workers), upto):
            self.workers.append(self._start(index, shared))
        if upto == self.count:
            log.info("started %d workers (pids %s)", self.count,
                     ", ".join(str(w.process.pid) for w in self.workers))

    def _others_due(self) -> bool:
        """True once the file the other workers wait for is there, or is not coming."""
        first = self.workers[0]
        if self.settings.snapshot_file and Path(self.settings.snapshot_file).exists():
            return True
        if first.bound and time.monotonic() - first.bound_at > FILE_WAIT:
            log.warning("worker 0 wrote no snapshot file within %.0f s of serving; starting "
                        "the other workers without one", FILE_WAIT)
            return True
        return False

    def _claim_ports(self) -> tuple[Settings, list]:
        """The settings with each TCP port made concrete and held, checked free unless
        --reuse-port allows other processes on it too."""
        held: list = []

        def claim(address: str) -> str:
            if unix_path(address):
                return address
            if self.settings.reuse_port:
                return address
            concrete, sock = claim_shared_port(address)
            held.append(sock)
            return concrete

        try:
            listen = tuple(claim(a) for a in self.settings.listen)
            health = claim(self.settings.health_listen) if self.settings.health_listen else None
        except ListenError:
            release(held)
            raise
        return replace(self.settings, listen=listen, health_listen=health), held

    def _start(self, index: int, shared: Settings) -> _Worker:
        their_in, commands = os.pipe()
        reports, their_out = os.pipe()
        process = subprocess.Popen(
            [sys.executable, "-m", "sidecar.worker_process", str(their_in), str(their_out)],
            pass_fds=(their_in, their_out))
        os.close(their_in)
        os.close(their_out)
        os.write(commands, orders(worker_settings(shared, index, self.count), index, self.count))
        os.set_blocking(reports, False)
        os.set_blocking(commands, False)  # a stopped worker must not block the supervisor
        return _Worker(index, process, commands, reports, heard=time.monotonic())

    def _watch(self, stop: threading.Event, shared: Settings, held: list) -> int | None:
        """Relay readiness until `stop` (None) or a worker's death (the exit code)."""
        with selectors.DefaultSelector() as selector:
            for worker in self.workers:
                selector.register(worker.reports, selectors.EVENT_READ, worker)
            while not stop.is_set():
                if len(self.workers) < self.count and self._others_due():
                    started = len(self.workers)
                    self._start_workers(shared, self.count)
                    for worker in self.workers[started:]:
                        selector.register(worker.reports, selectors.EVENT_READ, worker)
                for key, _ in selector.select(PERIOD):
                    if not self._read(key.data):
                        selector.unregister(key.fd)
                dead = next((w for w in self.workers if w.process.poll() is not None), None)
                if dead is not None and not stop.is_set():  # Ctrl-C reaches the workers too
                    return self._died(dead)
                if held and len(self.workers) == self.count and all(w.bound for w in self.workers):
                    release(held)
                    log.info("all %d workers listen on %s", self.count,
                             ", ".join(self.settings.listen))
                self._tell_serving()
        return None

    def _read(self, worker: _Worker) -> bool:
        """Take what a worker wrote; False at the end of its pipe."""
        try:
            data = os.read(worker.reports, 1 << 16)
        except BlockingIOError:
            return True
        if not data:
            return False
        *lines, worker.pending = (worker.pending + data).split(b"\n")
        for line in lines:
            message = json.loads(line)
            worker.heard = time.monotonic()
            if "bound" in message:
                worker.bound, worker.metrics_port = True, message.get("metrics")
                worker.bound_at = worker.heard
            worker.ready = bool(message.get("ready", worker.ready))
        return True

    def _tell_serving(self) -> None:
        """Tell every worker how many serve, when that changed."""
        now = time.monotonic()
        serving = sum(worker.serving(now) for worker in self.workers)
        if serving == self._serving and now - self._told < RETELL_EVERY:
            return
        if serving != self._serving and self.count in (serving, self._serving):
            log.info("%d of %d workers serving", serving, self.count)
        self._serving, self._told = serving, now
        peers = {w.index: w.metrics_port for w in self.workers if w.metrics_port and w.index}
        message = json.dumps({"serving": serving, "metrics_peers": peers}).encode() + b"\n"
        for worker in self.workers:
            # A full pipe (the worker is stopped) or a dead worker: it is told again later.
            with contextlib.suppress(OSError):
                os.write(worker.commands, message)

    def _died(self, dead: _Worker) -> int:
        code = dead.process.returncode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        log.error("worker %d (pid %d) %s; stopping the sidecar: it does not serve with fewer "
                  "workers than it was started with (fail closed)", dead.index,
                  dead.process.pid, how)
        return code if code > 0 else 1

    def _stop_all(self, failure: int | None) -> int:
        """SIGTERM every worker (each drains within --shutdown-grace), kill stragglers."""
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.shutdown_grace + EXIT_GRACE
        codes = [self._reap(worker, deadline) for worker in self.workers]
        for worker in self.workers:
            for fd in (worker.commands, worker.reports):
                os.close(fd)
        if failure is not None:
            return failure
        return 0 if all(code == 0 for code in codes) else 1

    def _reap(self, worker: _Worker, deadline: float) -> int:
        try:
            return worker.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("worker %d (pid %d) did not stop within the grace; killing it",
                      worker.index, worker.process.pid)
            worker.process.kill()
            return worker.process.wait()
