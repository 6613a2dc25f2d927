"""What the core keeps between decisions is keyed by what the policy and the index hold, or
bounded: no string a caller sends makes the process hold more for the next call."""

from __future__ import annotations

import gc
import tracemalloc

from consent_strategies import NOW
from hypothesis import given
from hypothesis import strategies as st

from sidecar.core import Account, ConsentIndex, Reason, Record, decide_batch
from sidecar.core.iso3166 import COUNTRIES, SUBDIVISIONS
from sidecar.core.plans import PlanCache
from sidecar.core.policy import parse_policy
from sidecar.policy_files import load_policy

INDEX = ConsentIndex.build(1, [Account("acme", "US")], synced_at=NOW)
RECORD = Record("acme", "service_generated.telemetry", "ai.training", collected_at=NOW)
BATCH = 1_000
ROUNDS = 50  # of BATCH records each: 50,000 distinct region strings a half
# Rules that name a group, a country, a subdivision and an alias, so that every way a
# code can overlap a rule's region is in play.
REGIONAL_POLICY = """
purposes = ["ai.training"]
[categories]
"service_generated.telemetry" = { basis = "terms" }
"service_generated.usage" = { basis = "terms" }
"customer_content.chat" = { basis = "consent" }
[regions.groups]
DACH = ["DE", "AT", "CH"]
[regions.aliases]
UK = "GB"
[[regions.rules]]
region = "DACH"
consent = ["service_generated"]
[[regions.rules]]
region = "US"
prohibit = ["service_generated.usage"]
[[regions.rules]]
region = "FR-IDF"
prohibit = ["customer_content"]
[[regions.rules]]
region = "UK"
consent = ["service_generated.telemetry"]
"""
REGIONAL = parse_policy(REGIONAL_POLICY)
CODES = sorted(COUNTRIES | SUBDIVISIONS | set(REGIONAL.regions.groups))


def _bad_regions(first: int) -> list[Record]:
    """BATCH records, each naming a region string no caller sent before (all malformed)."""
    return [RECORD._replace(region=f"ZZ-{first + i}") for i in range(BATCH)]


def _held_after(rounds: range, policy, cache: PlanCache) -> int:
    """Bytes the process holds after deciding `rounds` batches of new bad region strings."""
    for start in rounds:
        decisions = decide_batch(_bad_regions(start * BATCH), INDEX, policy, NOW, cache=cache)
        assert {d.reason for d in decisions} == {Reason.DENIED_INVALID_RECORD}
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def test_100000_distinct_bad_regions_hold_no_more_memory_than_50000() -> None:
    policy, cache = load_policy(), PlanCache(limit=1_000)
    tracemalloc.start()
    try:
        half = _held_after(range(ROUNDS), policy, cache)
        whole = _held_after(range(ROUNDS, 2 * ROUNDS), policy, cache)
    finally:
        tracemalloc.stop()
    # A memo of every string seen would hold about 100 bytes more per string: 5 MB here.
    assert whole - half < 500_000
    assert decide_batch([RECORD], INDEX, policy, NOW, cache=cache)[0].reason == (
        Reason.ALLOWED_BY_TERMS)


def test_every_assigned_code_leaves_one_rule_per_category_and_rule_set() -> None:
    policy = parse_policy(REGIONAL_POLICY)
    categories = sorted(policy.categories.nodes)
    for code in CODES:
        for category in categories:
            policy.rule_for(category, code)
    rule_sets = {policy.binding_rules(code) for code in CODES}
    assert len(policy._rules) == len(categories) * len(rule_sets) <= len(categories) * 8
    assert len(policy._binding) == len(CODES) + 1  # and '' (no region)


def test_100000_strings_that_are_no_region_leave_the_policy_holding_what_it_held() -> None:
    policy = parse_policy(REGIONAL_POLICY)
    policy.rule_for("service_generated.telemetry", "DE")
    held = (len(policy._binding), len(policy._rules))
    for i in range(100_000):
        code = f"zz-{i}"
        assert policy.normalize_region(code) is None
        assert policy.rule_for("service_generated.telemetry", code).basis == "terms"
    assert (len(policy._binding), len(policy._rules)) == (held[0], held[1] + 1)  # rule set ()


@given(st.sampled_from(CODES))
def test_the_rules_binding_a_code_are_those_whose_region_overlaps_it(code: str) -> None:
    overlapping = tuple(i for i, rule in enumerate(REGIONAL.region_rules)
                        if REGIONAL.regions.overlap(code, rule.region))
    assert REGIONAL.binding_rules(code) == overlapping


def test_regional_rules_decide_as_before() -> None:
    assert REGIONAL.rule_for("service_generated.telemetry", "DE-BE").basis == "consent"
    assert REGIONAL.rule_for("service_generated.telemetry", "GB").basis == "consent"
    assert REGIONAL.rule_for("service_generated.usage", "GB").basis == "terms"
    assert REGIONAL.rule_for("service_generated", "US-CA").basis == "prohibited"
    assert REGIONAL.rule_for("customer_content.chat", "FR").basis == "prohibited"
    assert REGIONAL.rule_for("customer_content.chat", "FR-ARA").basis == "consent"
    assert REGIONAL.rule_for("service_generated.telemetry", "").basis == "terms"


def test_sources_of_an_undeclared_category_are_worked_out_and_not_kept() -> None:
    policy = load_policy()
    held = len(policy._sources)
    for i in range(1_000):
        assert policy.sources(f"customer_content.derived.x{i}") == ("customer_content",)
    assert len(policy._sources) == held == len(policy.categories.nodes)


def test_the_plan_cache_does_not_keep_a_replaced_index_alive() -> None:
    """A cold start's index lives in its own buffer until the follower moves onto the
    mapped snapshot file; plans made on it before must not keep that buffer resident."""
    import weakref

    cache, policy = PlanCache(), load_policy()
    index = ConsentIndex.build(1, [Account("acme", "US")], synced_at=NOW)
    decide_batch([RECORD], index, policy, NOW, cache=cache)
    assert cache.plans_for(index, policy)  # a plan was kept for this index
    base = weakref.ref(index.base)
    del index
    gc.collect()
    assert base() is None
    later = ConsentIndex.build(2, [Account("acme", "US")], synced_at=NOW)
    assert cache.plans_for(later, policy) == {}  # the new index starts with no plans
