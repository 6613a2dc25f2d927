"""Ray Data (local, 2 CPUs, one ray.init for the module): datasets filtered and decided
through the real sidecar in map_batches, one client per actor, with a manifest per actor,
under both ways of asking for actors (concurrency= and compute=ActorPoolStrategy)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
from sample_cases import expected_reasons, mixed

from maytrain.client import ConsentClient, read_manifest
from maytrain.client.ray import (
    DECISION_COLUMNS,
    ConsentFilter,
    decide_dataset,
    filter_dataset,
    read_manifests,
)

ray = pytest.importorskip("ray")
from ray.data import ActorPoolStrategy  # noqa: E402 - only once ray is known to be there

# Ray Data's own DataContext() sets its deprecated fields, and its __setattr__ warns of
# each (Ray 2.60): warnings raised in that module are Ray's, not ours.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")
ACTORS = {"concurrency": {"concurrency": 2},
          "compute": {"compute": ActorPoolStrategy(size=2)}}


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    """One local Ray for the module: starting it takes seconds."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    yield
    ray.shutdown()


def dataset_of(records: list[dict], blocks: int = 6) -> Any:
    """A dataset of `blocks` blocks, so that every actor gets some."""
    table, size = pa.Table.from_pylist(records), -(-len(records) // blocks)
    return ray.data.from_arrow([table.slice(start, size) for start in range(0, len(table), size)])


@pytest.mark.parametrize("actors", sorted(ACTORS), ids=lambda a: f"actors={a}")
def test_filter_dataset_keeps_only_allowed_rows_with_a_manifest_per_actor(
        sidecar, tmp_path, actors) -> None:
    records, version = mixed(900), sidecar.store_version()
    kept = filter_dataset(dataset_of(records), sidecar.tcp, manifest_dir=tmp_path,
                          batch_size=100, min_consent_version=version, **ACTORS[actors])
    kept_ids = sorted(row["record_id"] for row in kept.take_all())

    assert kept_ids == sorted(r["record_id"] for r, reason in
                              zip(records, expected_reasons(records), strict=True)
                              if reason.startswith("ALLOWED"))
    files = list(tmp_path.glob("manifest-*.jsonl"))
    assert 1 <= len(files) <= 2  # one per actor that got a batch
    with ConsentClient(sidecar.tcp) as client:
        list(client.filter(records, manifest=tmp_path / "by_filter.jsonl",
                           min_consent_version=version))
    by_id = {e["record_id"]: e for e in read_manifest(tmp_path / "by_filter.jsonl")}
    assert sorted(read_manifests(tmp_path), key=lambda e: e["record_id"]) == sorted(
        by_id.values(), key=lambda e: e["record_id"])


def test_decide_dataset_adds_each_rows_decision(sidecar) -> None:
    records = mixed(450)
    decided = decide_dataset(dataset_of(records), sidecar.uds, **ACTORS["compute"]).take_all()
    expected = dict(zip((r["record_id"] for r in records), expected_reasons(records), strict=True))

    assert {row["record_id"]: row["maytrain_reason"] for row in decided} == expected
    assert all(row["maytrain_allowed"] == row["maytrain_reason"].startswith("ALLOWED")
               for row in decided)
    assert all(row["maytrain_consent_version"] > 0 for row in decided)
    assert list(decided[0])[-4:] == list(DECISION_COLUMNS)


def test_each_actor_makes_one_client_and_a_target_of_none_is_the_actors_own(sidecar) -> None:
    class Seen(ConsentFilter):
        """ConsentFilter, telling on each kept row which process and client kept it."""

        def __call__(self, batch: pa.Table) -> pa.Table:
            kept = super().__call__(batch)
            for name, value in (("pid", os.getpid()), ("client", id(self._client)),
                                ("target", self._client.config.target)):
                kept = kept.append_column(name, pa.array([value] * len(kept)))
            return kept

    rows = dataset_of(mixed(90)).map_batches(
        Seen, batch_format="pyarrow", batch_size=10, concurrency=2,
        runtime_env={"env_vars": {"MAYTRAIN_TARGET": sidecar.tcp}}).take_all()

    clients = {(row["pid"], row["client"]) for row in rows}
    assert len(rows) == 20 and {row["target"] for row in rows} == {sidecar.tcp}
    assert len({pid for pid, _ in clients}) == len(clients) <= 2
