"""A manifest table as the core's Columns: each field dictionary-encoded by pyarrow, so the
decision reads each distinct value once and no Python object is made per record."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core.columnar import Column, Columns

_SEPARATOR = "\x1f"


def columns_of(table: pa.Table) -> Columns:
    """The records of a manifest table (of manifests.SHAPE), for decide_columns."""
    count = table.num_rows
    times = table.column("collected_at").combine_chunks()
    return Columns(count, _strings(table, "account_id"), _strings(table, "user_id"),
                   _strings(table, "data_category"), _strings(table, "purpose"),
                   _strings(table, "region"), _lists(table.column("derived_from")),
                   Column.constant("", count),  # ids play no part in a decision
                   _numbers(times.cast(pa.int64()), 0), _numbers(times.is_valid(), False))


def _strings(table: pa.Table, name: str) -> Column:
    """A text column as codes into its distinct values; null reads as '' (unset)."""
    encoded = table.column(name).combine_chunks().dictionary_encode()
    values = [*encoded.dictionary.to_pylist(), ""]
    return Column(values, _numbers(encoded.indices, len(values) - 1).astype(np.int32))


def _lists(column: pa.ChunkedArray) -> Column:
    """derived_from as codes into the distinct tuples held (most often only the empty one)."""
    lists = column.combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(lists), 0)
    if pc.max(lengths).as_py() in (None, 0):
        return Column.constant((), len(lists))
    # Each list as one text, its length first, so [] and [""] stay apart.
    joined = pc.fill_null(pc.binary_join(lists, _SEPARATOR), "")
    keys = pc.binary_join_element_wise(lengths.cast(pa.string()), joined, _SEPARATOR)
    encoded = keys.dictionary_encode()
    values = [_tuple(text) for text in encoded.dictionary.to_pylist()]
    if any(value is None for value in values):  # a key holds the separator: read each list
        return _lists_one_by_one(lists)
    return Column(values, _numbers(encoded.indices, 0).astype(np.int32))


def _tuple(text: str) -> tuple[str, ...] | None:
    """The list a joined key stands for, or None when its parts do not add up."""
    length, _, rest = text.partition(_SEPARATOR)
    parts = tuple(rest.split(_SEPARATOR)) if int(length) else ()
    return parts if len(parts) == int(length) else None


def _lists_one_by_one(lists: pa.Array) -> Column:
    seen: dict[tuple[str, ...], int] = {}
    codes = [seen.setdefault(tuple(value or ()), len(seen)) for value in lists.to_pylist()]
    return Column(list(seen), np.array(codes, np.int32))


def _numbers(array: pa.Array, missing: Any) -> np.ndarray[Any, Any]:
    """An Arrow array as numpy, its nulls as `missing`."""
    return np.asarray(pc.fill_null(array, missing).to_numpy(zero_copy_only=False))
