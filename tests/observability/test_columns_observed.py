"""CheckColumns is observed as CheckBatch is: a receipt per decision, with the record's
id and reason, and metrics counted under its own rpc label."""

from __future__ import annotations

import json

import pyarrow as pa
from observed_sidecar import BY_REASON, cycle, samples

from maytrain.client.columns import columns_request
from maytrain.v1 import consent_check_service_pb2 as pb
from sidecar.observability.receipts import read_receipts


def as_table(records):
    """The wire records as an Arrow table, as a worker would hold them."""
    return pa.table({
        "record_id": [r.record_id for r in records],
        "account_id": [r.account_id for r in records],
        "user_id": [r.user_id for r in records],
        "data_category": [r.data_category for r in records],
        "purpose": [r.purpose for r in records],
        "collected_at": pa.array([r.collected_at.ToMicroseconds() for r in records],
                                 pa.timestamp("us", "UTC")),
    })


def test_columnar_decisions_get_receipts_and_metrics_as_batches_do(start, tmp_path) -> None:
    spool = tmp_path / "receipts"
    running = start(receipts=str(spool), metrics_listen="127.0.0.1:0")
    records = cycle(27, prefix="col")
    stub = running.stub()
    stub.CheckColumns(columns_request(as_table(records)), timeout=10)
    batch = stub.CheckBatch(pb.CheckBatchRequest(records=records), timeout=10)
    found = samples(running.scrape())
    running.stop()

    receipts = [json.loads(line) for line in read_receipts(spool)]
    by_id: dict[str, set] = {}
    for receipt in receipts:
        by_id.setdefault(receipt["record_id"], set()).add(receipt["reason"])
    assert len(receipts) == 2 * len(records)
    expected = {d.record_id: d for d in batch.decisions}
    assert set(by_id) == set(expected)
    assert all(len(reasons) == 1 for reasons in by_id.values())  # both RPCs agree
    columns = {k: v for k, v in found.items() if k[0] == "maytrain_decisions_total"
               and ("rpc", "CheckColumns") in k[1]}
    assert sum(columns.values()) == len(records)
    assert len([v for v in columns.values() if v]) == len(BY_REASON)
