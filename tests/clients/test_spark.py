"""Spark (local[2]): DataFrames filtered and decided through the real sidecar in mapInArrow,
one client per executor process; the example on 100,000 records against check_many."""

from __future__ import annotations

import os
from collections import defaultdict

import pyarrow as pa
from sample_cases import expected_reasons, mixed

from maytrain.client import ConsentClient
from maytrain.client.spark import (
    DECISION_COLUMNS,
    decide_dataframe,
    executor_client,
    filter_dataframe,
)


def frame_of(spark, records: list[dict], partitions: int = 4):
    return spark.createDataFrame(pa.Table.from_pylist(records)).repartition(partitions)


def test_the_spark_example_filters_100000_records_as_check_many_decides(spark, sidecar,
                                                                         examples) -> None:
    kept = examples("spark_filter").allowed_records(spark, sidecar.tcp, 100_000)
    kept_ids = sorted(row["record_id"] for row in kept.select("record_id").collect())
    records = list(examples("sample_records").sample_records(100_000))
    with ConsentClient(sidecar.tcp) as client:
        allowed = sorted(d.record_id for d in client.check_many(records) if d.allowed)
    assert kept_ids == allowed and len(allowed) > 30_000


def test_decide_dataframe_adds_each_rows_decision(spark, sidecar) -> None:
    records = mixed(900)
    decided = decide_dataframe(frame_of(spark, records), sidecar.uds).collect()
    by_id = {row["record_id"]: row for row in decided}
    expected = dict(zip((r["record_id"] for r in records), expected_reasons(records), strict=True))
    assert {rid: row["maytrain_reason"] for rid, row in by_id.items()} == expected
    assert all(row["maytrain_allowed"] == row["maytrain_reason"].startswith("ALLOWED")
               for row in decided)
    assert all(row["maytrain_consent_version"] > 0 for row in decided)
    assert list(DECISION_COLUMNS) == decide_dataframe(frame_of(spark, records[:1]),
                                                      sidecar.uds).columns[-4:]


def test_filter_dataframe_keeps_the_schema_and_only_allowed_rows(spark, sidecar) -> None:
    frame = frame_of(spark, mixed(90), partitions=3)
    kept = filter_dataframe(frame, sidecar.tcp, chunk_size=10)
    assert kept.schema == frame.schema
    assert sorted(row["record_id"] for row in kept.collect()) == sorted(
        f"r{i}" for i in range(90) if i % 9 in (0, 1))


def test_each_executor_process_uses_one_client_per_target(spark, sidecar) -> None:
    target = sidecar.tcp

    def clients_seen(batches):
        for batch in batches:
            client = executor_client(target)
            assert client is executor_client(target)
            yield pa.RecordBatch.from_pydict({"pid": [os.getpid()] * batch.num_rows,
                                              "client": [id(client)] * batch.num_rows})

    frame = spark.range(4000).repartition(8)
    rows = frame.mapInArrow(clients_seen, "pid long, client long").distinct().collect()
    clients_by_process = defaultdict(set)
    for row in rows:
        clients_by_process[row["pid"]].add(row["client"])
    assert clients_by_process and all(len(c) == 1 for c in clients_by_process.values())


def test_the_client_cache_is_keyed_by_target_and_options(sidecar) -> None:
    assert executor_client(sidecar.tcp) is executor_client(sidecar.tcp)
    assert executor_client(sidecar.tcp) is not executor_client(sidecar.uds)
    assert executor_client(sidecar.tcp, timeout=2) is not executor_client(sidecar.tcp)
