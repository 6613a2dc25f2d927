"""Arrow data as CheckColumns requests, and CheckColumns answers as Arrow arrays.

A column that is already a dictionary array travels as it is (its indices buffer and
dictionary); other string columns are dictionary-encoded first. Only pyarrow is needed.
Columns are found by the record's field names; `columns` renames them; a missing column
leaves that field unset on every row.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from maytrain.v1 import consent_check_service_pb2 as pb
from maytrain.v1 import consent_pb2

from ._decisions import ALLOWING_REASONS, Reason
from ._errors import InvalidRecordError
from ._optional import require
from ._records import FIELDS

if TYPE_CHECKING:
    import pyarrow as pa

_STRING_FIELDS = ("record_id", "account_id", "user_id", "data_category", "purpose", "region")
_NO_TIME = -(2**63)  # out of every timestamp's range: the sidecar denies it as invalid
# Client reason names by wire number; numbers this client does not know read as UNSPECIFIED.
REASON_NAMES = [Reason.UNSPECIFIED.value] * (max(consent_pb2.Reason.values()) + 1)
for _reason in Reason:
    if _reason is not Reason.DENIED_UNAVAILABLE:
        REASON_NAMES[consent_pb2.Reason.Value(f"REASON_{_reason.name}")] = _reason.value
_ALLOWING_NUMBERS = [consent_pb2.Reason.Value(f"REASON_{r.name}") for r in ALLOWING_REASONS]


def columns_request(data: Any, *, columns: Mapping[str, str] | None = None,
                    default_purpose: str = "", min_consent_version: int = 0,
                    explain: bool = False) -> pb.CheckColumnsRequest:
    """The CheckColumns request for every row of a pyarrow Table or RecordBatch."""
    renames = dict(columns or {})
    unknown = sorted(set(renames) - set(FIELDS))
    if unknown:
        raise ValueError(f"columns names unknown record field(s) {unknown}; fields: {FIELDS}")
    request = pb.CheckColumnsRequest(count=data.num_rows, default_purpose=default_purpose,
                                     min_consent_version=min_consent_version, explain=explain)
    for name in FIELDS:
        column = _column(data, name, renames)
        if column is None or column.null_count == len(column):
            continue
        if name == "collected_at":
            request.collected_at_micros, request.collected_at_validity = _times(column)
        elif name == "derived_from":
            request.derived_from.CopyFrom(_lists(column))
        else:
            getattr(request, name).CopyFrom(_strings(name, column))
    return request


def read_allowed(response: pb.CheckColumnsResponse, count: int) -> tuple[pa.BooleanArray,
                                                                         pa.StringArray]:
    """The allowed mask and the reasons of an answer; ValueError if it does not fit `count`."""
    pa = require("pyarrow", "arrow")
    pc = require("pyarrow.compute", "arrow")
    if len(response.reasons) != count or len(response.allowed) != (count + 7) // 8:
        raise ValueError(f"the sidecar answered {len(response.reasons)} reasons and "
                         f"{len(response.allowed)} bitmap bytes for {count} records")
    numbers = pa.Array.from_buffers(pa.uint8(), count, [None, pa.py_buffer(response.reasons)])
    known = pc.if_else(pc.less(numbers, len(REASON_NAMES)), numbers, 0).cast(pa.int32())
    reasons = pa.DictionaryArray.from_arrays(known, pa.array(REASON_NAMES)).dictionary_decode()
    bits = pa.Array.from_buffers(pa.bool_(), count, [None, pa.py_buffer(response.allowed)])
    # Allowed takes both: the ALLOW bit, and a reason that allows (anything else denies).
    allowed = pc.and_(bits, pc.is_in(numbers, value_set=pa.array(_ALLOWING_NUMBERS, pa.uint8())))
    return allowed, reasons


def _column(data: Any, field: str, renames: Mapping[str, str]) -> Any:
    """The field's column as one Array, or None when the data has no such column."""
    name = renames.get(field, field)
    if name not in data.schema.names:
        if field in renames:
            raise KeyError(f"column {name!r} (for {field}) is not in the data")
        return None
    column = data.column(name)
    return column.combine_chunks() if hasattr(column, "combine_chunks") else column


def _strings(name: str, column: Any) -> pb.StringColumn:
    """A string column as an Arrow dictionary array's buffers."""
    pa = require("pyarrow", "arrow")
    kind = column.type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_null(kind) or (name == "record_id" and pa.types.is_integer(kind)):
        column, kind = column.cast(pa.string()), pa.string()  # ids are opaque: integers as text
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise InvalidRecordError(f"{name} must be a string column, not {column.type}")
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    indices = column.indices.cast(pa.int32())
    values = indices.buffers()[1]
    start = indices.offset * 4
    return pb.StringColumn(dictionary=[value or "" for value in column.dictionary.to_pylist()],
                           indices=values[start:start + 4 * len(indices)].to_pybytes(),
                           validity=_validity(column))


def _validity(column: Any) -> bytes:
    """The column's validity bitmap from bit 0 (b'' when every value is set)."""
    if column.null_count == 0:
        return b""
    valid = column.is_valid()  # a fresh boolean array: its bits start at 0
    return bytes(valid.buffers()[1].to_pybytes()[:(len(column) + 7) // 8])


def _times(column: Any) -> tuple[bytes, bytes]:
    """collected_at as int64 microseconds and validity, from Arrow times or ISO strings."""
    pa = require("pyarrow", "arrow")
    kind = column.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        tz = kind.tz if pa.types.is_timestamp(kind) else None
        micros = column.cast(pa.timestamp("us", tz), safe=False).cast(pa.int64())
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        micros = pa.array([None if text is None else _parse(text) for text in column.to_pylist()],
                          pa.int64())
    else:
        raise InvalidRecordError(f"collected_at must be a timestamp, date or string column, "
                                 f"not {kind}")
    filled = micros.fill_null(0)
    return filled.buffers()[1][filled.offset * 8:(filled.offset + len(filled)) * 8].to_pybytes(), \
        _validity(micros)


def _parse(text: str) -> int:
    """Microseconds for an ISO 8601 string (naive means UTC); unparseable ones never pass."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return _NO_TIME
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _lists(column: Any) -> pb.ListColumn:
    """derived_from (a list of category keys per row) as offsets and one dictionary column."""
    pa = require("pyarrow", "arrow")
    pc = require("pyarrow.compute", "arrow")
    if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)):
        raise InvalidRecordError(f"derived_from must be a list column, not {column.type}")
    lengths = pc.list_value_length(column).fill_null(0).cast(pa.int32())
    offsets = pa.concat_arrays([pa.array([0], pa.int32()), pc.cumulative_sum(lengths)])
    values = column.flatten()  # the rows' values, in order; a null list holds none
    if not len(values):
        return pb.ListColumn()
    return pb.ListColumn(offsets=offsets.buffers()[1][:4 * len(offsets)].to_pybytes(),
                         values=_strings("derived_from", values))


__all__ = ["columns_request", "read_allowed"]
