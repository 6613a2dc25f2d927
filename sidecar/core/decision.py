"""decide(): the decision table of DESIGN.md section 2 as a pure function of
(record, consent index, policy, now).

A record is turned into a *plan* that does not depend on `collected_at`: either a fixed
decision, or one outcome per category it involves (its own and every source it derives
from), each with the collection-time threshold its window needs. A batch shares plans
between records with equal keys, and outcomes between records whose category no consent
entry touches (they depend on the category, region and policy alone); `collected_at` is
applied per record, so sharing never changes a verdict.
"""

from __future__ import annotations

from collections.abc import Iterable

from .index import AccountState, ConsentIndex
from .model import Decision, Micros, Reason, Record
from .policy import CONSENT, PROHIBITED, Policy
from .scopes import SILENT, LevelAnswer, answer
from .times import format_timestamp
from .validation import identity_problem, shape_problem

_REASON_OF_RULE = {
    1: Reason.DENIED_INVALID_RECORD, 2: Reason.DENIED_STALE_CACHE,
    3: Reason.DENIED_UNKNOWN_ACCOUNT, 4: Reason.DENIED_ERASURE, 5: Reason.DENIED_BY_POLICY,
    6: Reason.DENIED_OPTED_OUT, 7: Reason.DENIED_OUTSIDE_WINDOW, 8: Reason.ALLOWED_BY_TERMS,
    9: Reason.DENIED_NO_CONSENT, 10: Reason.DENIED_OUTSIDE_WINDOW,
    11: Reason.ALLOWED_BY_CONSENT,
}
_PLAIN = {rule: Decision(reason, rule) for rule, reason in _REASON_OF_RULE.items()}
_NOT_COVERED = 2**63
_NO_TIME = -(2**63)


class Outcome:
    """One category's part of a decision: a fixed rule, or a window check then allow."""

    __slots__ = ("category", "fixed_rule", "threshold", "window_rule", "allow_rule",
                 "account", "user", "note")

    def __init__(self, category: str, *, fixed_rule: int = 0, threshold: Micros | None = None,
                 window_rule: int = 0, allow_rule: int = 8, account: LevelAnswer = SILENT,
                 user: LevelAnswer = SILENT, note: str = "") -> None:
        self.category, self.fixed_rule, self.threshold = category, fixed_rule, threshold
        self.window_rule, self.allow_rule, self.note = window_rule, allow_rule, note
        self.account, self.user = account, user

    def rule_at(self, collected_at: Micros | None) -> int:
        """The rule that decides this category for data collected at `collected_at`."""
        if self.fixed_rule:
            return self.fixed_rule
        if self.window_rule and (collected_at is None or collected_at < self.threshold):
            return self.window_rule
        return self.allow_rule


class Plan:
    """Everything about a record's decision except its collection time.

    Precomputed for the hot path: `checks` holds the window checks that could decide
    before any fixed denial (ascending rule), `otherwise` what decides when none fails.
    """

    __slots__ = ("fixed", "outcomes", "checks", "otherwise")

    def __init__(self, fixed: Decision | None = None, outcomes: tuple[Outcome, ...] = ()):
        self.fixed, self.outcomes = fixed, outcomes
        if len(outcomes) == 1:
            self._single(outcomes[0])
            return
        fixed_rules = [o.fixed_rule for o in outcomes if o.fixed_rule]
        first_fixed = min(fixed_rules, default=99)
        windows = sorted((o.window_rule, o.threshold) for o in outcomes
                         if not o.fixed_rule and o.window_rule and o.window_rule < first_fixed)
        self.checks = tuple((threshold, _PLAIN[rule]) for rule, threshold in windows)
        allow_rule = max((o.allow_rule for o in outcomes), default=8)
        self.otherwise = _PLAIN[first_fixed if fixed_rules else allow_rule]

    def _single(self, outcome: Outcome) -> None:
        """The common case, one category: its fixed rule, or its window then its allow."""
        if outcome.fixed_rule:
            self.checks, self.otherwise = (), _PLAIN[outcome.fixed_rule]
            return
        window = outcome.window_rule
        self.checks = ((outcome.threshold, _PLAIN[window]),) if window else ()
        self.otherwise = _PLAIN[outcome.allow_rule]

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
        decision = self.window_decision(_NO_TIME if collected_at is None else collected_at)
        if not explain:
            return decision
        rules = [outcome.rule_at(collected_at) for outcome in self.outcomes]
        return _explained(decision.rule, [o for o, r in zip(self.outcomes, rules, strict=True)
                                          if r == decision.rule], collected_at)


