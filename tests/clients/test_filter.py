"""filter against the real sidecar: only allowed items, in order, with bounded read-ahead,
a lineage manifest, and a broken stream resumed without losing or repeating records."""

from __future__ import annotations

import itertools
import logging
import threading

import pytest
from client_kinds import AsyncBridge, make_client
from running_sidecar import Launcher, free_port
from sample_cases import ALLOWED, DENIED, expected_reasons, mixed

from maytrain.client import AsyncConsentClient, LineageWriter, Reason, _lineage, read_manifest
from maytrain.client._lineage import MANIFEST_FIELDS


def allowed_ids(records: list[dict]) -> list[str]:
    """The ids of the records of mixed() that the sample data allows, in order."""
    return [r["record_id"] for r, reason in zip(records, expected_reasons(records), strict=True)
            if reason.startswith("ALLOWED")]


def test_filter_yields_only_the_allowed_items_in_their_order(connect) -> None:
    records = mixed(1000)
    kept = list(connect(chunk_size=64, max_in_flight=3).filter(records))
    assert [r["record_id"] for r in kept] == allowed_ids(records)
    assert all(item is records[int(item["record_id"][1:])] for item in kept)


def test_filter_of_nothing_yields_nothing(client) -> None:
    assert list(client.filter([])) == []


def test_filter_reads_a_bounded_number_of_records_ahead_of_its_output(connect) -> None:
    """On an endless input, what has been read but not handed on stays within read_ahead."""
    client, pulled = connect(chunk_size=50, max_in_flight=3), 0

    def endless():
        nonlocal pulled
        for number in itertools.count():
            pulled += 1
            yield {**ALLOWED, "record_id": str(number)}

    stream, most_ahead = client.filter(endless()), 0
    for item in itertools.islice(stream, 3000):
        most_ahead = max(most_ahead, pulled - (int(item["record_id"]) + 1))
    stream.close()
    assert client.config.read_ahead == 150
    assert 0 < most_ahead <= client.config.read_ahead


def test_filter_maps_items_to_records_with_as_record(client) -> None:
    rows = [("keep", ALLOWED), ("drop", DENIED), ("keep too", ALLOWED)]
    kept = list(client.filter(rows, as_record=lambda row: row[1]))
    assert [name for name, _ in kept] == ["keep", "keep too"]


def test_filter_writes_a_manifest_line_for_every_record(client, tmp_path) -> None:
    records, manifest = mixed(40), tmp_path / "manifest.jsonl"
    kept = list(client.filter(records, manifest=manifest))
    entries = list(read_manifest(manifest))
    assert [e["record_id"] for e in entries] == [r["record_id"] for r in records]
    assert [e["reason"] for e in entries] == expected_reasons(records)
    assert sum(e["verdict"] == "ALLOW" for e in entries) == len(kept)
    first = entries[0]
    assert list(first) == list(MANIFEST_FIELDS)
    assert {name: first[name] for name in MANIFEST_FIELDS[:8]} == {
        **records[0], "collected_at": "2025-06-01T00:00:00Z", "derived_from": []}
    assert first["consent_version"] > 0 and first["policy_version"].startswith("sha256:")


def test_a_manifest_holds_every_field_a_decision_reads(client, tmp_path) -> None:
    records = [{**ALLOWED, "record_id": "a", "user_id": "u-1", "region": "US",
                "collected_at": "2025-06-01T12:30:00.250000+02:00",
                "derived_from": ["service_generated.usage"]},
               {**ALLOWED, "record_id": "b", "collected_at": None}]
    list(client.filter(records, manifest=tmp_path / "m.jsonl"))
    first, second = read_manifest(tmp_path / "m.jsonl")
    assert (first["user_id"], first["region"], first["derived_from"]) == (
        "u-1", "US", ["service_generated.usage"])
    assert first["collected_at"] == "2025-06-01T10:30:00.250000Z"  # ISO 8601 in UTC
    assert second["collected_at"] is None and second["reason"] == "DENIED_OUTSIDE_WINDOW"


