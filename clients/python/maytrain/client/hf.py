"""Hugging Face `datasets`: keep the allowed rows of a Dataset (`filter`, batched), or add
each row's decision as columns (`map`), every batch decided through CheckColumns.

`datasets` reuses a cached result when a transform's fingerprint matches. The fingerprint
given here holds the sidecar's consent and policy versions, so a result decided before a
revocation is never replayed after it. Needs datasets (`pip install 'maytrain-client[hf]'`),
imported on first use.
"""

from __future__ import annotations

import contextlib
import gc
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import grpc

from maytrain.v1 import consent_check_service_pb2 as pb

from ._optional import require
from ._records import FIELDS
from ._sync import ConsentClient
from .arrow import ArrowDecisions, decide_arrow
from .spark import DECISION_COLUMNS, executor_client

if TYPE_CHECKING:
    import pyarrow as pa
    from datasets import Dataset

# Raise when what the transforms write changes, so that older cached results are not reused.
_TRANSFORM_VERSION = 1


class ConsentMask:
    """A batched function for `Dataset.filter(ConsentMask(...), batched=True)`: the allowed
    mask of a batch (a dict of columns or an Arrow table). Each process makes one client.

    It hashes differently every time, so `datasets` never replays it from its cache;
    `filter_dataset` caches safely, by consent version."""

    def __init__(self, target: str | None = None, *, columns: Mapping[str, str] | None = None,
                 min_consent_version: int = 0, **options: Any) -> None:
        self.target, self.options = target, options
        self.columns = dict(columns) if columns else None
        self.min_consent_version = min_consent_version

    def __call__(self, batch: Any) -> pa.BooleanArray:
        return self.decide(batch).allowed

    def decide(self, batch: Any) -> ArrowDecisions:
        """The decisions on a batch's rows."""
        client = executor_client(self.target, **self.options)
        return decide_arrow(client, record_table(batch, self.columns), columns=self.columns,
                            min_consent_version=self.min_consent_version)

    def __getstate__(self) -> dict[str, Any]:
        # Pickled for worker processes and for datasets' hash: a fresh nonce makes the hash
        # new on every call, so no cached mask outlives the decisions it was made from.
        return {**self.__dict__, "_nonce": uuid.uuid4().hex}


class DecisionColumns(ConsentMask):
    """A batched function for `Dataset.map(DecisionColumns(...), batched=True)`: the
    DECISION_COLUMNS of a batch, to be added to its columns."""

    def __call__(self, batch: Any) -> Any:
        pa = require("pyarrow", "hf")
        decisions = self.decide(batch)
        values = (decisions.allowed, decisions.reason, decisions.consent_version.cast(pa.int64()),
                  decisions.policy_version)
        if isinstance(batch, pa.Table):  # map replaces a table with what it gets back
            for name, column in zip(DECISION_COLUMNS, values, strict=True):
                batch = batch.append_column(name, column)
            return batch
        # ... and adds a dict's columns to the batch's, but takes no Arrow arrays in it.
        return {name: column.to_numpy(zero_copy_only=False)
                for name, column in zip(DECISION_COLUMNS, values, strict=True)}


def filter_dataset(dataset: Dataset, target: str | None = None, *,
                   columns: Mapping[str, str] | None = None, min_consent_version: int = 0,
                   reuse_seconds: float = 30.0, batch_size: int = 1000,
                   num_proc: int | None = None, **options: Any) -> Dataset:
    """The allowed rows of `dataset`, cached under a consent fingerprint (client options
    as keywords)."""
    mask = ConsentMask(target, columns=columns, min_consent_version=min_consent_version, **options)
    fingerprint = consent_fingerprint(dataset, mask, "filter", reuse_seconds)
    with _forking(num_proc):
        return dataset.filter(mask, batched=True, batch_size=batch_size, num_proc=num_proc,
                              new_fingerprint=fingerprint)


def with_decisions(dataset: Dataset, target: str | None = None, *,
                   columns: Mapping[str, str] | None = None, min_consent_version: int = 0,
                   reuse_seconds: float = 30.0, batch_size: int = 1000,
                   num_proc: int | None = None, **options: Any) -> Dataset:
    """`dataset` with each row's decision added as the DECISION_COLUMNS."""
    decide = DecisionColumns(target, columns=columns, min_consent_version=min_consent_version,
                             **options)
    fingerprint = consent_fingerprint(dataset, decide, "decisions", reuse_seconds)
    with _forking(num_proc):
        return dataset.map(decide, batched=True, batch_size=batch_size, num_proc=num_proc,
                           new_fingerprint=fingerprint)


@contextlib.contextmanager
def _forking(num_proc: int | None) -> Iterator[None]:
    """While datasets forks its `num_proc` workers: this process's garbage collected and the
    rest frozen, so no worker's collector runs a destructor of a gRPC object it inherited
    (gRPC's state after fork is not its own: such a destructor can crash the worker)."""
    if not num_proc or num_proc < 2:
        yield
        return
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def consent_fingerprint(dataset: Dataset, mask: ConsentMask, transform: str,
                        reuse_seconds: float = 30.0) -> str:
    """The fingerprint of `transform` by `mask` on `dataset` at the sidecar's consent and
    policy versions now, within one window of `reuse_seconds` (consent entries can start or
    end at a set time without a new version). A random one — nothing reused — when the
    sidecar cannot tell its versions, is not serving, or reuse_seconds is 0."""
    fingerprints = require("datasets.fingerprint", "hf")
    versions = _versions(executor_client(mask.target, **mask.options))
    if versions is None or reuse_seconds <= 0:
        return str(fingerprints.generate_random_fingerprint())
    hasher = fingerprints.Hasher()
    hasher.update(dataset._fingerprint)
    hasher.update(("maytrain", _TRANSFORM_VERSION, transform, max(versions[0], mask.min_consent_version),
                   versions[1], sorted((mask.columns or {}).items()),
                   mask.options.get("default_purpose", ""), int(time.time() // reuse_seconds)))
    return str(hasher.hexdigest())


def _versions(client: ConsentClient) -> tuple[int, str] | None:
    """The consent and policy versions the sidecar serves, or None if it is not serving."""
    try:
        status = client._stub.GetStatus(pb.GetStatusRequest(), timeout=client.config.timeout,
                                        wait_for_ready=client.config.wait_for_ready)
    except grpc.RpcError:
        return None
    return (status.consent_version, status.policy_version) if status.serving else None


def record_table(batch: Any, columns: Mapping[str, str] | None = None) -> pa.Table:
    """The record columns of a batch (a dict of columns, a DataFrame or a Table) as a Table."""
    pa = require("pyarrow", "hf")
    if isinstance(batch, pa.Table):
        return batch
    names = [(columns or {}).get(field, field) for field in FIELDS]
    present = {name: batch[name] for name in names if name in batch}
    if not present:  # no record column at all: each row is an empty, so invalid, record
        return pa.table({"_": pa.nulls(_row_count(batch))})
    return pa.table(present)


def _row_count(batch: Any) -> int:
    """The rows of a batch: a dict's columns are its values, a DataFrame's len is its rows."""
    if isinstance(batch, Mapping):
        return len(next(iter(batch.values()))) if batch else 0
    return len(batch)


__all__ = ["ConsentMask", "DecisionColumns", "consent_fingerprint", "filter_dataset",
           "record_table", "with_decisions"]
