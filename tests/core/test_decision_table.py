"""Every hand-written case in cases/ gets the reason and rule DESIGN.md section 2 gives it."""

from __future__ import annotations

import random

import pytest
from decision_cases import Case, all_cases

from sidecar.core import Reason, Rule, decide, decide_batch
from sidecar.core.model import combine

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_gets_the_reason_the_design_gives(case: Case) -> None:
    decision = decide(case.record, case.index, case.policy, case.now,
                      min_version=case.min_version)
    assert (decision.reason, decision.rule) == (case.expect, case.rule)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_explained_decision_names_its_rule_and_agrees(case: Case) -> None:
    decision = decide(case.record, case.index, case.policy, case.now,
                      min_version=case.min_version, explain=True)
    assert decision.reason is case.expect
    assert decision.explanation.startswith(f"rule {case.rule} {case.expect.name}: ")


def test_every_rule_and_reason_has_a_case() -> None:
    assert {c.rule for c in CASES} == set(range(1, 12))
    assert {c.expect for c in CASES} == set(Reason)


def test_a_batch_of_shuffled_repeated_records_decides_each_as_alone() -> None:
    groups: dict[tuple, list[Case]] = {}
    for case in CASES:
        key = (case.file, case.min_version, case.index.synced_at if case.index else None)
        groups.setdefault(key, []).append(case)
    rng = random.Random(7)
    for cases in groups.values():
        batch = cases * 3
        rng.shuffle(batch)
        first = batch[0]
        decisions = decide_batch([c.record for c in batch], first.index, first.policy,
                                 first.now, min_version=first.min_version)
        assert [d.reason for d in decisions] == [c.expect for c in batch]


def test_each_rule_is_the_row_of_the_table_with_its_reason() -> None:
    rows = [(rule.value, rule.reason, rule.allows) for rule in Rule]
    assert rows == [
        (1, Reason.DENIED_INVALID_RECORD, False), (2, Reason.DENIED_STALE_CACHE, False),
        (3, Reason.DENIED_UNKNOWN_ACCOUNT, False), (4, Reason.DENIED_ERASURE, False),
        (5, Reason.DENIED_BY_POLICY, False), (6, Reason.DENIED_OPTED_OUT, False),
        (7, Reason.DENIED_OUTSIDE_WINDOW, False), (8, Reason.ALLOWED_BY_TERMS, True),
        (9, Reason.DENIED_NO_CONSENT, False), (10, Reason.DENIED_OUTSIDE_WINDOW, False),
        (11, Reason.ALLOWED_BY_CONSENT, True)]


@pytest.mark.parametrize("rules, combined", [
    ([Rule.ALLOWED_BY_TERMS], Rule.ALLOWED_BY_TERMS),
    ([Rule.ALLOWED_BY_TERMS, Rule.ALLOWED_BY_CONSENT], Rule.ALLOWED_BY_CONSENT),
    ([Rule.ALLOWED_BY_CONSENT, Rule.OUTSIDE_CONSENT_WINDOW], Rule.OUTSIDE_CONSENT_WINDOW),
    ([Rule.NO_CONSENT, Rule.OUTSIDE_TERMS_WINDOW], Rule.OUTSIDE_TERMS_WINDOW),
    ([Rule.OUTSIDE_CONSENT_WINDOW, Rule.NO_CONSENT, Rule.OPTED_OUT], Rule.OPTED_OUT),
])
def test_derived_data_takes_the_first_denial_in_table_order(rules, combined) -> None:
    assert combine(rules) is combined
