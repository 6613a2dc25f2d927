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
from .plans import PLAIN, Plan, PlanCache, PlanKey, Planner, Spanned
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
    plans = _plans(columns, firsts, planner, shared, now)
    rules = _apply_windows(plans, inverse, columns.collected_at, columns.dated)
    if columns.invalid is not None:
        rules[columns.invalid] = Rule.INVALID_RECORD
    return rules


def _plans(columns: Columns, firsts: Codes, planner: Planner,
           shared: dict[PlanKey, Spanned] | None, now: Micros) -> list[Plan]:
    """The plan of each distinct key, given by one of its records (collected_at plays no part)."""
    fields = [[column.values[code] for code in column.codes[firsts].tolist()]
              for column in columns.key_columns()]
    plans = []
    for account, category, purpose, user, region, derived in zip(*fields, strict=True):
        key = (account, user, category, purpose, region, derived)
        held = None if shared is None else shared.get(key)
        if held is not None and held[1] <= now < held[2]:
            plans.append(held[0])
            continue
        record = Record(account, category, purpose, user, None, region, derived)
        plans.append(planner.plan(record) if shared is None
                     else shared_plan(shared, key, record, planner, now))
    return plans


def distinct_keys(columns: Sequence[Column]) -> tuple[Codes, Codes]:
    """For each distinct combination of the columns' codes, one record that holds it; and
    for each record, which combination it holds."""
    count = len(columns[0].codes)
    key, span = np.zeros(count, np.int64), 1
    for column in columns:
        size = max(1, len(column.values))
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


def _apply_windows(plans: list[Plan], inverse: Codes, collected_at: npt.NDArray[np.int64],
                   dated: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8]:
    """Each record's rule: its plan's, after the plan's window checks on collected_at."""
    otherwise = np.array([p.otherwise.rule for p in plans], np.uint8)
    undated = np.array([p.undated.rule for p in plans], np.uint8)
    rules = otherwise[inverse]
    depth = max(len(p.checks) for p in plans)
    # The first failing check decides, so the checks are applied last to first.
    for level in reversed(range(depth)):
        checks = [p.checks[level] if level < len(p.checks) else _NO_CHECK for p in plans]
        thresholds = np.array([min(_LATEST, threshold) for threshold, _ in checks], np.int64)
        denials = np.array([denial.rule for _, denial in checks], np.uint8)
        failed = collected_at < thresholds[inverse]
        rules = np.where(failed, denials[inverse], rules)
    return np.where(dated, rules, undated[inverse]).astype(np.uint8)


_LATEST = int(np.iinfo(np.int64).max)
"""AFTER_ALL_TIME (2**63) as an int64: no int64 time reaches either."""
_NO_CHECK = (int(np.iinfo(np.int64).min), PLAIN[Rule.INVALID_RECORD])
"""A check no time fails (its denial is never given)."""
