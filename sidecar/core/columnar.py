"""decide_columns(): the decision table over a batch given as columns (an Arrow batch).

A columnar batch hands over each field's distinct values for free, so the table is read
once per distinct key (through the same plans as decide_batch) and the answers are
broadcast to the records; `collected_at` windows are applied to whole columns. Record for
record the rules are those of decide_batch: tests hold the two to each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from .decision import shared_plan, stale_cache_problem
from .index import ConsentIndex
from .model import Micros, Record, Rule
from .plans import ROW_CHECKS, PlanCache, PlanKey, Planner, Spanned
from .policy import Policy

Codes = npt.NDArray[np.integer[Any]]


class Column(NamedTuple):
    """One field of every record, dictionary-encoded: record i holds values[codes[i]]
    ('' or () where it leaves the field unset)."""

    values: Sequence[Any]
    codes: Codes

    @classmethod
    def constant(cls, value: Any, count: int) -> Column:
        """Every record holds `value`."""
        return cls((value,), np.zeros(count, np.int32))


class Columns(NamedTuple):
    """A batch of records as columns. `dated` says which records have a `collected_at`;
    `invalid` marks records a transport could not read (`problem` says why)."""

    size: int
    account_id: Column
    user_id: Column
    data_category: Column
    purpose: Column
    region: Column
    derived_from: Column
    record_id: Column
    collected_at: npt.NDArray[np.int64]
    dated: npt.NDArray[np.bool_]
    invalid: npt.NDArray[np.bool_] | None = None
    problem: str = ""

    def record(self, i: int) -> Record:
        """Record i as the row-shaped core sees it."""
        def at(column: Column) -> Any:
            return column.values[column.codes[i]]
        invalid = self.invalid is not None and bool(self.invalid[i])
        return Record(at(self.account_id), at(self.data_category), at(self.purpose),
                      at(self.user_id),
                      int(self.collected_at[i]) if self.dated[i] and not invalid else None,
                      at(self.region), at(self.derived_from), at(self.record_id),
                      self.problem if invalid else "")

    def records(self) -> list[Record]:
        """Every record, in order (for explanations and observers, not the hot path)."""
        return [self.record(i) for i in range(self.size)]

    def subset(self, keep: npt.NDArray[np.bool_]) -> Columns:
        """The records `keep` marks, in order, as a batch of their own (same dictionaries)."""
        def kept(column: Column) -> Column:
            return Column(column.values, column.codes[keep])
        return Columns(int(keep.sum()), kept(self.account_id), kept(self.user_id),
                       kept(self.data_category), kept(self.purpose), kept(self.region),
                       kept(self.derived_from), kept(self.record_id), self.collected_at[keep],
                       self.dated[keep], None if self.invalid is None else self.invalid[keep],
                       self.problem)

    def key_columns(self) -> tuple[Column, ...]:
        """The columns a decision depends on besides collected_at, in Record order."""
        return (self.account_id, self.data_category, self.purpose, self.user_id, self.region,
                self.derived_from)


def decide_columns(columns: Columns, index: ConsentIndex | None, policy: Policy, now: Micros, *,
                   max_staleness: float | None = None, min_version: int = 0,
                   cache: PlanCache | None = None) -> npt.NDArray[np.uint8]:
    """The rule (its number) that decides each record, in order; no explanations (those are
    decide_batch's, over columns.records())."""
    if columns.size == 0:
        return np.zeros(0, np.uint8)
    stale = stale_cache_problem(index, policy, now, max_staleness, min_version)
    planner = Planner(index, policy, now, False, stale)
    shared = None if cache is None or stale or index is None else cache.plans_for(index, policy)
    firsts, inverse = distinct_keys(columns.key_columns())
    rows = _plan_rows(columns, firsts, planner, shared, now)
    rules = _apply_windows(rows, inverse, columns.collected_at, columns.dated)
    if columns.invalid is not None:
        rules[columns.invalid] = Rule.INVALID_RECORD
    return rules


def _plan_rows(columns: Columns, firsts: Codes, planner: Planner,
               shared: dict[PlanKey, Spanned] | None, now: Micros) -> list[bytes]:
    """The plan row of each distinct key, given by one of its records (collected_at plays
    no part)."""
    fields = [_at(column, firsts) for column in columns.key_columns()]
    rows: list[bytes] = []
    append = rows.append
    kept: dict[Any, Spanned] = {} if shared is None else shared
    get = kept.get
    for key in zip(*fields, strict=True):  # key_columns' order is PlanKey's
        held = get(key)
        if held is not None and held[1] <= now < held[2]:
            append(held[0].row)
            continue
        account, category, purpose, user, region, derived = key
        record = Record(account, category, purpose, user, None, region, derived)
        append((planner.plan(record) if shared is None
                else shared_plan(shared, key, record, planner, now)).row)
    return rows


def _at(column: Column, records: Codes) -> list[Any]:
    """The column's value for each of `records`, one object per distinct value (so its
    hash is computed once however many keys hold it)."""
    values = column.values
    if len(values) == 1:
        return [values[0]] * len(records)
    if not isinstance(values, list | tuple):  # a protobuf container makes a str per read
        values = list(values)
    return [values[code] for code in column.codes[records].tolist()]


def distinct_keys(columns: Sequence[Column]) -> tuple[Codes, Codes]:
    """For each distinct combination of the columns' codes, one record that holds it; and
    for each record, which combination it holds."""
    count = len(columns[0].codes)
    key, span = np.zeros(count, np.int64), 1
    for column in columns:
        size = len(column.values)
        if size <= 1:  # one value (or none): every record holds the same code
            continue
        if span * size >= 1 << 62:  # renumber what is seen so far so the key stays in int64
            _, key = np.unique(key, return_inverse=True)
            span = int(key.max()) + 1
        key = key * size + column.codes
        span *= size
    if span > max(1 << 16, 4 * count):
        _, firsts, inverse = np.unique(key, return_index=True, return_inverse=True)
        return firsts, inverse.reshape(-1)
    # Few possible keys: a table over all of them is cheaper than sorting the records.
    present = np.zeros(span, np.bool_)
    present[key] = True
    holder = np.empty(span, np.intp)
    holder[key] = np.arange(count)  # of records sharing a key, any one will do
    seen = np.flatnonzero(present)
    numbering = np.cumsum(present) - 1
    return holder[seen], numbering[key]


def _apply_windows(rows: list[bytes], inverse: Codes,
                   collected_at: npt.NDArray[np.int64],
                   dated: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8]:
    """Each record's rule: its plan's, after the plan's window checks on collected_at."""
    # plan_row's layout: otherwise, undated, then a (threshold, denial) pair per check.
    table = np.frombuffer(b"".join(rows), "<i8").reshape(len(rows), 2 + 2 * ROW_CHECKS)
    rules = table[:, 0][inverse]
    # The first failing check decides, so the checks are applied last to first.
    for level in reversed(range(ROW_CHECKS)):
        thresholds = table[:, 2 + 2 * level]
        if not (thresholds > _NEVER_FAILS).any():
            continue
        failed = collected_at < thresholds[inverse]
        rules = np.where(failed, table[:, 3 + 2 * level][inverse], rules)
    return np.where(dated, rules, table[:, 1][inverse]).astype(np.uint8)


_NEVER_FAILS = int(np.iinfo(np.int64).min)
"""The threshold of a padding check: no int64 time is before it."""
