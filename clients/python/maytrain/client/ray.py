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
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from maytrain.v1 import consent_pb2 as pb

from ._decisions import Decision, Reason, Verdict
from ._lineage import LineageWriter, read_manifest
from ._optional import require
from ._sync import ConsentClient
from .arrow import ArrowDecisions, decide_arrow, records_from_arrow
from .spark import DECISION_COLUMNS

if TYPE_CHECKING:
    import pyarrow as pa
    from ray.data import Dataset

MANIFEST_GLOB = "manifest-*.jsonl"


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
            records = records_from_arrow(batch, self._columns)
            self._manifest.write(records, decisions, self._client.config.default_purpose)
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


class ActorManifest:
    """One actor's manifest: a new file in `directory`, flushed after every batch, so that
    an actor Ray ends without warning still leaves every line it decided."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        # A restarted actor keeps its actor id: the random part keeps it from overwriting.
        self.path = Path(directory) / f"manifest-{_actor_name()}-{uuid.uuid4().hex[:12]}.jsonl"
        self._file: IO[str] = self.path.open("w", encoding="utf-8")
        self._writer = LineageWriter(self._file)

    def write(self, records: Sequence[pb.Record], decisions: ArrowDecisions,
              default_purpose: str = "") -> None:
        """Add the lines of one batch."""
        if default_purpose:  # as the sidecar decided them: a record without purpose has this one
            for record in records:
                record.purpose = record.purpose or default_purpose
        self._writer.write(records, decisions_of(records, decisions))
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._writer.close()
            self._file.close()


def decisions_of(records: Sequence[pb.Record], decisions: ArrowDecisions) -> list[Decision]:
    """Client decisions for the rows of an ArrowDecisions, with the records' ids."""
    rows = zip(records, decisions.allowed.to_pylist(), decisions.reason.to_pylist(),
               decisions.consent_version.to_pylist(), decisions.policy_version.to_pylist(),
               strict=True)
    return [Decision(record.record_id, Verdict.ALLOW if allowed else Verdict.DENY, Reason(reason),
                     consent_version=version, policy_version=policy)
            for record, allowed, reason, version, policy in rows]


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


def read_manifests(directory: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The entries of every actor's manifest in `directory`, file by file."""
    for path in sorted(Path(directory).glob(MANIFEST_GLOB)):
        yield from read_manifest(path)


def _actor_name() -> str:
    """This actor's id when running in a Ray actor, else this process's id."""
    with contextlib.suppress(Exception):  # not in Ray, or Ray not initialised
        actor_id = require("ray", "ray").get_runtime_context().get_actor_id()
        if actor_id:
            return str(actor_id)
    return f"pid{os.getpid()}"


__all__ = ["DECISION_COLUMNS", "ActorManifest", "ConsentFilter", "decide_dataset",
           "decisions_of", "filter_dataset", "read_manifests", "with_decision_columns"]
