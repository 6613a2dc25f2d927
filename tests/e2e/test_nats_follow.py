"""`maytrain relay` and `maytrain serve --follow` as processes, on a private NATS server
that the tests stop and start again: a sidecar that follows NATS answers, says what it
follows, turns NOT_SERVING after max_staleness when NATS or the relay is gone, and serves
again when they are back."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from nats_support import PrivateNats, private_nats
from running_sidecar import (
    NOT_SERVING,
    SERVICE,
    SERVING,
    RunningSidecar,
    free_port,
    maytrain,
    maytrain_command,
)
from test_sidecar_e2e import REASONS

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_pb2 as R

ALLOWED = REASONS[R.REASON_ALLOWED_BY_TERMS]
STALENESS = "2"


def _process(args: list[str], workdir: Path, name: str) -> subprocess.Popen:
    with (workdir / f"{name}.log").open("a") as out:
        return subprocess.Popen([*maytrain_command(), *args], cwd=workdir, stdout=out,
                                stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})


class Fleet:
    """A store, a private NATS, one relay and one sidecar that follows NATS."""

    def __init__(self, workdir: Path, nats: PrivateNats) -> None:
        self.workdir, self.nats = workdir, nats
        self.store = f"sqlite:///{workdir / 'consent.db'}"
        maytrain("store", "init", "--sample", "--store", self.store, cwd=workdir)
        self.relay = self.start_relay()
        tcp, health = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        process = _process(["serve", "--follow", nats.url, "--listen", tcp, "--health-listen",
                            health, "--workers", "1", "--max-staleness", STALENESS],
                           workdir, "sidecar")
        self.sidecar = RunningSidecar(process, workdir, self.store, tcp, "", health,
                                      workdir / "sidecar.log")

    def start_relay(self) -> subprocess.Popen:
        return _process(["relay", "--store", self.store, "--nats", self.nats.url,
                         "--heartbeat", "0.2", "--sync-interval", "0.1"], self.workdir, "relay")

    def stop(self) -> None:
        self.sidecar.stop()
        for process in (self.relay,):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=20)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with private_nats(tmp_path) as nats:
        started = Fleet(tmp_path, nats)
        try:
            yield started
        finally:
            started.stop()


def reason_of(sidecar: RunningSidecar) -> int:
    return sidecar.stub().Check(pb.CheckRequest(record=ALLOWED), timeout=5).decision.reason


def test_a_follower_of_nats_answers_and_says_what_it_follows(fleet: Fleet) -> None:
    sidecar = fleet.sidecar
    sidecar.wait_health(SERVICE, SERVING, timeout=20)
    assert reason_of(sidecar) == R.REASON_ALLOWED_BY_TERMS
    status = sidecar.stub().GetStatus(pb.GetStatusRequest(), timeout=5)
    assert status.store == f"{fleet.nats.url} stream maytrain-changes" and status.serving
    out = maytrain("status", "--target", sidecar.tcp, cwd=fleet.workdir).stdout
    assert f"store: {fleet.nats.url} stream maytrain-changes" in out
    written = maytrain("consent", "opt-out", "--account", ALLOWED.account_id, "--category",
                       "service_generated", "--purpose", "ai", "--store", fleet.store,
                       "--json", cwd=fleet.workdir).stdout
    version = int(__import__("json").loads(written)["consent_version"])
    answer = sidecar.stub().Check(pb.CheckRequest(record=ALLOWED, min_consent_version=version),
                                  timeout=5)
    assert answer.decision.reason == R.REASON_DENIED_OPTED_OUT


def test_nats_or_the_relay_gone_turns_the_follower_not_serving_until_back(fleet: Fleet) -> None:
    sidecar = fleet.sidecar
    sidecar.wait_health(SERVICE, SERVING, timeout=20)
    fleet.nats.stop()
    sidecar.wait_health(SERVICE, NOT_SERVING, timeout=10)
    assert reason_of(sidecar) == R.REASON_DENIED_STALE_CACHE
    fleet.nats.start()
    sidecar.wait_health(SERVICE, SERVING, timeout=20)
    assert reason_of(sidecar) == R.REASON_ALLOWED_BY_TERMS
    fleet.relay.kill()
    fleet.relay.wait()
    sidecar.wait_health(SERVICE, NOT_SERVING, timeout=10)
    fleet.relay = fleet.start_relay()
    sidecar.wait_health(SERVICE, SERVING, timeout=20)
