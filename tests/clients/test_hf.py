"""Hugging Face datasets (offline): rows filtered and decided through the real sidecar in
batched filter and map calls, and a cached result never replayed after a revocation."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import pytest
from sample_cases import ALLOWED, expected_reasons, mixed

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # read when datasets is imported: no network
os.environ.setdefault("HF_HUB_OFFLINE", "1")
datasets = pytest.importorskip("datasets")
from datasets.fingerprint import Hasher  # noqa: E402 - only once datasets is known to be there

from maytrain.client import hf  # noqa: E402
from maytrain.client.hf import ConsentMask, filter_dataset, with_decisions  # noqa: E402
from maytrain.client.spark import DECISION_COLUMNS  # noqa: E402


def allowed_ids(records: list[dict]) -> list[str]:
    return [r["record_id"] for r, reason in zip(records, expected_reasons(records), strict=True)
            if reason.startswith("ALLOWED")]


@pytest.fixture
def decide_calls(monkeypatch) -> list[int]:
    """The row count of every batch hf decides, in order."""
    calls: list[int] = []
    decide = hf.decide_arrow

    def counted(client: Any, data: Any, **options: Any) -> Any:
        calls.append(data.num_rows)
        return decide(client, data, **options)

    monkeypatch.setattr(hf, "decide_arrow", counted)
    return calls


def on_disk(records: list[dict], folder) -> Any:
    """A dataset backed by Arrow files in `folder`: one that datasets caches results for."""
    datasets.Dataset.from_list(records).save_to_disk(str(folder))
    return datasets.load_from_disk(str(folder))


@pytest.mark.parametrize("num_proc", [None, 2], ids=lambda n: f"num_proc={n}")
def test_filter_dataset_keeps_only_the_allowed_rows(sidecar, num_proc) -> None:
    records = mixed(900)
    kept = filter_dataset(datasets.Dataset.from_list(records), sidecar.tcp, batch_size=128,
                          num_proc=num_proc)
    assert kept["record_id"] == allowed_ids(records)
    assert kept.column_names == datasets.Dataset.from_list(records).column_names


def test_a_consent_mask_filters_dicts_and_arrow_batches_alike(sidecar) -> None:
    records = mixed(180)
    dataset = datasets.Dataset.from_list(records)
    mask = ConsentMask(sidecar.uds)
    assert dataset.filter(mask, batched=True, batch_size=50)["record_id"] == allowed_ids(records)
    arrow = dataset.with_format("arrow").filter(mask, batched=True, batch_size=50)
    assert arrow.with_format(None)["record_id"] == allowed_ids(records)


@pytest.mark.parametrize("format", [None, "arrow"], ids=lambda f: f"format={f}")
def test_with_decisions_adds_each_rows_decision(sidecar, format) -> None:
    records = mixed(450)
    dataset = datasets.Dataset.from_list(records).with_format(format)
    decided = with_decisions(dataset, sidecar.tcp, batch_size=100).with_format(None)
    assert decided.column_names == [*records[0], *DECISION_COLUMNS]
    assert decided["maytrain_reason"] == [reason.value for reason in expected_reasons(records)]
    assert decided["maytrain_allowed"] == [r.startswith("ALLOWED") for r in decided["maytrain_reason"]]
    assert min(decided["maytrain_consent_version"]) > 0


def test_a_revocation_is_never_replayed_from_the_cache(sidecar, tmp_path, decide_calls) -> None:
    account = f"hf-{uuid.uuid4().hex[:8]}"
    added = json.loads(sidecar.cli("account", "add", account, "--region", "US", "--json").stdout)
    theirs = [{**ALLOWED, "account_id": account, "record_id": f"t{i}"} for i in range(30)]
    records = [*theirs, *mixed(90)]
    dataset = on_disk(records, tmp_path / "data")
    version = added["consent_version"]

    first = filter_dataset(dataset, sidecar.tcp, min_consent_version=version, reuse_seconds=10**9)
    again = filter_dataset(dataset, sidecar.tcp, min_consent_version=version, reuse_seconds=10**9)
    assert first["record_id"] == again["record_id"] == [r["record_id"] for r in theirs] + [
        f"r{i}" for i in range(90) if i % 9 < 2]
    assert first.cache_files and decide_calls == [len(records)]  # the second came from the cache

    opted_out = sidecar.cli("consent", "opt-out", "--account", account, "--category",
                            "service_generated", "--purpose", "ai", "--json")
    version = json.loads(opted_out.stdout)["consent_version"]
    after = filter_dataset(dataset, sidecar.tcp, min_consent_version=version, reuse_seconds=10**9)
    assert after["record_id"] == [f"r{i}" for i in range(90) if i % 9 < 2]
    assert len(decide_calls) == 2


def test_a_consent_mask_is_never_taken_from_the_cache(sidecar, tmp_path, decide_calls) -> None:
    mask = ConsentMask(sidecar.tcp)
    assert Hasher.hash(mask) != Hasher.hash(mask)
    dataset = on_disk(mixed(36), tmp_path / "data")
    for _ in range(2):
        assert len(dataset.filter(mask, batched=True)) == 8
    assert decide_calls == [36, 36]


def test_no_answer_denies_every_row_and_reuses_nothing(tmp_path, decide_calls) -> None:
    dataset = on_disk(mixed(18), tmp_path / "data")
    for _ in range(2):
        kept = filter_dataset(dataset, "127.0.0.1:9", timeout=0.5, wait_for_ready=False)
        assert len(kept) == 0
    assert decide_calls == [18, 18]
