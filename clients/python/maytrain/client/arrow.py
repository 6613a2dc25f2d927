"""Apache Arrow: decide every row of a Table or RecordBatch, of any size, in one call, and
get the answers back as arrays aligned with the rows — a boolean mask and the reasons.
The rows travel as columns (CheckColumns), never as one message per row.

Columns are found by the record's field names (`account_id`, `data_category`, ...;
`columns` renames them); a missing column leaves that field unset. With `manifest=` (a
path, `.parquet` or JSON Lines, an open text file, or a LineageWriter to add to across calls)
each row gets a lineage manifest line, as `filter(manifest=...)` writes it. Needs pyarrow
(`pip install 'maytrain-client[arrow]'`), imported on first use.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_pb2

from ._calls import NoUsableAnswer, call_options, failed_call
from ._errors import InvalidRecordError
from ._lineage import ManifestTarget, open_manifest
from ._optional import require
from ._records import FIELDS, from_fields, timestamp_from_micros, to_timestamp
from ._sync import ConsentClient
from .columns import columns_request, read_allowed

if TYPE_CHECKING:
    import pyarrow as pa

    ArrowData: TypeAlias = pa.Table | pa.RecordBatch


@dataclass(frozen=True)
class ArrowDecisions:
    """The decisions on a table's rows, as arrays in row order."""

    allowed: pa.BooleanArray
    reason: pa.StringArray
    consent_version: pa.UInt64Array
    policy_version: pa.StringArray


def decide_arrow(client: ConsentClient, data: ArrowData, *,
                 columns: Mapping[str, str] | None = None, min_consent_version: int = 0,
                 timeout: float | None = None, manifest: ManifestTarget = None) -> ArrowDecisions:
    """Decide every row of `data` through CheckColumns: the columns travel in Arrow's own
    layout, max_batch rows a call, a few calls in flight; rows of a call that gets no
    answer are denied as unavailable (fail closed). A sidecar without CheckColumns is
    asked through CheckBatch instead. `manifest` gets a line per row (a path is written
    afresh by each call; pass a LineageWriter to add to one manifest across calls)."""
    decisions = _decide(client, data, columns, min_consent_version, timeout)
    if manifest is not None:
        from .manifests import decisions_of

        lineage, owned = open_manifest(manifest)
        try:
            records = records_from_arrow(data, columns,
                                         default_purpose=client.config.default_purpose)
            lineage.write(records, decisions_of(records, decisions))
        finally:
            if owned:
                lineage.close()
    return decisions


def _decide(client: ConsentClient, data: ArrowData, columns: Mapping[str, str] | None,
            min_consent_version: int, timeout: float | None) -> ArrowDecisions:
    """decide_arrow without the manifest."""
    pa = require("pyarrow", "arrow")
    options = call_options(client.config, timeout, min_consent_version, False)
    parts: list[ArrowDecisions] = []
    in_flight: deque[tuple[int, grpc.Future[pb.CheckColumnsResponse]]] = deque()
    try:
        for start in range(0, data.num_rows, client.config.max_batch):
            piece = data.slice(start, client.config.max_batch)
            request = columns_request(piece, columns=columns, min_consent_version=min_consent_version,
                                      default_purpose=client.config.default_purpose)
            future = client._stub.CheckColumns.future(request, timeout=options.timeout,
                                                      wait_for_ready=client.config.wait_for_ready)
            in_flight.append((piece.num_rows, future))
            if len(in_flight) >= client.config.max_concurrency:
                parts.append(_answer(client, *in_flight.popleft()))
        while in_flight:
            parts.append(_answer(client, *in_flight.popleft()))
    except _NoColumns:
        return _decide_rows(client, data, columns, min_consent_version, timeout)
    finally:
        for _, unfinished in in_flight:  # only left when raising: don't leave calls running
            unfinished.cancel()
    if not parts:
        return ArrowDecisions(pa.array([], pa.bool_()), pa.array([], pa.string()),
                              pa.array([], pa.uint64()), pa.array([], pa.string()))
    return ArrowDecisions(*(pa.concat_arrays([getattr(p, name) for p in parts])
                            for name in ("allowed", "reason", "consent_version", "policy_version")))


class _NoColumns(Exception):
    """The sidecar does not serve CheckColumns (an older one)."""


