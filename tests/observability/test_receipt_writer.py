"""The receipt writer: every decision is in the spool or counted, rotation, the cap, fsync."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import pytest
from receipt_batches import NOW, batch

from sidecar.core.model import Decision, Reason, Record, Rule
from sidecar.observability.observers import DecidedBatch
from sidecar.observability.receipts import (
    FIELDS,
    ReceiptWriter,
    Spool,
    SpoolLimits,
    read_receipts,
    spool_files,
)
from sidecar.observability.receipts.spool import FILE_PATTERN


def lines_in(directory: Path) -> list[dict]:
    """Every receipt in the spool, one dict each."""
    return [json.loads(line) for line in read_receipts(directory)]


def writer(directory: Path, limits: SpoolLimits | None = None, **options) -> ReceiptWriter:
    started = ReceiptWriter(Spool(directory, limits or SpoolLimits()), **options)
    started.start()
    return started


class SlowSpool(Spool):
    """A spool on a slow disk: every append takes a while."""

    def append(self, parts, start: str, receipts: int = 0) -> None:
        time.sleep(0.002)
        super().append(parts, start, receipts)


def test_every_decision_becomes_one_receipt_with_every_field(tmp_path):
    spooled = writer(tmp_path)
    spooled.decided(batch(25))
    counts = spooled.close()

    receipts = lines_in(tmp_path)
    assert counts.written == 25 and sum(counts.dropped.values()) == 0
    assert [r["record_id"] for r in receipts] == [f"r{i}" for i in range(25)]
    assert all(list(r) == list(FIELDS) for r in receipts)
    first = receipts[0]
    assert first["time"] == "2026-01-01T00:00:00.000000Z" and first["consent_version"] == 7
    assert (first["account"], first["user"], first["rpc"]) == ("acct-0", "u0", "CheckBatch")
    assert {r["verdict"] for r in receipts} == {"ALLOW", "DENY"}


def test_an_overflowing_queue_loses_nothing_without_counting_it(tmp_path, caplog):
    caplog.set_level(logging.WARNING, "maytrain.receipts")
    spooled = ReceiptWriter(SlowSpool(tmp_path), capacity=300, fsync_every=0.05,
                            report_every=0.05)
    spooled.start()
    sent = [0] * 4

    def producer(n: int) -> None:
        for k in range(60):
            size = 1 + (k * 37 + n) % 120
            spooled.decided(batch(size, start=(n * 100 + k) * 1000))
            sent[n] += size

    threads = [threading.Thread(target=producer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = spooled.close()

    assert counts.dropped["queue_full"] > 0, "the test must overflow the queue"
    assert counts.written + counts.dropped["queue_full"] == sum(sent) == counts.decided
    assert len(lines_in(tmp_path)) == counts.written
    assert counts.pending == 0
    assert any("receipt queue full" in r.getMessage() for r in caplog.records)


def test_a_batch_larger_than_the_queue_is_kept_in_part(tmp_path):
    spooled = ReceiptWriter(Spool(tmp_path), capacity=10)
    spooled.decided(batch(25))  # not started: nothing drains the queue
    spooled.start()
    counts = spooled.close()

    assert (counts.written, counts.dropped["queue_full"]) == (10, 15)
    assert [r["record_id"] for r in lines_in(tmp_path)] == [f"r{i}" for i in range(10)]


def test_receipts_after_close_are_counted_as_dropped(tmp_path):
    spooled = writer(tmp_path)
    spooled.close()
    spooled.decided(batch(4))

    assert spooled.counts().dropped["shutdown"] == 4


def test_sampling_keeps_the_same_records_wherever_they_are_checked(tmp_path):
    kept = []
    for name in ("a", "b"):
        spooled = writer(tmp_path / name, sample=0.25)
        for k in range(10):
            spooled.decided(batch(100, start=k * 100))
        counts = spooled.close()
        assert counts.written + counts.unsampled == 1000
        kept.append([r["record_id"] for r in lines_in(tmp_path / name)])

    assert kept[0] == kept[1]
    assert 150 < len(kept[0]) < 350


def test_files_rotate_by_size_and_are_named_by_start_and_sequence(tmp_path):
    spooled = writer(tmp_path, SpoolLimits(file_bytes=5_000, max_bytes=10 << 20))
    for k in range(20):
        spooled.decided(batch(20, start=k * 20, now=NOW + k * 1_000_000))
    spooled.close()

    files = spool_files(tmp_path)
    assert len(files) > 3
    assert all(path.stat().st_size <= 5_000 for path in files)
    seqs = [int(FILE_PATTERN.match(path.name)["seq"]) for path in files]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert files[0].name.startswith("receipts-20260101T000000Z-")
    assert [r["record_id"] for r in lines_in(tmp_path)] == [f"r{i}" for i in range(400)]


def test_lines_queued_behind_a_slow_write_go_out_together_whole_and_within_file_sizes(tmp_path):
    calls = []

    class CountingSpool(Spool):
        def append(self, parts, start: str, receipts: int = 0) -> None:
            calls.append(receipts)
            if len(calls) == 1:
                time.sleep(0.3)  # the lines below queue up meanwhile
            super().append(parts, start, receipts)

    spooled = ReceiptWriter(CountingSpool(tmp_path, SpoolLimits(file_bytes=6_000)))
    spooled.start()
    for k in range(60):
        spooled.decided(batch(10, start=k * 10))
    counts = spooled.close()

    assert counts.written == 600 and len(calls) < 30
    assert all(path.stat().st_size <= 6_000 for path in spool_files(tmp_path))
    assert [r["record_id"] for r in lines_in(tmp_path)] == [f"r{i}" for i in range(600)]


def test_files_rotate_by_age(tmp_path):
    spooled = writer(tmp_path, SpoolLimits(file_seconds=0.05))
    for k in range(3):
        spooled.decided(batch(5, start=k * 5))
        time.sleep(0.2)
    spooled.close()

    assert len(spool_files(tmp_path)) == 3


def test_the_cap_deletes_the_oldest_files_and_counts_their_receipts(tmp_path, caplog):
    caplog.set_level(logging.WARNING, "maytrain.receipts")
    spooled = writer(tmp_path, SpoolLimits(file_bytes=5_000, max_bytes=20_000))
    for k in range(40):
        spooled.decided(batch(10, start=k * 10))
    counts = spooled.close()

    remaining = lines_in(tmp_path)
    assert sum(path.stat().st_size for path in spool_files(tmp_path)) <= 20_000
    assert counts.deleted > 0 and counts.deleted + len(remaining) == counts.written == 400
    assert remaining[-1]["record_id"] == "r399"
    assert any("to keep the spool under its cap" in r.getMessage() for r in caplog.records)


def test_a_lower_cap_at_restart_counts_the_receipts_of_an_earlier_runs_files(tmp_path):
    earlier = writer(tmp_path, SpoolLimits(file_bytes=5_000))
    for k in range(20):
        earlier.decided(batch(10, start=k * 10, rpc='Check"Batch\\'))  # escapes before count
    assert earlier.close().written == 200

    later = writer(tmp_path, SpoolLimits(file_bytes=5_000, max_bytes=12_000))
    counts = later.close()

    assert counts.deleted > 0 and counts.deleted + len(lines_in(tmp_path)) == 200


def test_a_failed_write_is_counted_and_logged(tmp_path, caplog):
    class FullDisk(Spool):
        def append(self, parts, start: str, receipts: int = 0) -> None:
            raise OSError(28, "No space left on device")

    spooled = ReceiptWriter(FullDisk(tmp_path))
    spooled.start()
    spooled.decided(batch(8))
    counts = spooled.close()

    assert counts.dropped["write_error"] == 8 and counts.written == 0
    assert "No space left on device" in caplog.text


def test_a_disk_that_fills_mid_write_leaves_no_receipt_it_counts_as_lost(tmp_path, monkeypatch):
    real_writev, real_write, calls = os.writev, os.write, []

    def filling_writev(fd, parts):
        calls.append(fd)
        if len(calls) < 3:
            return real_writev(fd, parts)
        data = b"".join(parts)
        return real_write(fd, data[: len(data) // 2])  # the disk takes half, then is full

    def full_write(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "writev", filling_writev)
    monkeypatch.setattr(os, "write", full_write)
    spooled = writer(tmp_path)
    for k in range(3):
        spooled.decided(batch(10, start=k * 10))
        deadline = time.monotonic() + 5
        while len(calls) <= k and time.monotonic() < deadline:  # one write each
            time.sleep(0.01)
    counts = spooled.close()

    spooled_lines = [line for path in spool_files(tmp_path) for line in path.read_bytes()
                     .splitlines(keepends=True)]
    assert all(line.endswith(b"}\n") for line in spooled_lines)  # nothing torn
    assert counts.written == len(lines_in(tmp_path)) == 20
    assert counts.dropped["write_error"] == 10


def test_fsync_happens_per_interval_not_per_line(tmp_path, monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    spooled = writer(tmp_path, fsync_every=10.0)
    for k in range(50):
        spooled.decided(batch(10, start=k * 10))
    spooled.close()

    assert 1 <= len(calls) <= 4  # the file at close (and the directory, when the file was made)


def test_a_new_writer_continues_the_sequence(tmp_path):
    for k in range(2):
        spooled = writer(tmp_path)
        spooled.decided(batch(3, start=k * 3))
        spooled.close()

    seqs = [int(FILE_PATTERN.match(path.name)["seq"]) for path in spool_files(tmp_path)]
    assert seqs == [1, 2]


TEXTS = ["%s", "100%", '"quoted"', "new\nline", "ünï", "back\\slash", '","', "\x7f", ""]


@pytest.mark.parametrize("text", TEXTS)
def test_any_id_survives_the_round_trip(tmp_path, text):
    spooled = writer(tmp_path)
    spooled.decided(DecidedBatch("Check", [Record(text, "c", "p", text, record_id=text)],
                                 [Decision(Reason.DENIED_ERASURE, Rule.ERASURE)], NOW, 1,
                                 text, 0.0))
    spooled.close()

    (receipt,) = lines_in(tmp_path)
    assert receipt["account"] == receipt["user"] == receipt["record_id"] == text
    assert receipt["policy_version"] == text


@pytest.mark.parametrize("text", TEXTS)
def test_one_odd_value_among_plain_ones_survives_the_round_trip(tmp_path, text):
    ids = ["plain-0", text, "plain-2"]
    records = [Record("acct", "c", "p", record_id=i) for i in ids]
    spooled = writer(tmp_path)
    spooled.decided(DecidedBatch("CheckBatch", records,
                                 [Decision(Reason.DENIED_ERASURE, Rule.ERASURE)] * 3, NOW, 1,
                                 "v", 0.0))
    spooled.close()

    assert [r["record_id"] for r in lines_in(tmp_path)] == ids
