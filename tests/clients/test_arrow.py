"""Arrow: decide a Table or RecordBatch of any size through the real sidecar, as a mask
and reasons aligned with the rows; and the example on 100,000 records against check_many."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.feather as feather
import pytest
from client_kinds import EXAMPLES
from sample_cases import expected_reasons, mixed

from maytrain.client import ConsentClient
from maytrain.client.arrow import decide_arrow, filter_arrow, records_from_arrow


@pytest.fixture
def client(sidecar):
    with ConsentClient(sidecar.tcp, max_batch=1000) as client:
        yield client


def table_of(records: list[dict]) -> pa.Table:
    """A table with collected_at as timestamp[us, UTC] and derived_from as list<string>."""
    rows = [{**r, "collected_at": datetime.fromisoformat(r["collected_at"]),
             "derived_from": []} for r in records]
    return pa.Table.from_pylist(rows)


def test_a_table_of_any_size_gets_a_mask_and_reasons_in_row_order(client) -> None:
    records = mixed(4500)  # more than max_batch: several calls, one answer
    decisions = decide_arrow(client, table_of(records))
    reasons = expected_reasons(records)
    assert decisions.reason.to_pylist() == [str(r) for r in reasons]
    assert decisions.allowed.to_pylist() == [r.startswith("ALLOWED") for r in reasons]
    assert decisions.allowed.type == pa.bool_() and len(decisions.consent_version) == 4500
    assert set(decisions.policy_version.to_pylist()) == {client.check(records[0]).policy_version}


def test_record_batches_filter_to_their_allowed_rows(client) -> None:
    batch = table_of(mixed(27)).to_batches()[0]
    kept = filter_arrow(client, batch)
    assert isinstance(kept, pa.RecordBatch)
    assert kept.column("record_id").to_pylist() == ["r0", "r1", "r9", "r10", "r18", "r19"]


@pytest.mark.parametrize("times", [
    pa.array([datetime(2025, 6, 1, 2)], pa.timestamp("ns", "Europe/Berlin")),
    pa.array([datetime(2025, 6, 1)], pa.timestamp("s")),
    pa.array([date(2025, 6, 1)], pa.date32()),
    pa.array(["2025-06-01T00:00:00Z"], pa.string()),
], ids=["ns-with-zone", "seconds-naive", "date", "iso-string"])
def test_collected_at_may_be_any_arrow_time_or_iso_text(client, times) -> None:
    table = pa.table({"account_id": ["sample-terms"], "purpose": ["ai.training"],
                      "data_category": ["service_generated.telemetry"], "collected_at": times})

    assert decide_arrow(client, table).reason.to_pylist() == ["ALLOWED_BY_TERMS"]


def test_times_keep_their_instant_through_arrow() -> None:
    times = pa.array([datetime(2023, 7, 27, 1, 30, tzinfo=UTC)],
                     pa.timestamp("us", "Asia/Tokyo"))
    (record,) = records_from_arrow(pa.table({"collected_at": times}))
    assert record.collected_at.ToJsonString() == "2023-07-27T01:30:00Z"


def test_columns_can_be_renamed_and_a_missing_renamed_column_is_an_error(client) -> None:
    table = pa.table({"tenant": ["sample-terms"], "purpose": ["ai.training"],
                      "data_category": ["service_generated.telemetry"],
                      "collected_at": ["2025-06-01T00:00:00Z"]})
    renamed = decide_arrow(client, table, columns={"account_id": "tenant"})
    assert renamed.allowed.to_pylist() == [True]
    assert decide_arrow(client, table).reason.to_pylist() == ["DENIED_INVALID_RECORD"]
    with pytest.raises(KeyError, match="'user'"):
        decide_arrow(client, table, columns={"user_id": "user"})
    with pytest.raises(ValueError, match="unknown record field"):
        decide_arrow(client, table, columns={"account": "tenant"})


def test_an_empty_table_gets_empty_arrays(client) -> None:
    decisions = decide_arrow(client, table_of(mixed(1)).slice(0, 0))
    assert len(decisions.allowed) == len(decisions.reason) == 0


def test_the_arrow_example_filters_100000_records_as_check_many_decides(sidecar, tmp_path,
                                                                        examples) -> None:
    output = tmp_path / "kept.arrow"
    result = subprocess.run([sys.executable, str(EXAMPLES / "arrow_mask.py"), "--target",
                             sidecar.uds, "--records", "100000", "--output", str(output)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    records = list(examples("sample_records").sample_records(100_000))
    with ConsentClient(sidecar.uds) as client:
        decisions = client.check_many(records)
    kept = feather.read_table(output).column("record_id").to_pylist()
    assert kept == [d.record_id for d in decisions if d.allowed]
    assert json.loads(result.stdout)["reasons"] == dict(sorted(
        Counter(d.reason.value for d in decisions).items()))
