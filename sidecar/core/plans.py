"""The fast path of decide(): a record turned into a *plan* that does not depend on its
`collected_at`, so that a batch can share plans between records with equal keys.

A plan is either a fixed decision (rules 1-4), or one outcome per category the record
involves (its own and every source it derives from): the rule that decides the category
unless a window fails, and that window's collection-time threshold. Outcomes of categories
no consent entry touches depend on the category, region and policy alone and are shared
too; `collected_at` is applied per record, so sharing never changes a verdict.
"""

from __future__ import annotations

import struct
import weakref
from typing import Any

from .explanations import explained, fixed_explained
from .index import AccountState, ConsentIndex
from .model import Decision, Micros, Record, Rule, combine
from .policy import CONSENT, PROHIBITED, Policy
from .scopes import NEVER_COVERED, SILENT, LevelAnswer, Scope, answer
from .times import AFTER_ALL_TIME, BEFORE_ALL_TIME
from .validation import did_you_mean, identity_problem, region_problem, shape_problem

PLAIN = {rule: Decision(rule.reason, rule) for rule in Rule}
"""The decision of each rule without an explanation, shared by every record it decides."""
WINDOW_RULES = (Rule.OUTSIDE_TERMS_WINDOW, Rule.OUTSIDE_CONSENT_WINDOW)
"""The rules an outcome's window can give (a plan has at most one check of each)."""

ShapeKey = tuple[str, str, str, tuple[str, ...]]
PlanKey = tuple[str, str, str, str, str, tuple[str, ...]]
"""What a plan depends on: account, category, purpose, user, region, derived_from (Record order)."""
Spanned = tuple["Plan", Micros, Micros]
"""A plan and the span of `now`, [since, until), it holds for."""


class Outcome:
    """One category's part of a decision: the rule that `decides` it, unless data collected
    before `threshold` (or at no known time) fails its `window` first."""

    __slots__ = ("category", "decides", "window", "threshold", "account", "user", "note")

    def __init__(self, category: str, decides: Rule, *, window: Rule | None = None,
                 threshold: Micros = NEVER_COVERED, account: LevelAnswer = SILENT,
                 user: LevelAnswer = SILENT, note: str = "") -> None:
        self.category, self.decides, self.note = category, decides, note
        self.window, self.threshold = window, threshold
        self.account, self.user = account, user

    def rule_at(self, collected_at: Micros | None) -> Rule:
        """The rule that decides this category for data collected at `collected_at`."""
        if self.window is not None and (collected_at is None or collected_at < self.threshold):
            return self.window
        return self.decides


class Plan:
    """Everything about a record's decision except its collection time.

    Precomputed for the hot path: `checks` holds the window checks that come before what
    decides `otherwise` (in table order, at most one per window rule), `undated` the
    decision for a missing collected_at, and `row` all of it as numbers for the columnar
    path (see `plan_row`; made when first read, since the row path never reads it).
    """

    __slots__ = ("fixed", "outcomes", "checks", "otherwise", "undated", "_row")

    def __init__(self, outcomes: tuple[Outcome, ...]) -> None:
        self.fixed: Decision | None = None
        self.outcomes = outcomes
        if len(outcomes) == 1:
            self._single(outcomes[0])
        else:
            rule = combine(o.decides for o in outcomes)
            self.otherwise, self.checks = PLAIN[rule], _window_checks(outcomes, rule)
        self.undated = self.checks[0][1] if self.checks else self.otherwise
        self._row: bytes | None = None

    def _single(self, outcome: Outcome) -> None:
        """The common case, one category: its window check, if any, then its rule."""
        self.otherwise = PLAIN[outcome.decides]
        window = outcome.window
        self.checks = () if window is None else ((outcome.threshold, PLAIN[window]),)

    @classmethod
    def fixed_to(cls, decision: Decision) -> Plan:
        """A plan that gives every record the same decision (rules 1-4)."""
        plan = cls.__new__(cls)
        plan.fixed = plan.otherwise = plan.undated = decision
        plan.outcomes, plan.checks, plan._row = (), (), None
        return plan

    def lean(self) -> Plan:
        """The plan without its outcomes (what explanations read): a plan kept between calls
        then holds no account's entries alive, only its decisions and thresholds."""
        if not self.outcomes:
            return self
        plan = Plan.__new__(Plan)
        plan.fixed, plan.otherwise, plan.undated = self.fixed, self.otherwise, self.undated
        plan.outcomes, plan.checks, plan._row = (), self.checks, self._row
        return plan

    @property
    def row(self) -> bytes:
        """The plan as numbers (see `plan_row`), kept once made."""
        row = self._row
        if row is None:
            row = self._row = plan_row(self)
        return row

    def window_decision(self, collected_at: Micros) -> Decision:
        """The first failing window check's denial, else what decides otherwise."""
        for threshold, denial in self.checks:
            if collected_at < threshold:
                return denial
        return self.otherwise

    def decide(self, collected_at: Micros | None, explain: bool = False) -> Decision:
        """The decision for data collected at `collected_at` (first denial in table order)."""
        if self.fixed is not None:
            return self.fixed
        decision = self.undated if collected_at is None else self.window_decision(collected_at)
        if not explain:
            return decision
        deciding = [o for o in self.outcomes if o.rule_at(collected_at) == decision.rule]
        return explained(decision.rule, deciding, collected_at)


