"""`maytrain serve --workers N`: several processes on one TCP port, one sidecar's health.

Real processes on a SQLite store with the sample data; one two-worker sidecar is shared by
the tests that leave it as they found it, the others start their own.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from running_sidecar import NOT_SERVING, SERVING, free_port, maytrain, maytrain_command

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_check_service_pb2_grpc as pb_grpc
from maytrain.v1 import consent_pb2
from sidecar.observability.receipts import read_receipts
from sidecar.server.listeners import ListenError
from sidecar.settings import Settings, resolve
from sidecar.workers import worker_count, worker_settings

COLLECTED = Timestamp(seconds=1_740_787_200)  # 2025-03-01, after the terms took effect
RECORD = consent_pb2.Record(account_id="sample-terms", data_category="service_generated.telemetry",
                            purpose="ai.training", collected_at=COLLECTED)


@dataclass
class Workers:
    """A `maytrain serve --workers N` process, its addresses and its log."""

    process: subprocess.Popen
    workdir: Path
    store: str
    tcp: str
    health: str
    log: Path

    def pids(self, timeout: float = 15) -> list[int]:
        """The workers' pids, from the supervisor's log line."""
        found = self.wait_log(r"started \d+ workers \(pids ([\d, ]+)\)", timeout)
        return [int(pid) for pid in found[1].split(", ")]

    def wait_log(self, pattern: str, timeout: float = 15) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.log.read_text())
            if match:
                return match
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} in the log:\n{self.log.read_text()}")

    def wait_serving(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if health_answer(self.health) == SERVING:
                return
            assert self.process.poll() is None, self.log.read_text()
            time.sleep(0.05)
        raise AssertionError(f"never SERVING:\n{self.log.read_text()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def start_workers(workdir: Path, *extra: str, count: int = 2) -> Workers:
    workdir.mkdir(exist_ok=True)
    store = f"sqlite:///{workdir / 'consent.db'}"
    if not (workdir / "consent.db").exists():
        maytrain("store", "init", "--sample", "--store", store, cwd=workdir)
    tcp, health = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    log = workdir / f"serve-{len(list(workdir.glob('serve-*.log')))}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*maytrain_command(), "serve", "--store", store, "--listen", tcp, "--health-listen",
             health, "--sync-interval", "0.2", "--workers", str(count), *extra],
            cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return Workers(process, workdir, store, tcp, health, log)


def health_answer(target: str, timeout: float = 1.0) -> object:
    """The readiness one new connection gets (a status, or the gRPC error code)."""
    with grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            return stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout).status
        except grpc.RpcError as exc:
            return exc.code()


def channels_to_each_worker(target: str, count: int) -> dict[int, grpc.Channel]:
    """A channel (its own connection) to each worker, found by asking GetStatus."""
    found: dict[int, grpc.Channel] = {}
    for _ in range(200):
        channel = grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
        status = pb_grpc.ConsentCheckServiceStub(channel).GetStatus(pb.GetStatusRequest(),
                                                                    timeout=5)
        if status.worker in found:
            channel.close()
        else:
            found[status.worker] = channel
        if len(found) == count:
            return found
    raise AssertionError(f"reached only workers {sorted(found)} of {count}")


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory) -> Iterator[Workers]:
    """Two workers with a snapshot file, receipts and metrics."""
    workdir = tmp_path_factory.mktemp("workers")
    metrics = f"127.0.0.1:{free_port()}"
    running = start_workers(workdir, "--snapshot-file", str(workdir / "snap"),
                            "--receipts", str(workdir / "receipts"), "--metrics-listen", metrics)
    running.metrics = metrics  # type: ignore[attr-defined]
    running.wait_serving()
    yield running
    assert running.stop() == 0, running.log.read_text()


def test_two_workers_answer_checks_on_one_port(sidecar) -> None:
    channels = channels_to_each_worker(sidecar.tcp, 2)
    for index, channel in channels.items():
        stub = pb_grpc.ConsentCheckServiceStub(channel)
        status = stub.GetStatus(pb.GetStatusRequest(), timeout=5)
        assert (status.worker, status.workers, status.workers_serving) == (index, 2, 2)
        answer = stub.Check(pb.CheckRequest(record=RECORD), timeout=5)
        assert answer.decision.reason == consent_pb2.REASON_ALLOWED_BY_TERMS
        channel.close()
    assert len(set(sidecar.pids())) == 2


def test_a_revocation_reaches_every_worker(sidecar) -> None:
    channels = channels_to_each_worker(sidecar.tcp, 2)
    stubs = {i: pb_grpc.ConsentCheckServiceStub(c) for i, c in channels.items()}
    record = consent_pb2.Record(account_id="sample-terms", data_category="service_generated.usage",
                                purpose="ai.evaluation", collected_at=COLLECTED)
    assert all(s.Check(pb.CheckRequest(record=record), timeout=5).decision.verdict
               == consent_pb2.VERDICT_ALLOW for s in stubs.values())
    maytrain("consent", "opt-out", "--account", "sample-terms", "--category",
             "service_generated.usage", "--purpose", "ai.evaluation", "--store", sidecar.store,
             cwd=sidecar.workdir)
    written, denied = time.monotonic(), {}
    while len(denied) < 2 and time.monotonic() - written < 5:
        for index, stub in stubs.items():
            answer = stub.Check(pb.CheckRequest(record=record), timeout=5)
            if index not in denied and answer.decision.reason == consent_pb2.REASON_DENIED_OPTED_OUT:
                denied[index] = time.monotonic() - written
        time.sleep(0.02)
    for channel in channels.values():
        channel.close()
    assert sorted(denied) == [0, 1] and max(denied.values()) < 2.0, denied


def test_health_is_not_serving_while_one_worker_is_not(sidecar) -> None:
    stopped = sidecar.pids()[1]
    os.kill(stopped, signal.SIGSTOP)  # heard from no more: that worker cannot serve
    try:
        deadline, answers = time.monotonic() + 10, []
        while NOT_SERVING not in answers and time.monotonic() < deadline:
            answers.append(health_answer(sidecar.health, timeout=0.5))
        assert NOT_SERVING in answers
        # Connections that reach the stopped worker time out; no worker says SERVING.
        later = [health_answer(sidecar.health, timeout=0.5) for _ in range(3)]
        assert SERVING not in later, later
    finally:
        os.kill(stopped, signal.SIGCONT)
    sidecar.wait_serving(timeout=10)


def test_only_worker_0_writes_the_snapshot_file(sidecar) -> None:
    sidecar.wait_log(r"\[worker 0\]: wrote snapshot")
    assert (sidecar.workdir / "snap").exists()
    assert not re.search(r"\[worker 1\]: wrote snapshot", sidecar.log.read_text())


def test_each_worker_spools_its_own_receipts_and_the_reader_takes_them_all(sidecar) -> None:
    for channel in channels_to_each_worker(sidecar.tcp, 2).values():
        pb_grpc.ConsentCheckServiceStub(channel).Check(pb.CheckRequest(record=RECORD), timeout=5)
        channel.close()
    spool = sidecar.workdir / "receipts"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not all(
            list((spool / f"worker-{i}").glob("receipts-*.jsonl")) for i in (0, 1)):
        time.sleep(0.05)
    assert sorted(p.name for p in spool.iterdir()) == ["worker-0", "worker-1"]
    assert len(list(read_receipts(spool))) >= 2


def test_the_metrics_endpoint_answers_with_every_workers_series(sidecar) -> None:
    with urllib.request.urlopen(f"http://{sidecar.metrics}/metrics", timeout=5) as page:
        text = page.read().decode()
    assert 'maytrain_serving{worker="0"} 1.0' in text
    assert 'maytrain_serving{worker="1"} 1.0' in text
    assert text.count("# TYPE maytrain_decisions_total counter") == 1


def test_a_second_sidecar_on_the_port_is_refused(sidecar) -> None:
    second = maytrain("serve", "--store", sidecar.store, "--listen", sidecar.tcp, "--workers",
                      "2", cwd=sidecar.workdir, check=False)
    assert second.returncode == 1
    assert f"cannot listen on {sidecar.tcp}: address in use" in second.stderr


def test_a_killed_worker_stops_the_sidecar_with_a_failure(tmp_path) -> None:
    running = start_workers(tmp_path)
    running.wait_serving()
    pids = running.pids()
    os.kill(pids[1], signal.SIGKILL)
    assert running.process.wait(timeout=20) == 1
    assert f"worker 1 (pid {pids[1]}) was killed by signal 9" in running.log.read_text()
    with pytest.raises(ProcessLookupError):
        os.kill(pids[0], 0)  # drained and gone, not left serving the port


def test_the_others_start_from_the_keyed_file_worker_0_writes(tmp_path) -> None:
    tmp_path.joinpath("key").write_bytes(os.urandom(32))
    running = start_workers(tmp_path, "--snapshot-file", str(tmp_path / "snap"),
                            "--snapshot-key-file", str(tmp_path / "key"))
    running.wait_serving()
    log = running.log.read_text()
    assert log.index("[worker 0]: wrote snapshot") < log.index("[worker 1]: loaded snapshot")
    assert "[worker 1]: loaded a" not in log  # no cold start of its own from the store
    assert running.stop() == 0
    assert len(re.findall(r"\[worker \d\]: shutting down", running.log.read_text())) == 2


def test_explicit_workers_with_a_unix_socket_are_refused(tmp_path) -> None:
    done = subprocess.run([*maytrain_command(), "serve", "--store", f"sqlite:///{tmp_path}/x.db",
                           "--listen", f"unix:{tmp_path}/m.sock", "--workers", "2"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "cannot share a unix socket" in done.stderr and "Traceback" not in done.stderr


def test_a_unix_socket_listener_means_one_worker_unless_told() -> None:
    settings = Settings(listen=("127.0.0.1:1", "unix:/run/m.sock"))
    assert worker_count(settings, cores=lambda: 4) == 1
    assert worker_count(Settings(listen=("127.0.0.1:1",)), cores=lambda: 4) == 4
    assert worker_count(Settings(listen=("127.0.0.1:1",), workers=3), cores=lambda: 4) == 3
    with pytest.raises(ListenError, match="cannot share a unix socket"):
        worker_count(Settings(listen=("127.0.0.1:1",), health_listen="unix:/run/h.sock",
                              workers=2), cores=lambda: 4)


def test_workers_come_from_the_flag_then_the_environment() -> None:
    assert resolve({}, env={"MAYTRAIN_WORKERS": "3"}).workers == 3
    assert resolve({"workers": 2}, env={"MAYTRAIN_WORKERS": "3"}).workers == 2
    assert resolve({}, env={}).workers is None


def test_each_worker_has_its_own_spool_and_only_worker_0_serves_the_metrics_port() -> None:
    settings = Settings(receipts="/r", receipts_max_bytes=1000, metrics_listen=":9090")
    first, second = (worker_settings(settings, i, 2) for i in (0, 1))
    assert (first.receipts, second.receipts) == ("/r/worker-0", "/r/worker-1")
    assert first.receipts_max_bytes == second.receipts_max_bytes == 500
    assert (first.metrics_listen, second.metrics_listen) == (":9090", "127.0.0.1:0")
    assert worker_settings(Settings(), 1, 2).metrics_listen is None
    assert first.reuse_port and second.reuse_port
