"""decide_columns() decides record for record as decide_batch() does, and plans kept
between calls never outlive the consent or the moment they were made for."""

from __future__ import annotations

import random

import numpy as np
import pytest
from columnar_support import column_of, columns_of
from consent_strategies import NOW, POLICY, SECOND, scenarios
from decision_cases import Case, all_cases
from hypothesis import given, settings

from sidecar.core import (
    Account,
    Change,
    ConsentEntry,
    ConsentIndex,
    Effect,
    Record,
    Rule,
    decide_batch,
)
from sidecar.core.columnar import decide_columns, distinct_keys
from sidecar.core.plans import ROW_CHECKS, PlanCache, Planner
from sidecar.core.reference import decide_reference

CASES = all_cases()
HOUR = 3600 * SECOND


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_gets_the_rule_the_design_gives_through_columns(case: Case) -> None:
    rules = decide_columns(columns_of([case.record]), case.index, case.policy, case.now,
                           min_version=case.min_version)
    assert Rule(int(rules[0])) == case.rule
    assert Rule(int(rules[0])).reason is case.expect


def test_every_case_of_a_file_decided_as_one_shuffled_batch_agrees() -> None:
    groups: dict[tuple, list[Case]] = {}
    for case in CASES:
        key = (case.file, case.min_version, case.index.synced_at if case.index else None)
        groups.setdefault(key, []).append(case)
    for cases in groups.values():
        batch = [c for c in cases for _ in range(3)]
        random.Random(7).shuffle(batch)
        first = batch[0]
        rules = decide_columns(columns_of([c.record for c in batch]), first.index, first.policy,
                               first.now, min_version=first.min_version)
        assert [Rule(int(r)) for r in rules] == [Rule(c.rule) for c in batch]


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_columns_and_rows_agree_on_random_batches(scenario) -> None:
    index = scenario.index()
    rows = [d.rule for d in decide_batch(scenario.records, index, POLICY, NOW)]
    columns = decide_columns(columns_of(scenario.records), index, POLICY, NOW)
    cached = PlanCache()
    twice = [decide_columns(columns_of(scenario.records), index, POLICY, NOW, cache=cached)
             for _ in range(2)]
    assert [Rule(int(r)) for r in columns] == rows
    assert all([Rule(int(r)) for r in again] == rows for again in twice)


def test_an_empty_batch_gets_an_empty_answer() -> None:
    assert decide_columns(columns_of([]), None, POLICY, NOW).size == 0


def test_windows_apply_per_record_though_records_share_a_key() -> None:
    entry = ConsentEntry("g1", "a1", "customer_content", "ai", Effect.GRANT,
                         valid_from=NOW - 10 * HOUR, covers_data_from=NOW - 5 * HOUR)
    index = ConsentIndex.build(3, [Account("a1", "US"), entry], synced_at=NOW)
    times = [NOW - 6 * HOUR, NOW - 4 * HOUR, None, NOW - 5 * HOUR]
    records = [Record("a1", "customer_content.chat", "ai.training", collected_at=t,
                      derived_from=("service_generated.usage",)) for t in times]
    rules = decide_columns(columns_of(records), index, POLICY, NOW)
    assert [Rule(int(r)) for r in rules] == [d.rule for d in decide_batch(records, index, POLICY, NOW)]
    assert Rule(int(rules[1])) is Rule.ALLOWED_BY_CONSENT
    assert Rule(int(rules[0])) is Rule.OUTSIDE_CONSENT_WINDOW


def test_keys_stay_distinct_when_their_product_overflows_int64() -> None:
    rng = random.Random(3)
    values = [[f"v{rng.randrange(5000)}" for _ in range(4000)] for _ in range(6)]
    columns = [column_of(v) for v in values]
    firsts, inverse = distinct_keys(columns)
    rows = list(zip(*values, strict=True))
    assert len(firsts) == len(set(rows))
    assert all(rows[firsts[inverse[i]]] == rows[i] for i in range(len(rows)))


def _grant_until(until: int) -> ConsentIndex:
    entry = ConsentEntry("g1", "a1", "customer_content", "ai", Effect.GRANT,
                         valid_from=NOW - HOUR, valid_until=until, covers_data_from=NOW - 2 * HOUR)
    return ConsentIndex.build(3, [Account("a1", "US"), entry], synced_at=NOW)


CHAT = Record("a1", "customer_content.chat", "ai.training", collected_at=NOW - HOUR)


