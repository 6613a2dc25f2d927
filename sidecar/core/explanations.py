"""Explanations: which rule decided a record, for which categories, on which entries.

The text starts "rule N REASON: " and then says, per deciding category, why; callers and
people read it, so its wording is part of the interface.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .model import Decision, Micros, Rule
from .scopes import NEVER_COVERED, LevelAnswer
from .times import format_timestamp


class Deciding(Protocol):
    """What an explanation reads from one category's outcome."""

    category: str
    threshold: Micros
    account: LevelAnswer
    user: LevelAnswer
    note: str


def fixed_explained(rule: Rule, note: str) -> Decision:
    """The decision of a rule that decides the whole record (1-4), with its note."""
    return Decision(rule.reason, rule, f"{_heading(rule)}{note}")


def explained(rule: Rule, outcomes: Sequence[Deciding], collected_at: Micros | None) -> Decision:
    """The decision of `rule`, saying for each deciding category why, with the entries."""
    parts: list[str] = []
    ids: list[str] = []
    for outcome in outcomes:
        entry_ids = outcome.account.entry_ids() + outcome.user.entry_ids()
        ids.extend(entry_ids)
        detail = outcome.note or _level_note(rule, outcome, collected_at)
        parts.append(f"{outcome.category}: {detail}" + (
            f" (entries {', '.join(entry_ids)})" if entry_ids else ""))
    return Decision(rule.reason, rule, _heading(rule) + "; ".join(parts), tuple(ids))


def _heading(rule: Rule) -> str:
    return f"rule {rule.value} {rule.reason.name}: "


def _level_note(rule: Rule, outcome: Deciding, collected_at: Micros | None) -> str:
    """Why `rule` decided a category that carries no note of its own."""
    if rule is Rule.OPTED_OUT:
        return "opted out at " + _opted_out_levels(outcome)
    if rule is Rule.ALLOWED_BY_TERMS:
        return "usable under the terms"
    if rule is Rule.ALLOWED_BY_CONSENT:
        return "granted"
    if collected_at is None:
        return "collected_at missing"
    if rule is Rule.OUTSIDE_TERMS_WINDOW:
        return f"collected before the terms took effect ({format_timestamp(outcome.threshold)})"
    if outcome.threshold == NEVER_COVERED:
        return "no standing grant covers data collected then"
    return f"standing grants cover data collected from {format_timestamp(outcome.threshold)}"


def _opted_out_levels(outcome: Deciding) -> str:
    if outcome.account.opted_out and outcome.user.opted_out:
        return "account and user level"
    return "account level" if outcome.account.opted_out else "user level"
