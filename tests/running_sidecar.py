"""Runs the real `maytrain` command: `serve` as a subprocess on a SQLite store with the
sample data, and one-shot commands. Shared by the end-to-end and client tests."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc

SERVICE = "maytrain.v1.ConsentCheckService"


def maytrain_command() -> list[str]:
    """The installed `maytrain` script beside this Python, else `python -m sidecar.cli`."""
    script = Path(sys.executable).parent / "maytrain"
    return [str(script)] if script.exists() else [sys.executable, "-m", "sidecar.cli"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, chosen below the kernel's ephemeral range: a port
    from that range (what binding port 0 gives) can become the source port of any outgoing
    connection on the machine before the server under test binds it."""
    low = _ephemeral_low()
    for _ in range(500):
        port = _PORTS.randrange(max(1024, low - 16_000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # the low range is full: take what the kernel gives
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_PORTS = random.SystemRandom()


def _ephemeral_low() -> int:
    """The first port of the kernel's range for outgoing connections (Linux; else 32768)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def maytrain(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run one `maytrain` command to completion."""
    result = subprocess.run([*maytrain_command(), *args], cwd=cwd, capture_output=True,
                            text=True, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"maytrain {' '.join(args)} failed: {result.stderr}")
    return result


def health_status(target: str, service: str) -> int:
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2).status


SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@dataclass
class RunningSidecar:
    """A `maytrain serve` process and the addresses it listens on."""

    process: subprocess.Popen
    workdir: Path
    store: str
    tcp: str
    uds: str
    health: str
    log: Path
    channels: list = field(default_factory=list)

    def target(self, listener: str) -> str:
        return self.tcp if listener == "tcp" else self.uds

    def stub(self, listener: str = "tcp") -> pb_grpc.ConsentCheckServiceStub:
        channel = grpc.insecure_channel(self.target(listener))
        self.channels.append(channel)
        return pb_grpc.ConsentCheckServiceStub(channel)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return maytrain(*args, "--store", self.store, cwd=self.workdir, check=check)

    def store_version(self) -> int:
        """The store's consent version now. Calls that ask for it (min_consent_version)
        are decided at it, even by a sidecar that syncs rarely and whose store other tests
        write to: two calls of one test then answer at the same version."""
        from sidecar.policy_files import load_policy
        from sidecar.store import open_store

        with open_store(self.store, policy=load_policy()) as store:
            return store.version()

    def wait_health(self, service: str, status: int, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = health_status(self.health, service)
                if last == status:
                    return
            except grpc.RpcError as exc:
                last = exc.code()
            time.sleep(0.1)
        raise AssertionError(f"health of {service!r} stayed {last}; log:\n{self.log.read_text()}")

    def stop(self) -> int:
        for channel in self.channels:
            channel.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


class Launcher:
    """Starts sidecars on one store in `workdir` (created with the sample data)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir, self.started = workdir, []
        self.store = f"sqlite:///{workdir / 'consent.db'}"
        maytrain("store", "init", "--sample", "--store", self.store, cwd=workdir)

    def __call__(self, *extra: str, wait: bool = True, name: str = "s") -> RunningSidecar:
        tcp, health = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        uds = f"unix:{self.workdir / (name + '.sock')}"
        log = self.workdir / f"{name}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [*maytrain_command(), "serve", "--store", self.store, "--listen", tcp,
                 "--listen", uds, "--health-listen", health, "--sync-interval", "0.2", *extra],
                cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        sidecar = RunningSidecar(process, self.workdir, self.store, tcp, uds, health, log)
        self.started.append(sidecar)
        if wait:
            sidecar.wait_health("liveness", SERVING)
        return sidecar

    def stop_all(self) -> None:
        for sidecar in self.started:
            sidecar.stop()
