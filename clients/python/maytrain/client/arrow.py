"""Apache Arrow: decide every row of a Table or RecordBatch, of any size, in one call, and
get the answers back as arrays aligned with the rows — a boolean mask and the reasons.

Columns are found by the record's field names (`account_id`, `data_category`, ...;
`columns` renames them); a missing column leaves that field unset. Needs pyarrow
(`pip install 'maytrain-client[arrow]'`), imported on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from maytrain.v1 import consent_pb2

from ._errors import InvalidRecordError
from ._optional import require
from ._records import FIELDS, from_fields, timestamp_from_micros, to_timestamp
from ._sync import ConsentClient

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
                 timeout: float | None = None) -> ArrowDecisions:
    """Decide every row of `data` (through check_many: batched, ordered, fail closed)."""
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


def records_from_arrow(data: ArrowData,
                       columns: Mapping[str, str] | None = None) -> list[consent_pb2.Record]:
    """The wire records for the rows of a Table or RecordBatch."""
    renames = dict(columns or {})
    unknown = sorted(set(renames) - set(FIELDS))
    if unknown:
        raise ValueError(f"columns names unknown record field(s) {unknown}; fields: {FIELDS}")
    values = {name: _values(data, name, renames) for name in FIELDS}
    present = {name: column for name, column in values.items() if column is not None}
    if not present:  # no record column at all: every row is an empty (so invalid) record
        return [consent_pb2.Record() for _ in range(data.num_rows)]
    names = list(present)
    return [from_fields(dict(zip(names, row, strict=True))) for row in zip(*present.values(), strict=True)]


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