@pytest.mark.parametrize("columnar", [True, False], ids=["columns", "rows"])
def test_a_kept_plan_ends_when_its_grant_expires(columnar: bool) -> None:
    index, cache = _grant_until(NOW + 10 * SECOND), PlanCache()
    early, late = (_decide(columnar, index, now, cache) for now in (NOW, NOW + 10 * SECOND))
    assert (early, late) == (Rule.ALLOWED_BY_CONSENT, Rule.NO_CONSENT)


@pytest.mark.parametrize("columnar", [True, False], ids=["columns", "rows"])
def test_a_kept_plan_is_not_trusted_when_the_clock_steps_back(columnar: bool) -> None:
    index, cache = _grant_until(NOW + HOUR), PlanCache()
    assert _decide(columnar, index, NOW, cache) is Rule.ALLOWED_BY_CONSENT
    assert _decide(columnar, index, NOW - 2 * HOUR, cache) is Rule.NO_CONSENT  # before valid_from


@pytest.mark.parametrize("columnar", [True, False], ids=["columns", "rows"])
def test_a_kept_plan_is_dropped_when_the_index_changes(columnar: bool) -> None:
    index, cache = _grant_until(NOW + HOUR), PlanCache()
    assert _decide(columnar, index, NOW, cache) is Rule.ALLOWED_BY_CONSENT
    opt_out = ConsentEntry("o1", "a1", "customer_content", "ai", Effect.OPT_OUT, version=4)
    changed = index.apply([Change(4, opt_out)], synced_at=NOW)
    assert _decide(columnar, changed, NOW, cache) is Rule.OPTED_OUT
    # A sync that brings nothing new keeps the content, so the plans stay.
    assert _decide(columnar, changed.confirmed(NOW + SECOND), NOW + SECOND, cache) is Rule.OPTED_OUT


def test_kept_plans_are_bounded() -> None:
    index, cache = _grant_until(NOW + HOUR), PlanCache(limit=100)
    records = [Record("a1", "customer_content.chat", "ai.training", user_id=f"u{i}")
               for i in range(1000)]
    decide_batch(records, index, POLICY, NOW, cache=cache)
    assert len(cache.plans_for(index, POLICY)) <= 100


def _decide(columnar: bool, index: ConsentIndex, now: int, cache: PlanCache) -> Rule:
    if columnar:
        return Rule(int(decide_columns(columns_of([CHAT]), index, POLICY, now, cache=cache)[0]))
    return decide_batch([CHAT], index, POLICY, now, cache=cache)[0].rule


def test_decided_rules_are_bytes_of_rule_numbers() -> None:
    rules = decide_columns(columns_of([CHAT, CHAT._replace(account_id="")]), _grant_until(NOW + HOUR),
                           POLICY, NOW)
    assert rules.dtype == np.uint8
    assert list(rules) == [Rule.ALLOWED_BY_CONSENT, Rule.INVALID_RECORD]


def test_a_plan_keeps_one_check_per_window_yet_decides_as_the_table_does() -> None:
    grants = [ConsentEntry(f"g{i}", "a1", category, "ai", Effect.GRANT, valid_from=NOW - 20 * HOUR,
                           covers_data_from=NOW - hours * HOUR)
              for i, (category, hours) in enumerate([("customer_content.chat", 9),
                                                      ("customer_content.document", 5),
                                                      ("customer_content.whiteboard", 7)])]
    index = ConsentIndex.build(3, [Account("a1", "US"), *grants], synced_at=NOW)
    base = Record("a1", "customer_content.chat", "ai.training",
                  derived_from=("customer_content.document", "customer_content.whiteboard"))
    plan = Planner(index, POLICY, NOW, False, "").plan(base)
    assert len(plan.checks) == 1 <= ROW_CHECKS  # three grant windows, one check: the latest
    records = [base._replace(collected_at=NOW - h * HOUR) for h in (10, 8, 6, 4)] + [base]
    expected = [decide_reference(r, index, POLICY, NOW).rule for r in records]
    assert [Rule(int(r)) for r in decide_columns(columns_of(records), index, POLICY, NOW)] == expected
    assert [d.rule for d in decide_batch(records, index, POLICY, NOW)] == expected
    assert expected[:3] == [Rule.OUTSIDE_CONSENT_WINDOW] * 3 and expected[3] is Rule.ALLOWED_BY_CONSENT