def _window_checks(outcomes: tuple[Outcome, ...],
                   otherwise: Rule) -> tuple[tuple[Micros, Decision], ...]:
    """The windows that decide before `otherwise` when they fail, in table order. Of one
    window rule's thresholds only the latest counts: data collected before any earlier one
    is before it too, and gets the same denial."""
    latest: dict[Rule, Micros] = {}
    for o in outcomes:
        if o.window is not None and (otherwise.allows or o.window.precedes(otherwise)):
            latest[o.window] = max(o.threshold, latest.get(o.window, o.threshold))
    return tuple((latest[window], PLAIN[window]) for window in sorted(latest))


ROW_CHECKS = len(WINDOW_RULES)
"""The most window checks a plan holds: one per window rule."""
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def plan_row(plan: Plan) -> bytes:
    """A plan as little-endian int64s: otherwise's rule, undated's rule, then (threshold,
    denial's rule) per check, padded with checks no time fails. Bytes, so that a batch's
    rows join into one array without a conversion per number (columnar.decide_columns)."""
    row = [int(plan.otherwise.rule), int(plan.undated.rule)]
    for threshold, denial in plan.checks:
        row += (min(threshold, _INT64_MAX), int(denial.rule))
    row += (_INT64_MIN, int(plan.otherwise.rule)) * (ROW_CHECKS - len(plan.checks))
    return struct.pack(f"<{len(row)}q", *row)


FIXED = {rule: Plan.fixed_to(PLAIN[rule]) for rule in (
    Rule.INVALID_RECORD, Rule.STALE_CACHE, Rule.UNKNOWN_ACCOUNT, Rule.ERASURE)}
"""The plans of rules 1-4, which decide a record before its categories are looked at."""


class Planner:
    """Makes plans for one batch; remembers each record shape's validity and categories."""

    def __init__(self, index: ConsentIndex | None, policy: Policy, now: Micros,
                 explain: bool, stale: str) -> None:
        self.index, self.policy, self.now = index, policy, now
        self.explain, self.stale = explain, stale
        self._shapes: dict[ShapeKey, tuple[str, tuple[str, ...]]] = {}
        self._silent: dict[tuple[str, str, bool], Outcome] = {}
        self._shared_plans: dict[Outcome, Plan] = {}
        self._state: AccountState | None = None  # the last plan's account, for planned()

    def plan(self, record: Record) -> Plan:
        """Rules 1-4 for the record, then one outcome per category (rules 5-11)."""
        return self._plan(record)

    def planned(self, record: Record) -> Spanned:
        """The record's plan and the span of `now` it holds for, [since, until): the plan
        reads the time only through its entries' windows, so it holds between the nearest
        window boundaries of the account's and the user's entries around `now`."""
        plan = self._plan(record)
        state = self._state
        if state is None:
            return plan.lean(), BEFORE_ALL_TIME, AFTER_ALL_TIME
        self._state = None
        return (plan.lean(), *_span(self.now, state.account_scopes, state.scopes_of(record.user_id)))

    def _plan(self, record: Record) -> Plan:
        self._state = None
        problem, categories = self._shape(record)
        problem = identity_problem(record) or problem
        if problem:
            hint = did_you_mean(record, self.policy) if self.explain else ""
            return self._fixed(Rule.INVALID_RECORD, problem + hint)
        if self.stale or self.index is None:
            return self._fixed(Rule.STALE_CACHE, self.stale)
        state = self.index.state(record.account_id)
        self._state = state
        if state.account is None:
            return self._fixed(Rule.UNKNOWN_ACCOUNT, f"account {record.account_id!r} is not in the store")
        if state.erased or record.user_id in state.erased_users:
            who = "the account" if state.erased else f"user {record.user_id!r}"
            return self._fixed(Rule.ERASURE, f"an erasure covers {who}")
        region = self.policy.region_of(record.region, state.account.region)
        if region is None:
            problem = region_problem(state.account.region, self.policy)
            return self._fixed(Rule.INVALID_RECORD,
                               f"the record names no region and its account's region {problem}")
        if len(categories) == 1:
            outcome = self._outcome(categories[0], record, state, region)
            return self._shared_plans.get(outcome) or Plan((outcome,))
        return Plan(tuple([self._outcome(c, record, state, region) for c in categories]))

    def _shape(self, record: Record) -> tuple[str, tuple[str, ...]]:
        """Rule 1's verdict on the record's keys and region, and the categories it involves."""
        key = (record.data_category, record.purpose, record.region, record.derived_from)
        shape = self._shapes.get(key)
        if shape is None:
            problem = shape_problem(*key[:2], record.derived_from, record.region, self.policy)
            categories = () if problem else involved_categories(record, self.policy)
            shape = self._shapes[key] = (problem, categories)
        return shape

    def _fixed(self, rule: Rule, note: str) -> Plan:
        return Plan.fixed_to(fixed_explained(rule, note)) if self.explain else FIXED[rule]

    def _outcome(self, category: str, record: Record, state: AccountState,
                 region: str) -> Outcome:
        account = answer(state.account_scopes, category, record.purpose, self.now)
        user = (answer(state.scopes_of(record.user_id), category, record.purpose, self.now)
                if record.user_id and state.user_scopes else SILENT)
        if account is not SILENT or user is not SILENT or self.explain:
            return self._judge(category, record, region, account, user)
        # No entry applies: the outcome depends on the category, region and user only.
        key = (category, region, bool(record.user_id))
        outcome = self._silent.get(key)
        if outcome is None:
            outcome = self._silent[key] = self._judge(category, record, region, SILENT, SILENT)
            self._shared_plans[outcome] = Plan((outcome,))
        return outcome

    def _judge(self, category: str, record: Record, region: str, account: LevelAnswer,
               user: LevelAnswer) -> Outcome:
        """Rules 5-11 for one category, given what each level answers."""
        rule = self.policy.rule_for(category, region)
        if rule.basis == PROHIBITED:
            note = f"the policy prohibits {category}" + (f" in {region}" if region else "")
            return Outcome(category, Rule.PROHIBITED_BY_POLICY, note=note)
        if account.opted_out or user.opted_out:
            return Outcome(category, Rule.OPTED_OUT, account=account, user=user)
        if rule.basis != CONSENT:
            return self._terms(category, account, user)
        if not account.granted or (rule.needs_user and not user.granted):
            note = _missing_grant(account, record.user_id)
            return Outcome(category, Rule.NO_CONSENT, account=account, user=user, note=note)
        covered = max(account.covers_from, user.covers_from) if rule.needs_user else account.covers_from
        return Outcome(category, Rule.ALLOWED_BY_CONSENT, window=Rule.OUTSIDE_CONSENT_WINDOW,
                       threshold=covered, account=account, user=user)

    def _terms(self, category: str, account: LevelAnswer, user: LevelAnswer) -> Outcome:
        """Rules 7-8: allowed by the terms, for data collected from their effective date."""
        terms = self.policy.terms_effective
        if terms is None:
            return Outcome(category, Rule.ALLOWED_BY_TERMS, account=account, user=user)
        return Outcome(category, Rule.ALLOWED_BY_TERMS, window=Rule.OUTSIDE_TERMS_WINDOW,
                       threshold=terms, account=account, user=user)


