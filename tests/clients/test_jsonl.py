"""JSON Lines: a file filtered into another through the real sidecar, lines kept as they
were, with the lineage manifest; and the example script that does it."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from client_kinds import EXAMPLES
from sample_cases import expected_reasons, mixed

from maytrain.client import ConsentClient, read_manifest
from maytrain.client.jsonl import filter_jsonl, manifest_path


@pytest.fixture
def client(sidecar):
    with ConsentClient(sidecar.uds, chunk_size=16) as client:
        yield client


def write_lines(path, records: list[dict]) -> list[str]:
    lines = [json.dumps({**r, "text": f"payload {i}"}, indent=None) + "\n"
             for i, r in enumerate(records)]
    path.write_text("".join(lines[:3]) + "\n   \n" + "".join(lines[3:]))  # blank lines are skipped
    return lines


def test_allowed_lines_are_copied_unchanged_and_every_record_is_in_the_manifest(client,
                                                                                tmp_path) -> None:
    records = mixed(100)
    lines = write_lines(tmp_path / "in.jsonl", records)
    summary = filter_jsonl(client, tmp_path / "in.jsonl", tmp_path / "out.jsonl",
                           manifest=tmp_path / "out.manifest.jsonl")
    reasons = expected_reasons(records)
    kept = [line for line, reason in zip(lines, reasons, strict=True) if reason.startswith("ALLOWED")]
    assert (tmp_path / "out.jsonl").read_text() == "".join(kept)
    assert [e["reason"] for e in read_manifest(tmp_path / "out.manifest.jsonl")] == reasons
    assert (summary.total, summary.allowed, summary.denied) == (100, len(kept), 100 - len(kept))


def test_differently_named_fields_are_mapped_with_as_record(client) -> None:
    rows = [{"id": r["record_id"], "tenant": r["account_id"], "kind": r["data_category"],
             "purpose": r["purpose"], "at": r["collected_at"]} for r in mixed(18)]
    source = io.StringIO("".join(json.dumps(row) + "\n" for row in rows))
    out = io.StringIO()
    summary = filter_jsonl(client, source, out, as_record=lambda row: {
        "record_id": row["id"], "account_id": row["tenant"], "data_category": row["kind"],
        "purpose": row["purpose"], "collected_at": row["at"]})

    kept = [json.loads(line)["id"] for line in out.getvalue().splitlines()]
    assert kept == ["r0", "r1", "r9", "r10"] and summary.allowed == 4


def test_a_line_that_is_not_json_stops_the_run_naming_the_line(client) -> None:
    source = io.StringIO(json.dumps(mixed(1)[0]) + "\n{not json\n")
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        filter_jsonl(client, source, io.StringIO())


def test_the_manifest_goes_beside_the_output_by_convention() -> None:
    assert manifest_path("data/train.jsonl") == "data/train.manifest.jsonl"
    assert manifest_path("data/train") == "data/train.manifest.jsonl"


def test_the_jsonl_example_filters_a_file_with_a_manifest(sidecar, tmp_path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "filter_jsonl.py"), "--target", sidecar.tcp,
         "--make-sample", "1400", str(source), str(output)],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    manifest = list(read_manifest(tmp_path / "out.manifest.jsonl"))
    assert summary["total"] == len(manifest) == 1400
    assert summary["allowed"] == len(output.read_text().splitlines()) == sum(
        e["verdict"] == "ALLOW" for e in manifest)
    assert set(summary["reasons"]) >= {"ALLOWED_BY_TERMS", "ALLOWED_BY_CONSENT",
                                       "DENIED_ERASURE", "DENIED_OPTED_OUT"}
