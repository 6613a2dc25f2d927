"""Ray Data: decide a Dataset's rows in `map_batches`, as Arrow batches, through the sidecar
beside each worker — one client per actor, each batch through CheckColumns.

    kept = dataset.map_batches(ConsentFilter, batch_format="pyarrow", concurrency=4,
                               fn_constructor_kwargs={"manifest_dir": "manifests/"})

A target of None is resolved on each actor ($MAYTRAIN_TARGET there). Needs ray[data]
(`pip install 'maytrain-client[ray]'`), imported on first use.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._optional import require
from ._sync import ConsentClient
from .arrow import ArrowDecisions, decide_arrow
from .manifests import PartManifest, decisions_of, read_manifests, worker_name
from .spark import DECISION_COLUMNS

if TYPE_CHECKING:
    import pyarrow as pa
    from ray.data import Dataset

MANIFEST_GLOB = "manifest-*.jsonl"
"""The names of the actors' manifests in a manifest_dir (JSON Lines, see ActorManifest)."""


class ConsentFilter:
    """A callable class for `map_batches(ConsentFilter, batch_format="pyarrow")`: each actor
    makes one client; each batch loses its denied rows, or with `add_decisions=True` keeps
    them all and gains the DECISION_COLUMNS. With `manifest_dir`, each actor writes its own
    lineage manifest there (as `filter(manifest=...)` writes it)."""

    def __init__(self, target: str | None = None, *, add_decisions: bool = False,
                 columns: Mapping[str, str] | None = None, min_consent_version: int = 0,
                 manifest_dir: str | os.PathLike[str] | None = None, **options: Any) -> None:
        require("pyarrow", "ray")
        self._client = ConsentClient(target, **options)
        self._add_decisions = add_decisions
        self._columns = dict(columns) if columns else None
        self._min_consent_version = min_consent_version
        self._manifest = None if manifest_dir is None else ActorManifest(manifest_dir)

    def __call__(self, batch: pa.Table) -> pa.Table:
        decisions = decide_arrow(self._client, batch, columns=self._columns,
                                 min_consent_version=self._min_consent_version)
        if self._manifest is not None:
            self._manifest.write(batch, decisions, columns=self._columns,
                                 default_purpose=self._client.config.default_purpose)
        if self._add_decisions:
            return with_decision_columns(batch, decisions)
        return batch.filter(decisions.allowed)

    def close(self) -> None:
        """Close the client and the manifest (also done when the actor goes away)."""
        self._client.close()
        if self._manifest is not None:
            self._manifest.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter exit, modules may be gone
            self.close()


class ActorManifest(PartManifest):
    """One actor's manifest: a new JSON Lines file in `directory`, flushed after every
    batch, so that an actor Ray ends without warning still leaves every line it decided
    (a Parquet file would be unreadable without the footer its close writes)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        super().__init__(directory, _actor_name())


def with_decision_columns(batch: pa.Table, decisions: ArrowDecisions) -> pa.Table:
    """`batch` with its decisions appended as the DECISION_COLUMNS."""
    pa = require("pyarrow", "ray")
    added = (decisions.allowed, decisions.reason, decisions.consent_version.cast(pa.int64()),
             decisions.policy_version)
    for name, column in zip(DECISION_COLUMNS, added, strict=True):
        batch = batch.append_column(name, column)
    return batch


def filter_dataset(dataset: Dataset, target: str | None = None, *,
                   manifest_dir: str | os.PathLike[str] | None = None,
                   columns: Mapping[str, str] | None = None, min_consent_version: int = 0,
                   client_options: Mapping[str, Any] | None = None, **map_options: Any) -> Dataset:
    """The allowed rows of `dataset`; `map_options` go to map_batches (`concurrency=`,
    `compute=ActorPoolStrategy(...)`, `batch_size=`, `num_cpus=`, ...)."""
    return _mapped(dataset, False, target, manifest_dir, columns, min_consent_version,
                   client_options, map_options)


def decide_dataset(dataset: Dataset, target: str | None = None, *,
                   manifest_dir: str | os.PathLike[str] | None = None,
                   columns: Mapping[str, str] | None = None, min_consent_version: int = 0,
                   client_options: Mapping[str, Any] | None = None, **map_options: Any) -> Dataset:
    """Every row of `dataset` with its decision added as the DECISION_COLUMNS."""
    return _mapped(dataset, True, target, manifest_dir, columns, min_consent_version,
                   client_options, map_options)


def _mapped(dataset: Dataset, add_decisions: bool, target: str | None,
            manifest_dir: str | os.PathLike[str] | None, columns: Mapping[str, str] | None,
            min_consent_version: int, client_options: Mapping[str, Any] | None,
            map_options: dict[str, Any]) -> Dataset:
    """`dataset` through ConsentFilter actors (as many as Ray's default, unless told)."""
    require("ray.data", "ray")
    arguments = {"target": target, "add_decisions": add_decisions, "columns": columns,
                 "min_consent_version": min_consent_version,
                 "manifest_dir": None if manifest_dir is None else os.fspath(manifest_dir),
                 **(client_options or {})}
    return dataset.map_batches(ConsentFilter, batch_format="pyarrow",
                               fn_constructor_kwargs=arguments, **map_options)


def _actor_name() -> str:
    """This actor's id when running in a Ray actor, else this process's id."""
    with contextlib.suppress(Exception):  # not in Ray, or Ray not initialised
        actor_id = require("ray", "ray").get_runtime_context().get_actor_id()
        if actor_id:
            return str(actor_id)
    return worker_name()


__all__ = ["DECISION_COLUMNS", "ActorManifest", "ConsentFilter", "decide_dataset",
           "decisions_of", "filter_dataset", "read_manifests", "with_decision_columns"]
