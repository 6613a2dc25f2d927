"""make_plan(): re-decide, now, every manifest record that was allowed when it was taken,
and write one JSON line for each that is now denied, counting them by reason and account.

The plan is written through `output.PlanOutput`: a plan that fails leaves nothing behind.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc

from .deciders import Decider
from .manifests import ManifestReader
from .output import ALLOWING_REASONS, PLAN_FIELDS, PlanCounts, plan_line

ALLOWING = pa.array(ALLOWING_REASONS)


def make_plan(reader: ManifestReader, decider: Decider, out: IO[str], *,
              accounts: set[str] | None = None,
              progress: Callable[[int], None] | None = None) -> PlanCounts:
    """Write the plan's lines to `out`; with `accounts`, re-decide only their records."""
    counts = PlanCounts()
    only = None if accounts is None else pa.array(sorted(accounts), pa.string())
    for table in read_ahead(reader.tables()):
        counts.records += table.num_rows
        taken = table.filter(_allowed_when_taken(table))
        counts.allowed_when_taken += taken.num_rows
        if only is not None:
            taken = taken.filter(pc.is_in(taken.column("account_id"), value_set=only))
        if taken.num_rows:
            _plan_table(taken, decider, out, counts)
        if progress is not None:
            progress(counts.records)
    return counts


def read_ahead(tables: Iterator[pa.Table], depth: int = 2) -> Iterator[pa.Table]:
    """The tables, the next ones read on a thread meanwhile: pyarrow parses without the
    GIL, so reading the manifest and deciding it share the machine's cores."""
    ready: queue.Queue[tuple[pa.Table | None, BaseException | None]] = queue.Queue(depth)
    stop = threading.Event()

    def read() -> None:
        try:
            for table in tables:
                if not _put(ready, (table, None), stop):
                    return
        except BaseException as exc:  # handed to the reader of the tables, raised there
            _put(ready, (None, exc), stop)
            return
        _put(ready, (None, None), stop)

    worker = threading.Thread(target=read, name="manifest-reader", daemon=True)
    worker.start()
    try:
        while True:
            table, failure = ready.get()
            if failure is not None:
                raise failure
            if table is None:
                return
            yield table
    finally:
        stop.set()


def _put(ready: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Hand `item` over, unless the reader stops first (then False)."""
    while not stop.is_set():
        try:
            ready.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _allowed_when_taken(table: pa.Table) -> pa.Array:
    verdict = pc.fill_null(pc.equal(table.column("verdict"), "ALLOW"), False)
    return pc.and_(verdict, pc.is_in(table.column("reason"), value_set=ALLOWING))


def _plan_table(table: pa.Table, decider: Decider, out: IO[str], counts: PlanCounts) -> None:
    """Re-decide one table's records; write and count those now denied."""
    answers = decider.decide(table)
    counts.redecided += table.num_rows
    if decider.policy_version:
        counts.other_policy += pc.sum(pc.not_equal(
            pc.fill_null(table.column("policy_version"), ""), decider.policy_version)).as_py() or 0
    denied = pa.array(~answers.allowed)
    listed = table.filter(denied)
    if not listed.num_rows:
        return
    columns = [listed.column(name).to_pylist() for name in PLAN_FIELDS]
    was_reason, was_version = (listed.column(n).to_pylist() for n in ("reason", "consent_version"))
    reasons = answers.reason.filter(denied).to_pylist()
    versions = answers.consent_version.filter(denied).to_pylist()
    lines = []
    for row in zip(*columns, was_reason, was_version, reasons, versions, strict=True):
        lines.append(plan_line(row))
    out.write("".join(lines))
    counts.to_purge += len(lines)
    counts.by_reason.update(reasons)
    counts.by_account.update(columns[1])


