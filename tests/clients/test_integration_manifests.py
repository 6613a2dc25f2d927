"""The lineage manifests of the Arrow and Spark integrations: the same lines as
`filter(manifest=...)` writes, in JSON Lines and Parquet, and plans `maytrain purge-plan`
makes from them once the records' account opts out (Ray's are in test_ray.py)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pyarrow as pa
import pytest
from sample_cases import ALLOWED, mixed

from maytrain.client import ConsentClient, LineageWriter, read_manifest
from maytrain.client._lineage import MANIFEST_FIELDS
from maytrain.client.arrow import decide_arrow, filter_arrow
from maytrain.client.manifests import manifest_files, read_manifests
from maytrain.client.spark import decide_dataframe, filter_dataframe


@pytest.fixture(params=["jsonl", "parquet"])
def extension(request) -> str:
    return request.param


@pytest.fixture
def account(sidecar) -> tuple[str, int]:
    """A new account of its own (so opting it out touches no other test), and its version."""
    name = f"manifest-{uuid.uuid4().hex[:8]}"
    added = json.loads(sidecar.cli("account", "add", name, "--region", "US", "--json").stdout)
    return name, added["consent_version"]


def records_of(account: str) -> list[dict]:
    """20 records of `account` the terms allow (one without a purpose), then 18 of every reason."""
    theirs = [{**ALLOWED, "account_id": account, "record_id": f"{account}-{i}",
               "derived_from": ["service_generated.usage"] if i % 2 else []} for i in range(20)]
    theirs[3]["purpose"] = ""  # decided, and written, with the client's default purpose
    return [*theirs, *mixed(18)]


def as_filter_writes(sidecar, records: list[dict], version: int, path: Path) -> list[dict]:
    """The manifest `filter` writes for `records`: what every integration must match."""
    with ConsentClient(sidecar.tcp, default_purpose="ai.training") as client:
        list(client.filter(records, manifest=path, min_consent_version=version))
    return by_id(read_manifest(path))


def by_id(entries) -> list[dict]:
    return sorted(entries, key=lambda entry: entry["record_id"])


def purge_plan(sidecar, account: str, manifest: Path) -> list[str]:
    """Opt `account` out, then plan from `manifest`: the record ids the plan lists."""
    sidecar.cli("consent", "opt-out", "--account", account, "--category", "service_generated",
                "--purpose", "ai")
    done = sidecar.cli("purge-plan", "--manifest", str(manifest), check=False)
    assert done.returncode == 3, done.stderr
    return sorted(json.loads(line)["record_id"] for line in done.stdout.splitlines())


def test_decide_arrow_writes_the_manifest_filter_writes_and_purge_plan_reads_it(
        sidecar, account, extension, tmp_path) -> None:
    name, version = account
    records = records_of(name)
    manifest = tmp_path / f"arrow.manifest.{extension}"
    with ConsentClient(sidecar.tcp, default_purpose="ai.training") as client:
        decide_arrow(client, pa.Table.from_pylist(records), min_consent_version=version,
                     manifest=manifest)
    entries = list(read_manifest(manifest))
    assert all(list(entry) == list(MANIFEST_FIELDS) for entry in entries)
    assert [e["record_id"] for e in entries] == [r["record_id"] for r in records]  # row order
    assert by_id(entries) == as_filter_writes(sidecar, records, version, tmp_path / "f.jsonl")
    assert entries[3]["purpose"] == "ai.training" and entries[1]["derived_from"] == [
        "service_generated.usage"]
    assert purge_plan(sidecar, name, manifest) == sorted(r["record_id"] for r in records[:20])


def test_filter_arrow_adds_each_call_to_one_lineage_writer(sidecar, account, extension,
                                                           tmp_path) -> None:
    name, version = account
    records = records_of(name)
    manifest = tmp_path / f"batches.{extension}"
    with ConsentClient(sidecar.tcp, default_purpose="ai.training") as client, \
            LineageWriter(manifest) as lineage:
        for start in range(0, len(records), 7):
            batch = pa.RecordBatch.from_pylist(records[start:start + 7])
            filter_arrow(client, batch, min_consent_version=version, manifest=lineage)
    assert lineage.summary().total == len(records)
    assert by_id(read_manifest(manifest)) == as_filter_writes(sidecar, records, version,
                                                              tmp_path / "f.jsonl")


@pytest.mark.parametrize("integration", [filter_dataframe, decide_dataframe])
def test_spark_writes_a_manifest_per_task_that_purge_plan_reads_as_a_directory(
        spark, sidecar, account, extension, integration, tmp_path) -> None:
    name, version = account
    records = records_of(name)
    frame = spark.createDataFrame(pa.Table.from_pylist(records)).repartition(3)
    folder = tmp_path / "manifests"
    integration(frame, sidecar.tcp, manifest_dir=folder, manifest_format=extension,
                min_consent_version=version, default_purpose="ai.training").collect()
    files = manifest_files(folder)
    assert len(files) == 3 and all(f.suffix == f".{extension}" for f in files)
    assert sorted(p.name for p in folder.iterdir()) == [f.name for f in files]  # none half-written
    entries = list(read_manifests(folder))
    assert all(list(entry) == list(MANIFEST_FIELDS) for entry in entries)
    assert by_id(entries) == as_filter_writes(sidecar, records, version, tmp_path / "f.jsonl")
    assert purge_plan(sidecar, name, folder) == sorted(r["record_id"] for r in records[:20])


def test_spark_refuses_an_unknown_manifest_format(spark, tmp_path) -> None:
    with pytest.raises(ValueError, match="manifest_format"):
        filter_dataframe(spark.range(1), manifest_dir=tmp_path, manifest_format="csv")


def test_purge_plan_refuses_a_folder_without_manifests(sidecar, tmp_path) -> None:
    done = sidecar.cli("purge-plan", "--manifest", str(tmp_path), check=False)
    assert done.returncode == 2 and "no manifest" in done.stderr
