"""Records turned into the core's Columns, as a transport would hand them over."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sidecar.core import Record
from sidecar.core.columnar import Column, Columns


def column_of(values: Sequence) -> Column:
    """Dictionary-encode `values` (first-seen order)."""
    distinct: dict = {}
    codes = [distinct.setdefault(value, len(distinct)) for value in values]
    return Column(list(distinct), np.array(codes, np.int32))


def columns_of(records: Sequence[Record]) -> Columns:
    """The columns of `records`; records with a problem are the invalid ones."""
    problems = [r.problem for r in records]
    invalid = np.array([bool(p) for p in problems], np.bool_)
    return Columns(
        len(records), column_of([r.account_id for r in records]),
        column_of([r.user_id for r in records]), column_of([r.data_category for r in records]),
        column_of([r.purpose for r in records]), column_of([r.region for r in records]),
        column_of([r.derived_from for r in records]), column_of([r.record_id for r in records]),
        np.array([r.collected_at or 0 for r in records], np.int64),
        np.array([r.collected_at is not None for r in records], np.bool_),
        invalid if invalid.any() else None, next((p for p in problems if p), ""))
