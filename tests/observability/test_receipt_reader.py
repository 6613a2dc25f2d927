"""`maytrain receipts DIR`: filters, torn lines, following the spool as it grows."""

from __future__ import annotations

import json
import threading
import time

import pytest
from receipt_batches import NOW, batch

from sidecar.cli import main
from sidecar.observability.receipts import ReceiptFilter, ReceiptWriter, Spool, SpoolLimits, read_receipts
from sidecar.observability.receipts.reader import ReadStats

HOUR = 3_600_000_000


@pytest.fixture
def spool(tmp_path):
    """A spool of three batches: an hour apart, at consent versions 5, 6 and 7."""
    writer = ReceiptWriter(Spool(tmp_path / "spool", SpoolLimits(file_bytes=4096)))
    writer.start()
    for k, account in enumerate(("alpha", "beta", "alpha")):
        writer.decided(batch(10, start=k * 10, now=NOW + k * HOUR, version=5 + k,
                             account=account))
    writer.close()
    return tmp_path / "spool"


def ids(lines) -> list[str]:
    return [json.loads(line)["record_id"] for line in lines]


def test_without_filters_every_receipt_comes_out_in_order(spool):
    assert ids(read_receipts(spool)) == [f"r{i}" for i in range(30)]


@pytest.mark.parametrize(("wanted", "expected"), [
    (ReceiptFilter(account="beta-1"), ["r11", "r14", "r17"]),
    (ReceiptFilter(min_version=7), [f"r{i}" for i in range(20, 30)]),
    (ReceiptFilter(since="2026-01-01T01:00:00.000000Z", until="2026-01-01T02:00:00.000000Z"),
     [f"r{i}" for i in range(10, 20)]),
    (ReceiptFilter(reason="DENIED_ERASURE", account="alpha-2"), ["r5", "r25"]),
    (ReceiptFilter(user="u1", verdict="ALLOW"), ["r1", "r11", "r21"]),
])
def test_filters_combine(spool, wanted, expected):
    assert ids(read_receipts(spool, wanted)) == expected


def test_a_torn_line_is_skipped_and_counted(spool, tmp_path):
    last = sorted(spool.iterdir())[-1]
    with last.open("a") as file:
        file.write('{"time":"2026-01-01T03:00:00.000000Z","rpc":"Che')
    stats = ReadStats()

    assert len(list(read_receipts(spool, stats=stats))) == 30
    assert stats.skipped == 1


def test_the_command_filters_and_prints_json_lines(spool, capsys):
    code = main(["receipts", str(spool), "--account", "alpha-0", "--verdict", "deny",
                 "--since", "2026-01-01T02:00:00Z"])

    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert [json.loads(line)["record_id"] for line in out] == ["r23", "r26", "r29"]


def test_the_command_refuses_a_missing_directory(tmp_path, capsys):
    assert main(["receipts", str(tmp_path / "nowhere")]) == 2
    assert "not a receipt spool" in capsys.readouterr().err


def test_following_reads_appended_receipts_and_new_files(tmp_path):
    directory = tmp_path / "live"
    writer = ReceiptWriter(Spool(directory, SpoolLimits(file_bytes=3000)), fsync_every=0.01)
    writer.start()
    stop, seen = threading.Event(), []

    def follow() -> None:
        for line in read_receipts(directory, follow=True, poll=0.02, stop=stop):
            seen.append(json.loads(line)["record_id"])

    reader = threading.Thread(target=follow)
    reader.start()
    for k in range(6):
        writer.decided(batch(5, start=k * 5))
        time.sleep(0.03)
    writer.close()
    deadline = time.monotonic() + 5
    while len(seen) < 30 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    reader.join()

    assert len(list(directory.iterdir())) > 1
    assert seen == [f"r{i}" for i in range(30)]
