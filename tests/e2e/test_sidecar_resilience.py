"""The sidecar when things go wrong: the store vanishes or turns to garbage, a restart
without the store (warm start), and SIGTERM in the middle of a stream."""

from __future__ import annotations

import queue
import shutil
import signal
import time

import grpc
import pytest
from running_sidecar import NOT_SERVING, SERVICE, SERVING, Launcher
from test_sidecar_e2e import REASONS

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_pb2 as R

ALLOWED = REASONS[R.REASON_ALLOWED_BY_TERMS]


def reason_of(sidecar) -> int:
    return sidecar.stub().Check(pb.CheckRequest(record=ALLOWED), timeout=5).decision.reason


def store_path(launcher: Launcher):
    return launcher.workdir / "consent.db"


@pytest.mark.parametrize("outage", ["removed", "garbage"])
def test_a_lost_store_turns_to_stale_denials_and_recovers(start_sidecar: Launcher, outage) -> None:
    sidecar = start_sidecar("--max-staleness", "1.5")
    sidecar.wait_health(SERVICE, SERVING)
    assert reason_of(sidecar) == R.REASON_ALLOWED_BY_TERMS
    path, kept = store_path(start_sidecar), start_sidecar.workdir / "kept.db"
    shutil.move(path, kept)
    if outage == "garbage":
        path.write_bytes(b"this is not a database" * 100)
    sidecar.wait_health(SERVICE, NOT_SERVING)
    sidecar.wait_health("", NOT_SERVING)
    assert reason_of(sidecar) == R.REASON_DENIED_STALE_CACHE
    sidecar.wait_health("liveness", SERVING, timeout=1)
    if outage == "removed":
        assert not path.exists(), "the sidecar must never create a store in place of a lost one"
    shutil.move(kept, path)
    sidecar.wait_health(SERVICE, SERVING)
    assert reason_of(sidecar) == R.REASON_ALLOWED_BY_TERMS


def test_warm_start_serves_from_the_snapshot_while_the_store_is_away(start_sidecar) -> None:
    snapshot = start_sidecar.workdir / "cache" / "snapshot"
    first = start_sidecar("--snapshot-file", str(snapshot), name="first")
    first.wait_health(SERVICE, SERVING)
    time.sleep(0.5)
    assert first.stop() == 0 and snapshot.exists()
    shutil.move(store_path(start_sidecar), start_sidecar.workdir / "away.db")
    second = start_sidecar("--snapshot-file", str(snapshot), name="second")
    second.wait_health(SERVICE, SERVING)
    status = second.stub().GetStatus(pb.GetStatusRequest(), timeout=5)
    assert status.warm_started and status.serving and status.accounts == 5
    assert reason_of(second) == R.REASON_ALLOWED_BY_TERMS


def test_a_corrupt_snapshot_is_ignored_never_trusted(start_sidecar) -> None:
    snapshot = start_sidecar.workdir / "snapshot"
    first = start_sidecar("--snapshot-file", str(snapshot), name="first")
    first.wait_health(SERVICE, SERVING)
    time.sleep(0.5)
    first.stop()
    data = snapshot.read_bytes()
    assert b"sample-erased" in data
    snapshot.write_bytes(data.replace(b"sample-erased", b"sample-erasex"))
    shutil.move(store_path(start_sidecar), start_sidecar.workdir / "away.db")
    second = start_sidecar("--snapshot-file", str(snapshot), name="second")
    assert reason_of(second) == R.REASON_DENIED_STALE_CACHE
    assert health_is(second, SERVICE, NOT_SERVING)
    assert "checksum mismatch" in second.log.read_text()


def health_is(sidecar, service: str, status: int) -> bool:
    sidecar.wait_health(service, status, timeout=3)
    return True


def test_sigterm_answers_what_a_stream_sent_then_ends_it_unavailable(start_sidecar) -> None:
    sidecar = start_sidecar("--shutdown-grace", "5")
    outbox: queue.Queue = queue.Queue()

    def requests():
        while True:
            item = outbox.get()
            if item is None:
                return
            yield item

    responses = sidecar.stub("uds").CheckStream(requests(), timeout=30)
    outbox.put(pb.CheckStreamRequest(records=[ALLOWED] * 3))
    first = next(responses)
    assert [d.reason for d in first.decisions] == [R.REASON_ALLOWED_BY_TERMS] * 3
    outbox.put(pb.CheckStreamRequest(records=[ALLOWED]))
    assert next(responses).decisions[0].reason == R.REASON_ALLOWED_BY_TERMS
    sidecar.process.send_signal(signal.SIGTERM)
    with pytest.raises(grpc.RpcError) as raised:
        next(responses)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "shutting down" in raised.value.details()
    outbox.put(None)
    assert sidecar.process.wait(timeout=15) == 0
