"""decide(): the decision table of DESIGN.md section 2 as a pure function of
(record, consent index, policy, now), fast enough for every record of a pipeline.

Records are decided through plans (`plans`), shared between records with equal keys; the
slow, line-by-line reading of the table it is held to is `reference.decide_reference`.
"""

from __future__ import annotations

from collections.abc import Iterable

from .index import ConsentIndex
from .model import Decision, Micros, Record
from .plans import Plan, PlanCache, PlanKey, Planner, Spanned
from .policy import Policy


def decide(record: Record, index: ConsentIndex | None, policy: Policy, now: Micros, *,
           max_staleness: float | None = None, min_version: int = 0,
           explain: bool = False) -> Decision:
    """The verdict and reason for one record; `now` is the caller's clock, in micros."""
    return decide_batch([record], index, policy, now, max_staleness=max_staleness,
                        min_version=min_version, explain=explain)[0]


def decide_batch(records: Iterable[Record], index: ConsentIndex | None, policy: Policy,
                 now: Micros, *, max_staleness: float | None = None, min_version: int = 0,
                 explain: bool = False, cache: PlanCache | None = None) -> list[Decision]:
    """Decisions for many records, in order, all at the index's one consent version.

    `cache` keeps plans between calls (never with explanations, never while stale)."""
    stale = stale_cache_problem(index, policy, now, max_staleness, min_version)
    planner = Planner(index, policy, now, explain, stale)
    shared = (None if cache is None or explain or stale or index is None
              else cache.plans_for(index, policy))
    plans: dict[PlanKey, Plan] = {}
    decisions: list[Decision] = []
    append, get = decisions.append, plans.get
    for record in records:
        key = (record.account_id, record.data_category, record.purpose, record.user_id,
               record.region, record.derived_from)
        plan = None if record.problem else get(key)
        if plan is None:
            if record.problem:
                plan = planner.plan(record)
            else:
                plan = plans[key] = (planner.plan(record) if shared is None
                                     else shared_plan(shared, key, record, planner, now))
        if plan.fixed is not None:
            append(plan.fixed)
        elif explain:
            append(plan.decide(record.collected_at, explain))
        else:
            collected_at = record.collected_at
            append(plan.undated if collected_at is None else plan.window_decision(collected_at))
    return decisions


def shared_plan(shared: dict[PlanKey, Spanned], key: PlanKey, record: Record, planner: Planner,
                now: Micros) -> Plan:
    """The plan for `key` from the shared plans if it holds at `now`, else a new one kept there."""
    held = shared.get(key)
    if held is not None and held[1] <= now < held[2]:
        return held[0]
    spanned = shared[key] = planner.planned(record)
    return spanned[0]


def stale_cache_problem(index: ConsentIndex | None, policy: Policy, now: Micros,
                        max_staleness: float | None, min_version: int) -> str:
    """Why rule 2 denies every record (no data, too old, behind the demanded version), or ''."""
    if index is None or index.synced_at is None:
        return "the cache holds no consent data yet (never synced, no snapshot)"
    limit = policy.max_staleness_seconds if max_staleness is None else max_staleness
    age = (now - index.synced_at) / 1e6
    if age > limit:
        return f"the cache's data is {age:.1f}s old, over max_staleness {limit:g}s"
    if index.version < min_version:
        return (f"the cache is at consent version {index.version}, behind the "
                f"min_consent_version {min_version} the caller asked for")
    return ""