_FIXED = {rule: Plan(fixed=_PLAIN[rule]) for rule in (1, 2, 3, 4)}


def decide(record: Record, index: ConsentIndex | None, policy: Policy, now: Micros, *,
           max_staleness: float | None = None, min_version: int = 0,
           explain: bool = False) -> Decision:
    """The verdict and reason for one record; `now` is the caller's clock, in micros."""
    return decide_batch([record], index, policy, now, max_staleness=max_staleness,
                        min_version=min_version, explain=explain)[0]


def decide_batch(records: Iterable[Record], index: ConsentIndex | None, policy: Policy,
                 now: Micros, *, max_staleness: float | None = None, min_version: int = 0,
                 explain: bool = False) -> list[Decision]:
    """Decisions for many records, in order, all at the index's one consent version."""
    planner = Planner(index, policy, now, explain,
                      stale_cache_problem(index, policy, now, max_staleness, min_version))
    plans: dict[tuple, Plan] = {}
    decisions: list[Decision] = []
    append, get = decisions.append, plans.get
    for record in records:
        key = (record.account_id, record.user_id, record.data_category, record.purpose,
               record.region, record.derived_from)
        plan = None if record.problem else get(key)
        if plan is None:
            plan = planner.plan(record)
            if not record.problem:
                plans[key] = plan
        if plan.fixed is not None:
            append(plan.fixed)
        elif explain:
            append(plan.decide(record.collected_at, explain))
        else:
            collected_at = record.collected_at
            append(plan.window_decision(_NO_TIME if collected_at is None else collected_at))
    return decisions


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


class Planner:
    """Makes plans for one batch; remembers each record shape's validity and categories."""

    def __init__(self, index: ConsentIndex | None, policy: Policy, now: Micros,
                 explain: bool, stale: str) -> None:
        self.index, self.policy, self.now = index, policy, now
        self.explain, self.stale = explain, stale
        self._shapes: dict[tuple, tuple[str, tuple[str, ...]]] = {}
        self._silent: dict[tuple, Outcome] = {}
        self._shared_plans: dict[Outcome, Plan] = {}

    def plan(self, record: Record) -> Plan:
        """Rules 1-4 for the record, then one outcome per category (rules 5-11)."""
        problem, categories = self._shape(record)
        problem = identity_problem(record) or problem
        if problem:
            return self._fixed(1, problem)
        if self.stale or self.index is None:
            return self._fixed(2, self.stale)
        state = self.index.state(record.account_id)
        if state.account is None:
            return self._fixed(3, f"account {record.account_id!r} is not in the store")
        if state.erased or record.user_id in state.erased_users:
            who = "the account" if state.erased else f"user {record.user_id!r}"
            return self._fixed(4, f"an erasure covers {who}")
        region = _record_region(record, state, self.policy)
        if len(categories) == 1:
            outcome = self._outcome(categories[0], record, state, region)
            return self._shared_plans.get(outcome) or Plan(outcomes=(outcome,))
        return Plan(outcomes=tuple([self._outcome(c, record, state, region) for c in categories]))

    def _shape(self, record: Record) -> tuple[str, tuple[str, ...]]:
        key = (record.data_category, record.purpose, record.region, record.derived_from)
        shape = self._shapes.get(key)
        if shape is None:
            problem = shape_problem(*key[:2], record.derived_from, record.region, self.policy)
            categories = () if problem else involved_categories(record, self.policy)
            shape = self._shapes[key] = (problem, categories)
        return shape

    def _fixed(self, rule: int, note: str) -> Plan:
        if not self.explain:
            return _FIXED[rule]
        reason = _REASON_OF_RULE[rule]
        return Plan(fixed=Decision(reason, rule, f"rule {rule} {reason.name}: {note}"))

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
            self._shared_plans[outcome] = Plan(outcomes=(outcome,))
        return outcome

    def _judge(self, category: str, record: Record, region: str, account: LevelAnswer,
               user: LevelAnswer) -> Outcome:
        """Rules 5-11 for one category, given what each level answers."""
        rule = self.policy.rule_for(category, region)
        if rule.basis == PROHIBITED:
            note = f"the policy prohibits {category}" + (f" in {region}" if region else "")
            return Outcome(category, fixed_rule=5, note=note)
        if account.opted_out or user.opted_out:
            return Outcome(category, fixed_rule=6, account=account, user=user)
        if rule.basis != CONSENT:
            terms = self.policy.terms_effective
            return Outcome(category, threshold=terms, window_rule=0 if terms is None else 7,
                           allow_rule=8, account=account, user=user)
        if not account.granted or (rule.needs_user and not user.granted):
            note = _missing_grant(account, user, rule.needs_user, record.user_id)
            return Outcome(category, fixed_rule=9, account=account, user=user, note=note)
        levels = (account, user) if rule.needs_user else (account,)
        threshold = max(_NOT_COVERED if lv.covers_from is None else lv.covers_from
                        for lv in levels)
        return Outcome(category, threshold=threshold, window_rule=10, allow_rule=11,
                       account=account, user=user)