def _answer(client: ConsentClient, count: int,
            future: grpc.Future[pb.CheckColumnsResponse]) -> ArrowDecisions:
    """One call's decisions, or denials for its rows if it got no usable answer."""
    pa = require("pyarrow", "arrow")
    try:
        response = future.result()
        allowed, reason = read_allowed(response, count)
        versions = (response.consent_version, response.policy_version)
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.UNIMPLEMENTED:
            raise _NoColumns() from error
        allowed, reason, versions = _denied(client, count, error)
    except ValueError as error:
        allowed, reason, versions = _denied(client, count, NoUsableAnswer(str(error)))
    return ArrowDecisions(allowed, reason, pa.repeat(pa.scalar(versions[0], pa.uint64()), count),
                          pa.repeat(pa.scalar(versions[1], pa.string()), count))


def _denied(client: ConsentClient, count: int, error: Exception) -> tuple[Any, Any, tuple[int, str]]:
    """Every row denied as unavailable (raises instead where the client is asked to)."""
    pa = require("pyarrow", "arrow")
    decisions = failed_call(client.config, [consent_pb2.Record()] * count, error)
    return (pa.repeat(pa.scalar(False), count),
            pa.repeat(pa.scalar(decisions[0].reason.value if decisions else "", pa.string()), count),
            (0, ""))


def _decide_rows(client: ConsentClient, data: ArrowData, columns: Mapping[str, str] | None,
                 min_consent_version: int, timeout: float | None) -> ArrowDecisions:
    """decide_arrow through CheckBatch, one wire record per row (for older sidecars)."""
    pa = require("pyarrow", "arrow")
    decisions = client.check_many(records_from_arrow(data, columns),
                                  min_consent_version=min_consent_version, timeout=timeout)
    return ArrowDecisions(
        allowed=pa.array([d.allowed for d in decisions], pa.bool_()),
        reason=pa.array([d.reason.value for d in decisions], pa.string()),
        consent_version=pa.array([d.consent_version for d in decisions], pa.uint64()),
        policy_version=pa.array([d.policy_version for d in decisions], pa.string()))


def filter_arrow(client: ConsentClient, data: ArrowData, **options: Any) -> ArrowData:
    """The rows of `data` that are allowed, in order (options as for decide_arrow)."""
    return data.filter(decide_arrow(client, data, **options).allowed)


def records_from_arrow(data: ArrowData, columns: Mapping[str, str] | None = None, *,
                       default_purpose: str = "") -> list[consent_pb2.Record]:
    """The wire records for the rows of a Table or RecordBatch (a row without a purpose
    gets `default_purpose`, as the sidecar decides it)."""
    renames = dict(columns or {})
    unknown = sorted(set(renames) - set(FIELDS))
    if unknown:
        raise ValueError(f"columns names unknown record field(s) {unknown}; fields: {FIELDS}")
    values = {name: _values(data, name, renames) for name in FIELDS}
    present = {name: column for name, column in values.items() if column is not None}
    if not present:  # no record column at all: every row is an empty (so invalid) record
        return [consent_pb2.Record(purpose=default_purpose) for _ in range(data.num_rows)]
    names = list(present)
    return [from_fields(dict(zip(names, row, strict=True)), default_purpose)
            for row in zip(*present.values(), strict=True)]


def _values(data: ArrowData, field: str, renames: Mapping[str, str]) -> list[Any] | None:
    """The Python values of the column for `field`, or None when there is no such column."""
    name = renames.get(field, field)
    if name not in data.schema.names:
        if field in renames:
            raise KeyError(f"column {name!r} (for {field}) is not in the data")
        return None
    column = data.column(name)
    return _times(column) if field == "collected_at" else column.to_pylist()


def _times(column: Any) -> list[Any]:
    """collected_at values as wire timestamps: from Arrow timestamps, dates or ISO strings."""
    pa = require("pyarrow", "arrow")
    kind = column.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        tz = kind.tz if pa.types.is_timestamp(kind) else None
        micros = column.cast(pa.timestamp("us", tz), safe=False).cast(pa.int64())
        return [None if m is None else timestamp_from_micros(m) for m in micros.to_pylist()]
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return [None if text is None else to_timestamp(text) for text in column.to_pylist()]
    raise InvalidRecordError(f"collected_at must be a timestamp, date or string column, not {kind}")


__all__ = ["ArrowDecisions", "decide_arrow", "filter_arrow", "records_from_arrow"]
