"""CheckColumns on the wire: Arrow-layout buffers to the core's Columns, rules back to bytes.

Buffers are read with numpy, never as a Python object per record. A buffer that does not
fit the batch (a wrong length, an index outside its dictionary, offsets that go back) makes
the whole request unusable: `ColumnsError` names the column, and the service answers
INVALID_ARGUMENT. Values are not judged here: the decision denies a bad one as invalid.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from maytrain.v1 import consent_check_service_pb2 as pb

from ..core.columnar import Codes, Column, Columns
from ..core.model import Decision, Reason, Rule
from ..core.plans import PLAIN
from .convert import _BAD_TIMESTAMP, _MAX_SECONDS, _MIN_SECONDS, WIRE

_MIN_MICROS, _MAX_MICROS = _MIN_SECONDS * 1_000_000, _MAX_SECONDS * 1_000_000 + 999_999
_WIRE_REASON = np.zeros(max(Rule) + 1, np.uint8)
_ALLOWS = np.zeros(max(Rule) + 1, np.bool_)
_REASON_OF = np.full(max(Rule) + 1, None, object)
for _rule in Rule:
    _WIRE_REASON[_rule], _ALLOWS[_rule] = WIRE[_rule.reason][1], _rule.allows
    _REASON_OF[_rule] = _rule.reason
_RULE_REASONS = [reason.value if reason is not None else "" for reason in _REASON_OF]


class ColumnsError(ValueError):
    """A request whose buffers do not describe `count` records; says which column."""


def columns_from_proto(request: pb.CheckColumnsRequest) -> Columns:
    """The core's columns for a request, or ColumnsError naming the first unusable column."""
    count = request.count
    purpose = _strings("purpose", request.purpose, count)
    if request.default_purpose:
        default = request.default_purpose
        purpose = Column([value or default for value in purpose.values], purpose.codes)
    collected_at, dated, invalid = _times(request, count)
    return Columns(count, _strings("account_id", request.account_id, count),
                   _strings("user_id", request.user_id, count),
                   _strings("data_category", request.data_category, count), purpose,
                   _strings("region", request.region, count),
                   _lists("derived_from", request.derived_from, count),
                   _strings("record_id", request.record_id, count), collected_at, dated,
                   invalid, _BAD_TIMESTAMP if invalid is not None else "")


def answer_columns(response: pb.CheckColumnsResponse, rules: npt.NDArray[np.uint8]) -> None:
    """Fill in the allowed bitmap and the reason bytes for the records' rules."""
    response.allowed = np.packbits(_ALLOWS[rules], bitorder="little").tobytes()
    response.reasons = _WIRE_REASON[rules].tobytes()


def _strings(name: str, column: pb.StringColumn, count: int) -> Column:
    """A StringColumn as codes into its dictionary, with '' for unset values."""
    dictionary, indices = column.dictionary, column.indices  # read in place, never copied
    if not indices and not dictionary:
        _validity(name, column.validity, count)
        return Column.constant("", count)
    if len(indices) != 4 * count:
        raise ColumnsError(f"column {name}: indices hold {len(indices)} bytes; {count} records "
                           f"need {4 * count} (one little-endian int32 each)")
    codes = np.frombuffer(indices, "<i4")
    valid, size = _validity(name, column.validity, count), len(dictionary)
    held = codes if valid is None else codes[valid]  # a null slot's index is undefined in Arrow
    if held.size and (int(held.min()) < 0 or int(held.max()) >= size):
        raise ColumnsError(f"column {name}: an index is outside its dictionary of {size} "
                           "value(s)")
    if valid is None:
        return Column(dictionary, codes)
    return Column([*dictionary, ""], np.where(valid, codes, size))


def _validity(name: str, bitmap: bytes, count: int) -> npt.NDArray[np.bool_] | None:
    """The validity bitmap as one bool per record, or None when every value is set."""
    if not bitmap:
        return None
    if len(bitmap) * 8 < count:
        raise ColumnsError(f"column {name}: the validity bitmap holds {len(bitmap)} bytes; "
                           f"{count} records need at least {(count + 7) // 8}")
    bits = np.unpackbits(np.frombuffer(bitmap, np.uint8), count=count, bitorder="little")
    return bits.astype(np.bool_)