def test_a_parquet_manifest_holds_the_same_entries_in_row_groups(client, sidecar, tmp_path,
                                                               monkeypatch) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    monkeypatch.setattr(_lineage, "ROW_GROUP", 16)
    records, version = mixed(40), sidecar.store_version()  # both at one version
    list(client.filter(records, manifest=tmp_path / "m.jsonl", min_consent_version=version))
    list(client.filter(records, manifest=tmp_path / "m.parquet", min_consent_version=version))
    assert list(read_manifest(tmp_path / "m.parquet")) == list(read_manifest(tmp_path / "m.jsonl"))
    written = pq.ParquetFile(tmp_path / "m.parquet")
    assert written.schema_arrow.names == list(MANIFEST_FIELDS)
    assert [written.metadata.row_group(i).num_rows for i in range(written.num_row_groups)] == [
        16, 16, 8]


def test_a_lineage_writer_counts_reasons_across_runs(client, tmp_path) -> None:
    with LineageWriter(tmp_path / "m.jsonl") as lineage:
        list(client.filter(mixed(9), manifest=lineage))
        list(client.filter(mixed(9), manifest=lineage))
    summary = lineage.summary()
    assert (summary.total, summary.allowed, summary.denied) == (18, 4, 14)
    assert summary.reasons[Reason.DENIED_ERASURE] == 2
    assert len(list(read_manifest(tmp_path / "m.jsonl"))) == 18


def test_the_async_client_filters_an_async_iterable(sidecar) -> None:
    async def records():
        for record in mixed(100):
            yield record

    async def run() -> list:
        async with AsyncConsentClient(sidecar.uds, chunk_size=8) as client:
            return [item async for item in client.filter(records())]

    import asyncio
    assert [r["record_id"] for r in asyncio.run(run())] == allowed_ids(mixed(100))


def test_filter_resumes_a_broken_stream_without_losing_or_repeating_records(
        kind, tmp_path, caplog) -> None:
    """The sidecar restarts in the middle of a stream: the unanswered chunks are sent again."""
    caplog.set_level(logging.INFO, logger="maytrain.client")
    transport, listener = kind
    launcher, port = Launcher(tmp_path), free_port()
    extra = ("--listen", f"127.0.0.1:{port}")
    launcher(*extra, name="restarting")
    target = f"127.0.0.1:{port}" if listener == "tcp" else launcher.started[0].uds
    records, manifest = mixed(3000), tmp_path / "manifest.jsonl"
    restart = threading.Thread(target=_restart, args=(launcher, extra))
    try:
        with make_client(transport, target, chunk_size=25, max_in_flight=2, timeout=15) as client:
            kept = []
            for item in client.filter(records, manifest=manifest):
                kept.append(item["record_id"])
                if len(kept) == 100:
                    restart.start()
                    restart.join(0.3)  # the stream breaks while the consumer is busy
    finally:
        restart.join()
        launcher.stop_all()
    assert len(launcher.started) == 2
    assert "sending 2 unanswered chunk(s) again" in caplog.text
    assert kept == allowed_ids(records)
    assert [e["record_id"] for e in read_manifest(manifest)] == [r["record_id"] for r in records]


def _restart(launcher: Launcher, extra: tuple) -> None:
    launcher.started[0].stop()
    launcher(*extra, name="restarting")


@pytest.mark.parametrize("transport", ["sync", "async"])
def test_stopping_early_closes_the_stream(transport, sidecar) -> None:
    client = make_client(transport, sidecar.tcp, chunk_size=10)
    try:
        stream = client.filter(itertools.repeat(ALLOWED))
        assert len(list(itertools.islice(stream, 25))) == 25
        stream.close()
        assert client.check(ALLOWED).allowed
    finally:
        client.close()
    assert isinstance(client, AsyncBridge) == (transport == "async")
