"""Arrow data travels as CheckColumns: dictionary arrays as they are, any other layout
(chunks, slices, nulls, lists) encoded so that the sidecar decides each row as CheckBatch
would; a sidecar without CheckColumns is asked row by row, and no answer denies."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pytest
from counting_server import CountingServer
from running_sidecar import free_port
from sample_cases import mixed

from maytrain.client import ConsentClient, InvalidRecordError
from maytrain.client.arrow import decide_arrow, records_from_arrow
from maytrain.client.columns import columns_request


@pytest.fixture
def client(sidecar):
    with ConsentClient(sidecar.tcp, max_batch=700) as client:
        yield client


def varied_table(count: int) -> pa.Table:
    """mixed() records, some deriving from other categories, some with a bad or no time."""
    rows = []
    for i, record in enumerate(mixed(count)):
        row = {**record, "collected_at": datetime.fromisoformat(record["collected_at"]),
               "derived_from": [["customer_content.audio"], [], None,
                                ["service_generated.usage", "customer_content"]][i % 4]}
        if i % 11 == 5:
            row["collected_at"] = None
        if i % 13 == 7:
            row["account_id"] = None
        rows.append(row)
    return pa.Table.from_pylist(rows)


def as_rows(client: ConsentClient, table: pa.Table) -> list[str]:
    return [d.reason.value for d in client.check_many(records_from_arrow(table))]


def test_every_row_is_decided_as_check_batch_decides_it(client) -> None:
    table = varied_table(2000)
    assert decide_arrow(client, table).reason.to_pylist() == as_rows(client, table)


def test_chunked_sliced_and_dictionary_columns_decide_alike(client) -> None:
    table = varied_table(900)
    chunked = pa.concat_tables([table.slice(0, 250), table.slice(250)])
    encoded = table.set_column(table.schema.get_field_index("account_id"), "account_id",
                               table.column("account_id").dictionary_encode())
    expected = as_rows(client, table)
    for variant in (chunked, encoded, encoded.slice(0)):
        assert decide_arrow(client, variant).reason.to_pylist() == expected
    sliced = encoded.slice(133, 401)
    assert decide_arrow(client, sliced).reason.to_pylist() == expected[133:534]
    batch = encoded.to_batches(max_chunksize=300)[1]
    assert decide_arrow(client, batch).reason.to_pylist() == expected[300:600]


def test_a_dictionary_column_travels_with_its_own_indices() -> None:
    column = pa.array(["acct-b", "acct-a", "acct-b"]).dictionary_encode()
    request = columns_request(pa.table({"account_id": column}))
    assert list(request.account_id.dictionary) == column.dictionary.to_pylist()
    assert request.account_id.indices == column.indices.cast(pa.int32()).buffers()[1].to_pybytes()[:12]
    assert (request.count, request.account_id.validity) == (3, b"")


def test_integer_record_ids_are_text_and_other_non_text_columns_are_refused() -> None:
    request = columns_request(pa.table({"record_id": [7, 8]}))
    assert list(request.record_id.dictionary) == ["7", "8"]
    with pytest.raises(InvalidRecordError, match="account_id must be a string column"):
        columns_request(pa.table({"account_id": [1, 2]}))


def test_an_unreadable_iso_time_is_an_invalid_record(client) -> None:
    table = pa.table({"account_id": ["sample-terms"] * 2, "purpose": ["ai.training"] * 2,
                      "data_category": ["service_generated.telemetry"] * 2,
                      "collected_at": ["2025-06-01T00:00:00Z", "last tuesday"]})
    assert decide_arrow(client, table).reason.to_pylist() == [
        "ALLOWED_BY_TERMS", "DENIED_INVALID_RECORD"]


def test_a_sidecar_without_check_columns_is_asked_row_by_row(tmp_path) -> None:
    server = CountingServer(tmp_path)
    try:
        with ConsentClient(server.tcp) as client:
            decisions = decide_arrow(client, varied_table(30))
        assert decisions.allowed.to_pylist() == [True] * 30
        assert server.calls["CheckBatch"] == 1
    finally:
        server.stop()


def test_no_sidecar_denies_every_row_as_unavailable() -> None:
    with ConsentClient(f"127.0.0.1:{free_port()}", timeout=1.0) as client:
        decisions = decide_arrow(client, varied_table(10))
    assert decisions.allowed.to_pylist() == [False] * 10
    assert set(decisions.reason.to_pylist()) == {"DENIED_UNAVAILABLE"}
    assert decisions.consent_version.to_pylist() == [0] * 10
