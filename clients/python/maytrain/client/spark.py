"""Apache Spark: filter a DataFrame through the sidecar beside each executor.

The work runs in `mapInArrow`, so rows reach the client as Arrow batches. Each executor's
Python worker keeps one ConsentClient per target and options (a module-level cache), so
checking scales with the cluster and each worker talks to its own local sidecar: a target
of None is resolved on the executor ($MAYTRAIN_TARGET there, else 127.0.0.1:50051).
Needs pyspark and pyarrow (`pip install 'maytrain-client[spark]'`), imported on first use.

With `manifest_dir`, each task writes its own lineage manifest into that directory (tasks
share no file): `manifest-s<stage>-p<partition>-a<attempt>-<random>.jsonl` (or `.parquet`,
by `manifest_format`), as `filter(manifest=...)` writes its lines. The directory must be one
every executor can write (a shared mount in a cluster). A task's file appears once the task
has finished; a task that fails leaves none (Spark runs it again). Every action that
computes the DataFrame runs its tasks, so write the manifests with the action that writes
the training set. `maytrain purge-plan --manifest DIR` reads them all.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ._optional import require
from ._sync import ConsentClient
from .arrow import decide_arrow
from .manifests import FORMATS, PartManifest, worker_name

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

DECISION_COLUMNS = ("maytrain_allowed", "maytrain_reason", "maytrain_consent_version",
                    "maytrain_policy_version")
_clients: dict[tuple[Any, ...], ConsentClient] = {}
_clients_lock = threading.Lock()


def executor_client(target: str | None = None, **options: Any) -> ConsentClient:
    """This process's client for `target` and `options`: made on first use, closed at exit."""
    key = (target, tuple(sorted(options.items())))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            if not _clients:
                atexit.register(close_executor_clients)
            client = _clients[key] = ConsentClient(target, **options)
    return client


def close_executor_clients() -> None:
    """Close every cached client of this process."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


def filter_dataframe(df: DataFrame, target: str | None = None, *,
                     columns: Mapping[str, str] | None = None, min_consent_version: int = 0,
                     manifest_dir: str | os.PathLike[str] | None = None,
                     manifest_format: str = "jsonl", **options: Any) -> DataFrame:
    """The rows of `df` that are allowed, with `df`'s schema (client options as keywords);
    with `manifest_dir`, a lineage manifest per task there."""
    require("pyarrow", "spark")
    manifest = _manifest_place(manifest_dir, manifest_format)
    work = functools.partial(_filter_batches, target, columns, min_consent_version, options,
                             manifest)
    return df.mapInArrow(work, df.schema)


def decide_dataframe(df: DataFrame, target: str | None = None, *,
                     columns: Mapping[str, str] | None = None, min_consent_version: int = 0,
                     manifest_dir: str | os.PathLike[str] | None = None,
                     manifest_format: str = "jsonl", **options: Any) -> DataFrame:
    """`df` with the decision on each row added as the DECISION_COLUMNS; with
    `manifest_dir`, a lineage manifest per task there too."""
    types = require("pyspark.sql.types", "spark")
    require("pyarrow", "spark")
    schema = types.StructType([*df.schema.fields,
                               types.StructField("maytrain_allowed", types.BooleanType()),
                               types.StructField("maytrain_reason", types.StringType()),
                               types.StructField("maytrain_consent_version", types.LongType()),
                               types.StructField("maytrain_policy_version", types.StringType())])
    manifest = _manifest_place(manifest_dir, manifest_format)
    work = functools.partial(_decide_batches, target, columns, min_consent_version, options,
                             manifest)
    return df.mapInArrow(work, schema)


def _manifest_place(directory: str | os.PathLike[str] | None,
                    format: str) -> tuple[str, str] | None:  # noqa: A002 - the option's name
    """(absolute directory, format) for the tasks, checked on the driver; None for none."""
    if format not in FORMATS:
        raise ValueError(f"manifest_format is one of {FORMATS}, not {format!r}")
    return None if directory is None else (os.path.abspath(os.fspath(directory)), format)


def _filter_batches(target: str | None, columns: Mapping[str, str] | None,
                    min_consent_version: int, options: dict[str, Any],
                    manifest: tuple[str, str] | None,
                    batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Runs on executors: each batch, less its denied rows."""
    client = executor_client(target, **options)
    with _task_manifest(manifest) as lineage:
        for batch in batches:
            decisions = decide_arrow(client, batch, columns=columns,
                                     min_consent_version=min_consent_version)
            if lineage is not None:
                lineage.write(batch, decisions, columns=columns,
                              default_purpose=client.config.default_purpose)
            yield batch.filter(decisions.allowed)


def _decide_batches(target: str | None, columns: Mapping[str, str] | None,
                    min_consent_version: int, options: dict[str, Any],
                    manifest: tuple[str, str] | None,
                    batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Runs on executors: each batch, with its decisions appended as columns."""
    pa = require("pyarrow", "spark")
    client = executor_client(target, **options)
    with _task_manifest(manifest) as lineage:
        for batch in batches:
            decisions = decide_arrow(client, batch, columns=columns,
                                     min_consent_version=min_consent_version)
            if lineage is not None:
                lineage.write(batch, decisions, columns=columns,
                              default_purpose=client.config.default_purpose)
            added = [decisions.allowed, decisions.reason,
                     decisions.consent_version.cast(pa.int64()), decisions.policy_version]
            yield pa.RecordBatch.from_arrays([*batch.columns, *added],
                                             names=[*batch.schema.names, *DECISION_COLUMNS])


def _task_manifest(manifest: tuple[str, str] | None) -> contextlib.AbstractContextManager[
        PartManifest | None]:
    """This task's manifest, staged: in place once the task's rows are all decided."""
    if manifest is None:
        return contextlib.nullcontext()
    directory, format = manifest  # noqa: A001 - as the option
    return PartManifest(directory, task_name(), format=format, staged=True)


def task_name() -> str:
    """`s<stage>-p<partition>-a<attempt>` in a Spark task, else the process id."""
    with contextlib.suppress(ImportError):
        task = require("pyspark", "spark").TaskContext.get()
        if task is not None:
            return f"s{task.stageId()}-p{task.partitionId():05d}-a{task.attemptNumber()}"
    return worker_name()


__all__ = ["DECISION_COLUMNS", "close_executor_clients", "decide_dataframe",
           "executor_client", "filter_dataframe", "task_name"]