def _lists(name: str, column: pb.ListColumn, count: int) -> Column:
    """A ListColumn as codes into the distinct tuples its records hold."""
    if not column.offsets and not column.values.dictionary and not column.values.indices:
        return Column.constant((), count)
    if len(column.offsets) != 4 * (count + 1):
        raise ColumnsError(f"column {name}: offsets hold {len(column.offsets)} bytes; {count} "
                           f"records need {4 * (count + 1)} (count + 1 little-endian int32)")
    offsets = np.frombuffer(column.offsets, "<i4")
    if len(column.values.indices) % 4:
        raise ColumnsError(f"column {name}.values: indices hold {len(column.values.indices)} "
                           "bytes, not a whole number of int32")
    values = _strings(f"{name}.values", column.values, len(column.values.indices) // 4)
    if int(offsets[0]) < 0 or bool((np.diff(offsets) < 0).any()) \
            or int(offsets[-1]) > len(values.codes):
        raise ColumnsError(f"column {name}: offsets must start at 0 or more, never go back, and "
                           f"end within its {len(values.codes)} value(s)")
    if offsets[0] == offsets[-1]:
        return Column.constant((), count)
    return _distinct_lists(offsets.tolist(), values, count)


def _distinct_lists(offsets: list[int], values: Column, count: int) -> Column:
    """Each record's list as a code into the distinct lists (one pass, a dict lookup each)."""
    strings, codes = values.values, values.codes.tolist()
    seen: dict[tuple[int, ...], int] = {}
    tuples: list[tuple[str, ...]] = []
    out = np.empty(count, np.int32)
    for i in range(count):
        key = tuple(codes[offsets[i]:offsets[i + 1]])
        code = seen.get(key)
        if code is None:
            code = seen[key] = len(tuples)
            tuples.append(tuple(strings[c] for c in key))
        out[i] = code
    return Column(tuples, out)


def _times(request: pb.CheckColumnsRequest, count: int) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.bool_] | None]:
    """collected_at as micros, which records have one, and which are out of range."""
    raw = request.collected_at_micros
    valid = _validity("collected_at", request.collected_at_validity, count)
    if not raw:
        if valid is not None and valid.any():
            raise ColumnsError("column collected_at: the validity bitmap marks values as set "
                               "but collected_at_micros is empty")
        return np.zeros(count, np.int64), np.zeros(count, np.bool_), None
    if len(raw) != 8 * count:
        raise ColumnsError(f"column collected_at: collected_at_micros holds {len(raw)} bytes; "
                           f"{count} records need {8 * count} (one little-endian int64 each)")
    micros = np.frombuffer(raw, "<i8").astype(np.int64)
    dated = np.ones(count, np.bool_) if valid is None else valid
    invalid = dated & ((micros < _MIN_MICROS) | (micros > _MAX_MICROS))
    return micros, dated, invalid if invalid.any() else None


class RuleDecisions(Sequence[Decision]):
    """A columnar answer seen as decisions, made one by one only for those who read them
    (observers); the hot path never does."""

    def __init__(self, rules: npt.NDArray[np.uint8]) -> None:
        self.rules = rules

    def __len__(self) -> int:
        return len(self.rules)

    @overload
    def __getitem__(self, i: int) -> Decision: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Decision]: ...
    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [PLAIN[Rule(int(r))] for r in self.rules[i]]
        return PLAIN[Rule(int(self.rules[i]))]

    def __iter__(self) -> Iterator[Decision]:
        plain = {int(rule): decision for rule, decision in PLAIN.items()}
        return (plain[r] for r in self.rules.tolist())

    def reason_counts(self) -> dict[Reason, int]:
        """How many decisions have each reason (metrics and traces count a call with it)."""
        counts: dict[Reason, int] = {}
        for rule, count in enumerate(np.bincount(self.rules).tolist()):
            if count:
                reason = Rule(rule).reason
                counts[reason] = counts.get(reason, 0) + count
        return counts

    def reason_codes(self, count: int) -> tuple[Sequence[str], Codes]:
        """The reasons of the first `count` decisions as codes (their rules) into a table of
        every rule's reason (receipts write the column so)."""
        return _RULE_REASONS, self.rules[:count]

    def select(self, keep: npt.NDArray[np.bool_]) -> RuleDecisions:
        """The decisions `keep` marks, in order (receipts' sample)."""
        return RuleDecisions(self.rules[keep])


class ColumnRecords(Sequence[Any]):
    """A columnar batch seen as records, made one by one only for those who read them."""

    def __init__(self, columns: Columns) -> None:
        self.columns = columns

    def __len__(self) -> int:
        return self.columns.size

    def field_codes(self, name: str, count: int) -> tuple[Sequence[str], Codes | None]:
        """Field `name` of the first `count` records as the values it is drawn from and
        each record's code into them, or (values, None) when the values are the records'
        own, in order (record ids, often). Receipts write a column so, at the cost of a
        few bytes a record, where a list of `count` strings costs a string per record."""
        column: Column = getattr(self.columns, name)
        values, codes = _held(column.values), column.codes[:count]
        if len(values) == count and np.array_equal(codes, np.arange(count)):
            return values, None
        if len(values) > count:  # a sample's few records of a large dictionary
            used, codes = np.unique(codes, return_inverse=True)
            values = [values[i] for i in used.tolist()]
        return values, codes

    def record_ids(self) -> tuple[Sequence[str], npt.NDArray[np.integer[Any]]]:
        """The distinct record ids and each record's code into them (receipts' sample
        draws once per distinct id)."""
        column = self.columns.record_id
        return _held(column.values), column.codes

    def select(self, keep: npt.NDArray[np.bool_]) -> ColumnRecords:
        """The records `keep` marks, in order (receipts' sample)."""
        return ColumnRecords(self.columns.subset(keep))

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self.columns.record(j) for j in range(*i.indices(self.columns.size))]
        if i < 0:
            i += self.columns.size
        if not 0 <= i < self.columns.size:
            raise IndexError(i)
        return self.columns.record(i)


def _held(values: Sequence[Any]) -> Sequence[Any]:
    """A column's dictionary as a list (a protobuf container makes a str per read: read
    it once)."""
    return values if isinstance(values, list | tuple) else list(values)
