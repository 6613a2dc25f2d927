"""A sidecar with --snapshot-key-file and its store away: it warm-starts from the file it
wrote, but a forged file (an opt-out removed, the sync time made fresh) is never loaded:
it denies as stale instead of serving the forged consent."""

from __future__ import annotations

import secrets
import shutil
import time

import pytest
from running_sidecar import NOT_SERVING, SERVICE, SERVING, Launcher
from test_sidecar_e2e import REASONS

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_pb2 as R
from sidecar.clock import wall_clock
from sidecar.core import ConsentEntry, ConsentIndex, Effect
from sidecar.index_file import map_index, write_index

OPTED_OUT = REASONS[R.REASON_DENIED_OPTED_OUT]
ALLOWED = REASONS[R.REASON_ALLOWED_BY_TERMS]


def reason(sidecar, record) -> int:
    return sidecar.stub().Check(pb.CheckRequest(record=record), timeout=5).decision.reason


def key_file(launcher: Launcher, name: str = "snapshot.key"):
    path = launcher.workdir / name
    path.write_text(secrets.token_urlsafe(32) + "\n")
    return path


def written_snapshot(launcher: Launcher, key) -> tuple:
    """A snapshot written by a keyed sidecar that then stopped; the store moved away."""
    snapshot = launcher.workdir / "cache" / "snapshot"
    first = launcher("--snapshot-file", str(snapshot), "--snapshot-key-file", str(key),
                     name="first")
    first.wait_health(SERVICE, SERVING)
    time.sleep(0.5)
    assert first.stop() == 0 and snapshot.exists()
    shutil.move(launcher.workdir / "consent.db", launcher.workdir / "away.db")
    return snapshot, ["--snapshot-file", str(snapshot), "--snapshot-key-file", str(key)]


def without_opt_outs(index: ConsentIndex) -> ConsentIndex:
    kept = [row for row in index.rows() if not (
        isinstance(row, ConsentEntry) and row.account_id == OPTED_OUT.account_id
        and row.effect is Effect.OPT_OUT)]
    return ConsentIndex.build(index.version, kept, synced_at=wall_clock())


def test_a_keyed_snapshot_warm_starts_the_sidecar(start_sidecar: Launcher) -> None:
    _, args = written_snapshot(start_sidecar, key_file(start_sidecar))
    second = start_sidecar(*args, name="second")
    second.wait_health(SERVICE, SERVING)
    assert second.stub().GetStatus(pb.GetStatusRequest(), timeout=5).warm_started
    assert reason(second, ALLOWED) == R.REASON_ALLOWED_BY_TERMS
    assert reason(second, OPTED_OUT) == R.REASON_DENIED_OPTED_OUT


@pytest.mark.parametrize("forger_key", [None, b"a-key-the-forger-made-up-itself-32b"],
                         ids=["resealed-without-a-key", "sealed-with-another-key"])
def test_a_forged_snapshot_is_refused_and_the_sidecar_denies_as_stale(
        start_sidecar: Launcher, forger_key) -> None:
    key = key_file(start_sidecar)
    snapshot, args = written_snapshot(start_sidecar, key)
    genuine, _ = map_index(snapshot, start_sidecar.store, now=wall_clock(),
                           key=key.read_bytes().strip())
    write_index(snapshot, without_opt_outs(genuine), start_sidecar.store, forger_key)
    second = start_sidecar(*args, name="second")
    assert reason(second, OPTED_OUT) == R.REASON_DENIED_STALE_CACHE
    assert reason(second, ALLOWED) == R.REASON_DENIED_STALE_CACHE
    second.wait_health(SERVICE, NOT_SERVING, timeout=3)
    assert "ignoring snapshot file" in second.log.read_text()


@pytest.mark.parametrize("content", [None, b"", b"\n"], ids=["missing", "empty", "blank"])
def test_an_unusable_key_file_stops_the_sidecar_at_start(start_sidecar: Launcher,
                                                         content) -> None:
    key = start_sidecar.workdir / "snapshot.key"
    if content is not None:
        key.write_bytes(content)
    server = start_sidecar("--snapshot-file", str(start_sidecar.workdir / "snapshot"),
                           "--snapshot-key-file", str(key), wait=False)
    assert server.process.wait(timeout=30) == 1
    assert "--snapshot-key-file" in server.log.read_text()
