"""Properties of section 3: the rules are monotone, derived data never escapes its sources,
and every verdict carries a reason of its own kind. The generators reach every reason."""

from __future__ import annotations

from consent_strategies import LEAVES, Scenario, entries, erasures, scenarios
from hypothesis import event, given, settings
from hypothesis import strategies as st

from sidecar.core import Effect, Reason, Verdict

RULES = {
    1: {Reason.DENIED_INVALID_RECORD}, 2: {Reason.DENIED_STALE_CACHE},
    3: {Reason.DENIED_UNKNOWN_ACCOUNT}, 4: {Reason.DENIED_ERASURE},
    5: {Reason.DENIED_BY_POLICY}, 6: {Reason.DENIED_OPTED_OUT},
    7: {Reason.DENIED_OUTSIDE_WINDOW}, 8: {Reason.ALLOWED_BY_TERMS},
    9: {Reason.DENIED_NO_CONSENT}, 10: {Reason.DENIED_OUTSIDE_WINDOW},
    11: {Reason.ALLOWED_BY_CONSENT},
}


def never_newly_allowed(before, after) -> None:
    for old, new in zip(before, after, strict=True):
        event(old.reason.name)
        assert old.allowed or not new.allowed, (old, new)


@given(scenarios(), entries(Effect.OPT_OUT, prefix="added-"))
def test_adding_an_opt_out_never_turns_a_deny_into_an_allow(s: Scenario, opt_out) -> None:
    never_newly_allowed(s.decide(), s.decide(entries=s.entries + [opt_out]))


@given(scenarios(), erasures(prefix="added-"))
def test_adding_an_erasure_never_turns_a_deny_into_an_allow(s: Scenario, erasure) -> None:
    never_newly_allowed(s.decide(), s.decide(erasures=s.erasures + [erasure]))


@given(scenarios(), st.data())
def test_removing_a_grant_never_turns_a_deny_into_an_allow(s: Scenario, data) -> None:
    grants = [e for e in s.entries if e.effect is Effect.GRANT]
    if not grants:
        return
    gone = data.draw(st.sampled_from(grants))
    never_newly_allowed(s.decide(), s.decide(entries=[e for e in s.entries if e is not gone]))


@given(scenarios(), entries(Effect.GRANT, prefix="added-"))
def test_adding_a_grant_never_turns_an_allow_into_a_deny(s: Scenario, grant) -> None:
    for old, new in zip(s.decide(), s.decide(entries=s.entries + [grant]), strict=True):
        event(old.reason.name)
        assert new.allowed or not old.allowed, (old, new)


@given(scenarios(), st.sampled_from(LEAVES))
def test_a_derived_record_is_never_allowed_when_its_source_is_denied(s: Scenario, source) -> None:
    derived = [r._replace(derived_from=r.derived_from + (source,)) for r in s.records]
    alone = [r._replace(data_category=source, derived_from=()) for r in s.records]
    for with_source, source_alone in zip(s.decide(records=derived), s.decide(records=alone), strict=True):
        event(with_source.reason.name)
        assert source_alone.allowed or not with_source.allowed


@given(scenarios())
def test_every_verdict_has_a_reason_of_its_kind_and_its_rule(s: Scenario) -> None:
    for decision in s.decide():
        event(decision.reason.name)
        kind = "ALLOWED_" if decision.verdict is Verdict.ALLOW else "DENIED_"
        assert decision.reason.name.startswith(kind)
        assert decision.reason in RULES[decision.rule]


@given(scenarios(), st.randoms())
def test_a_batch_decides_each_record_as_if_alone(s: Scenario, rng) -> None:
    batch = s.records * 2
    rng.shuffle(batch)
    assert s.decide(records=batch) == [s.decide(records=[r])[0] for r in batch]


def test_the_generators_reach_every_reason() -> None:
    seen: set[Reason] = set()

    @settings(max_examples=500, database=None, derandomize=True)
    @given(scenarios())
    def collect(s: Scenario) -> None:
        seen.update(d.reason for d in s.decide())

    collect()
    assert seen == set(Reason), f"never reached: {set(Reason) - seen}"
