"""Receipts of a sidecar run with several workers: a spool each, read back as one."""

from __future__ import annotations

import json
import threading
import time

from receipt_batches import NOW, batch

from sidecar.observability.receipts import ReceiptWriter, Spool, SpoolLimits, read_receipts
from sidecar.observability.receipts.spool import spool_directories, worker_spool

SECOND = 1_000_000


def write(spool, batches) -> None:
    writer = ReceiptWriter(Spool(spool, SpoolLimits(file_bytes=2048)))
    writer.start()
    for decided in batches:
        writer.decided(decided)
    writer.close()


def ids(lines) -> list[str]:
    return [json.loads(line)["record_id"] for line in lines]


def test_worker_spools_are_read_with_the_directory_merged_by_time(tmp_path) -> None:
    # Worker 0 decided at even seconds, worker 1 at odd ones.
    for worker in (0, 1):
        write(worker_spool(tmp_path, worker),
              [batch(2, start=10 * k + 2 * worker, now=NOW + (2 * k + worker) * SECOND)
               for k in range(5)])
    assert spool_directories(tmp_path) == [tmp_path, tmp_path / "worker-0",
                                           tmp_path / "worker-1"]
    expected = [f"r{10 * k + 2 * w + i}" for k in range(5) for w in (0, 1) for i in range(2)]
    assert ids(read_receipts(tmp_path)) == expected


def test_following_picks_up_a_worker_spool_that_appears_later(tmp_path) -> None:
    stop, seen = threading.Event(), []

    def follow() -> None:
        for line in read_receipts(tmp_path, follow=True, poll=0.05, stop=stop):
            seen.append(json.loads(line)["record_id"])

    reader = threading.Thread(target=follow)
    reader.start()
    try:
        write(worker_spool(tmp_path, 1), [batch(3)])
        deadline = time.monotonic() + 5
        while len(seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        reader.join(5)
    assert seen == ["r0", "r1", "r2"]
