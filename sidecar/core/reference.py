"""decide_reference(): DESIGN.md section 2 read line by line, slow and plain.

It shares no plan, cache or shortcut with `decide_batch`; tests hold the two equal on
random consent states and records, so the fast path is only ever as clever as it is right.
"""

from __future__ import annotations

from .decision import stale_cache_problem
from .index import AccountState, ConsentIndex
from .model import Decision, Micros, Record, Rule, combine
from .policy import PROHIBITED, TERMS, Policy
from .scopes import LevelAnswer, answer
from .validation import identity_problem, shape_problem


def decide_reference(record: Record, index: ConsentIndex | None, policy: Policy, now: Micros,
                     *, max_staleness: float | None = None, min_version: int = 0) -> Decision:
    """The decision for one record, taking the table's rows in order (no explanation)."""
    rule = _record_rule(record, index, policy, now, max_staleness, min_version)
    return Decision(rule.reason, rule)


def _record_rule(record: Record, index: ConsentIndex | None, policy: Policy, now: Micros,
                 max_staleness: float | None, min_version: int) -> Rule:
    """Rules 1-4 for the record as a whole, then rules 5-11 for each category it involves."""
    if identity_problem(record) or shape_problem(record.data_category, record.purpose,
                                                 record.derived_from, record.region, policy):
        return Rule.INVALID_RECORD
    if index is None or stale_cache_problem(index, policy, now, max_staleness, min_version):
        return Rule.STALE_CACHE
    state = index.state(record.account_id)
    if state.account is None:
        return Rule.UNKNOWN_ACCOUNT
    if state.erased or (record.user_id and record.user_id in state.erased_users):
        return Rule.ERASURE
    region = policy.region_of(record.region, state.account.region)
    if region is None:  # the record names no region and its account's is malformed
        return Rule.INVALID_RECORD
    return combine(_category_rule(category, record, state, region, policy, now)
                   for category in _categories(record, policy))


def _categories(record: Record, policy: Policy) -> set[str]:
    """The record's own category, its derived_from, and what each derives from by policy."""
    named = {record.data_category, *record.derived_from}
    return named.union(*(policy.sources(category) for category in named))


def _category_rule(category: str, record: Record, state: AccountState, region: str,
                   policy: Policy, now: Micros) -> Rule:
    """Rules 5 to 11 for one category, in table order (a basis is terms, consent or prohibited)."""
    basis = policy.rule_for(category, region)
    if basis.basis == PROHIBITED:
        return Rule.PROHIBITED_BY_POLICY
    account = answer(state.account_scopes, category, record.purpose, now)
    user = answer(state.scopes_of(record.user_id), category, record.purpose, now)
    if account.opted_out or user.opted_out:
        return Rule.OPTED_OUT
    if basis.basis == TERMS:
        return _terms_rule(record.collected_at, policy.terms_effective)
    must_grant = [account, user] if basis.needs_user else [account]
    if not all(level.granted for level in must_grant):
        return Rule.NO_CONSENT
    if record.collected_at is None or not all(_covers(level, record.collected_at)
                                              for level in must_grant):
        return Rule.OUTSIDE_CONSENT_WINDOW
    return Rule.ALLOWED_BY_CONSENT


def _terms_rule(collected_at: Micros | None, terms_effective: Micros | None) -> Rule:
    """Rules 7-8: data from the terms' effective date on is usable under the terms."""
    if terms_effective is None:
        return Rule.ALLOWED_BY_TERMS
    if collected_at is None or collected_at < terms_effective:
        return Rule.OUTSIDE_TERMS_WINDOW
    return Rule.ALLOWED_BY_TERMS


def _covers(level: LevelAnswer, collected_at: Micros) -> bool:
    """True when a standing grant of the level covers data collected at `collected_at`."""
    return level.covers_from <= collected_at