def involved_categories(record: Record, policy: Policy) -> tuple[str, ...]:
    """The record's category, then every source it derives from (record's and policy's)."""
    found = [record.data_category]
    for source in (*record.derived_from, *policy.sources(record.data_category)):
        for category in (source, *policy.sources(source)):
            if category not in found:
                found.append(category)
    return tuple(found)


def _record_region(record: Record, state: AccountState, policy: Policy) -> str:
    code = record.region or (state.account.region if state.account else "")
    return (policy.normalize_region(code) or "") if code else ""


def _missing_grant(account: LevelAnswer, user: LevelAnswer, needs_user: bool,
                   user_id: str) -> str:
    if not account.granted:
        return "no account-level grant applies"
    if not user_id:
        return "the category needs user consent and the record names no user"
    return f"user {user_id!r} has no grant that applies"


def _explained(rule: int, outcomes: list[Outcome], collected_at: Micros | None) -> Decision:
    reason = _REASON_OF_RULE[rule]
    parts, ids = [], []
    for outcome in outcomes:
        entry_ids = outcome.account.entry_ids() + outcome.user.entry_ids()
        ids.extend(entry_ids)
        detail = outcome.note or _level_note(rule, outcome, collected_at)
        parts.append(f"{outcome.category}: {detail}" + (
            f" (entries {', '.join(entry_ids)})" if entry_ids else ""))
    return Decision(reason, rule, f"rule {rule} {reason.name}: " + "; ".join(parts), tuple(ids))


def _level_note(rule: int, outcome: Outcome, collected_at: Micros | None) -> str:
    return {
        6: "opted out at " + ("account and user level" if outcome.account.opted_out
                              and outcome.user.opted_out else
                              "account level" if outcome.account.opted_out else "user level"),
        7: "collected_at missing" if collected_at is None else
           f"collected before the terms took effect ({_when(outcome.threshold)})",
        8: "usable under the terms",
        10: "collected_at missing" if collected_at is None else
            "no standing grant covers data collected then" if outcome.threshold == _NOT_COVERED
            else f"standing grants cover data collected from {_when(outcome.threshold)}",
        11: "granted",
    }[rule]


def _when(micros: Micros | None) -> str:
    return "" if micros is None else format_timestamp(micros)
