"""Apache Spark: filter a DataFrame through the sidecar beside each executor.

The work runs in `mapInArrow`, so rows reach the client as Arrow batches. Each executor's
Python worker keeps one ConsentClient per target and options (a module-level cache), so
checking scales with the cluster and each worker talks to its own local sidecar: a target
of None is resolved on the executor ($MAYTRAIN_TARGET there, else 127.0.0.1:50051).
Needs pyspark and pyarrow (`pip install 'maytrain-client[spark]'`), imported on first use.
"""

from __future__ import annotations

import atexit
import functools
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ._optional import require
from ._sync import ConsentClient
from .arrow import decide_arrow

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
                     columns: Mapping[str, str] | None = None,
                     min_consent_version: int = 0, **options: Any) -> DataFrame:
    """The rows of `df` that are allowed, with `df`'s schema (client options as keywords)."""
    require("pyarrow", "spark")
    work = functools.partial(_filter_batches, target, columns, min_consent_version, options)
    return df.mapInArrow(work, df.schema)


def decide_dataframe(df: DataFrame, target: str | None = None, *,
                     columns: Mapping[str, str] | None = None,
                     min_consent_version: int = 0, **options: Any) -> DataFrame:
    """`df` with the decision on each row added as the DECISION_COLUMNS (for lineage)."""
    types = require("pyspark.sql.types", "spark")
    require("pyarrow", "spark")
    schema = types.StructType([*df.schema.fields,
                               types.StructField("maytrain_allowed", types.BooleanType()),
                               types.StructField("maytrain_reason", types.StringType()),
                               types.StructField("maytrain_consent_version", types.LongType()),
                               types.StructField("maytrain_policy_version", types.StringType())])
    work = functools.partial(_decide_batches, target, columns, min_consent_version, options)
    return df.mapInArrow(work, schema)


def _filter_batches(target: str | None, columns: Mapping[str, str] | None,
                    min_consent_version: int, options: dict[str, Any],
                    batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Runs on executors: each batch, less its denied rows."""
    client = executor_client(target, **options)
    for batch in batches:
        decisions = decide_arrow(client, batch, columns=columns,
                                 min_consent_version=min_consent_version)
        yield batch.filter(decisions.allowed)


def _decide_batches(target: str | None, columns: Mapping[str, str] | None,
                    min_consent_version: int, options: dict[str, Any],
                    batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Runs on executors: each batch, with its decisions appended as columns."""
    pa = require("pyarrow", "spark")
    client = executor_client(target, **options)
    for batch in batches:
        decisions = decide_arrow(client, batch, columns=columns,
                                 min_consent_version=min_consent_version)
        added = [decisions.allowed, decisions.reason,
                 decisions.consent_version.cast(pa.int64()), decisions.policy_version]
        yield pa.RecordBatch.from_arrays([*batch.columns, *added],
                                         names=[*batch.schema.names, *DECISION_COLUMNS])


__all__ = ["DECISION_COLUMNS", "close_executor_clients", "decide_dataframe",
           "executor_client", "filter_dataframe"]
