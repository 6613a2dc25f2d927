"""decide_batch, the fast path, decides every record as decide_reference, the table read
line by line: on random consent states, on a policy that exercises what the default one
leaves out, and on every hand-written case."""

from __future__ import annotations

import pytest
from consent_strategies import NOW, POLICY, Scenario, scenarios
from decision_cases import Case, all_cases
from hypothesis import event, given, settings
from hypothesis import strategies as st

from sidecar.core import Policy, decide_batch, decide_reference, parse_policy
from sidecar.policy_files import default_policy_text

# The default policy without a terms date, and with a subdivision's prohibition.
VARIANT = parse_policy(default_policy_text().replace("terms_effective", "# terms_effective")
                       + '\n[[regions.rules]]\nregion = "US-CA"\nprohibit = ["customer_content.audio"]\n',
                       "<variant>")
CASES = all_cases()


def verdicts(decisions) -> list[tuple]:
    return [(d.reason, d.rule) for d in decisions]


@settings(max_examples=300)
@given(scenarios(), st.sampled_from([POLICY, VARIANT]), st.randoms())
def test_a_batch_with_repeated_keys_is_decided_as_the_reference_decides(
        s: Scenario, policy: Policy, rng) -> None:
    batch = s.records * 3
    rng.shuffle(batch)
    index = s.index()
    slow = [decide_reference(record, index, policy, NOW) for record in batch]
    for decision in slow:
        event(decision.reason.name)
    assert verdicts(decide_batch(batch, index, policy, NOW)) == verdicts(slow)
    assert verdicts(decide_batch(batch, index, policy, NOW, explain=True)) == verdicts(slow)


def test_the_variant_policy_differs_where_it_should() -> None:
    assert VARIANT.terms_effective is None and POLICY.terms_effective is not None
    assert VARIANT.rule_for("customer_content.audio", "US-CA").basis == "prohibited"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_reference_gives_each_case_the_reason_the_design_gives(case: Case) -> None:
    decision = decide_reference(case.record, case.index, case.policy, case.now,
                                min_version=case.min_version)
    assert (decision.reason, decision.rule) == (case.expect, case.rule)