def _span(now: Micros, *levels: tuple[Scope, ...]) -> tuple[Micros, Micros]:
    """The widest [since, until) around `now` in which no entry of `levels` starts or ends."""
    since, until = BEFORE_ALL_TIME, AFTER_ALL_TIME
    for scopes in levels:
        for scope in scopes:
            for boundary in (scope.starts, scope.ends):
                if boundary <= now:
                    since = max(since, boundary)
                else:
                    until = min(until, boundary)
    return since, until


class PlanCache:
    """Plans kept across calls, for one index's content and one policy, without
    explanations (lean: no entries held): each holds while `now` stays inside its span
    (see Planner.planned).

    Keyed by caller input, so bounded: full, it starts over. Shared by request threads
    (a dict's get and set are atomic; a lost entry is only made again).
    """

    def __init__(self, limit: int = 65_536) -> None:
        self.limit = limit
        # One tuple, swapped whole: a thread never pairs one index's content with another's
        # plans. The base is held weakly: a base the follower has let go (a cold start's
        # buffer, rebased onto the mapped snapshot file) must not live on for the cache.
        self._held: tuple[weakref.ref[Any], object, Policy, dict[PlanKey, Spanned]] | None = None

    def plans_for(self, index: ConsentIndex, policy: Policy) -> dict[PlanKey, Spanned]:
        """The plans made on this index's data under `policy` (empty after a change)."""
        held = self._held
        if held is None or held[0]() is not index.base or held[1] is not index.overlay \
                or held[2] is not policy:
            held = self._held = (weakref.ref(index.base), index.overlay, policy, {})
        plans = held[3]
        if len(plans) >= self.limit:
            plans.clear()
        return plans


def involved_categories(record: Record, policy: Policy) -> tuple[str, ...]:
    """The record's category, then every source it derives from (record's and policy's)."""
    found = [record.data_category]
    for source in (*record.derived_from, *policy.sources(record.data_category)):
        for category in (source, *policy.sources(source)):
            if category not in found:
                found.append(category)
    return tuple(found)


def _missing_grant(account: LevelAnswer, user_id: str) -> str:
    if not account.granted:
        return "no account-level grant applies"
    if not user_id:
        return "the category needs user consent and the record names no user"
    return f"user {user_id!r} has no grant that applies"
