"""Receipts of a real sidecar: under load with the queue overflowing on purpose, every
decision is either in the spool or counted as dropped, exactly, and /metrics says so."""

from __future__ import annotations

import threading

from observed_sidecar import cycle, samples

from maytrain.v1 import consent_check_service_pb2 as pb
from sidecar.observability.receipts import read_receipts


def test_every_decision_is_spooled_or_counted_as_dropped(start, tmp_path):
    spool = tmp_path / "receipts"
    running = start(receipts=str(spool), receipts_queue="700", metrics_listen="127.0.0.1:0")
    sent = [0] * 4

    def client(n: int) -> None:
        stub = running.stub()
        for k in range(12):  # the first batch alone is over the queue's 700
            records = cycle(900 if k == 0 else 250 + 50 * (k % 4), prefix=f"c{n}-{k}")
            stub.CheckBatch(pb.CheckBatchRequest(records=records), timeout=10)
            sent[n] += len(records)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    running.stop()  # drains and fsyncs the queue
    counts = running.sidecar.observability.receipts.counts()

    spooled = list(read_receipts(spool))
    assert counts.dropped["queue_full"] > 0, "the queue must overflow in this test"
    assert len(spooled) == counts.written
    assert counts.written + counts.dropped["queue_full"] == sum(sent)
    assert counts.unsampled == counts.pending == 0


def test_metrics_report_the_receipt_counts(start, tmp_path):
    running = start(receipts=str(tmp_path / "r"), receipts_queue="50",
                    metrics_listen="127.0.0.1:0")
    running.stub().CheckBatch(pb.CheckBatchRequest(records=cycle(80)), timeout=5)
    writer = running.sidecar.observability.receipts
    deadline = threading.Event()
    while writer.counts().pending and not deadline.wait(0.05):
        pass
    counts = writer.counts()

    found = samples(running.scrape())

    assert found["maytrain_receipts_dropped_total", (("cause", "queue_full"),)] == 30
    assert found["maytrain_receipts_written_total", ()] == counts.written == 50
