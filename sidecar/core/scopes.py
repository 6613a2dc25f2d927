"""Scope matching at one level (DESIGN.md section 3): which entries apply, which are maximal.

A grant applies when its scopes cover the record's keys; an opt-out when they overlap.
Among applicable entries the maximal ones (dominated by no other) decide the level: any
maximal opt-out makes it OPT_OUT, else any maximal grant makes it GRANT.
"""

from __future__ import annotations

from collections.abc import Sequence

from .model import ConsentEntry, Effect, Micros
from .times import AFTER_ALL_TIME, BEFORE_ALL_TIME

NEVER_COVERED: Micros = AFTER_ALL_TIME
"""The earliest data a level's standing grants cover when they cover none: no data reaches it."""


class Scope:
    """A consent entry prepared for fast matching: scope keys, depths, active window."""

    __slots__ = ("entry", "category", "category_dot", "category_depth", "purpose",
                 "purpose_dot", "purpose_depth", "is_grant", "starts", "ends", "covers_from",
                 "_alone")

    def __init__(self, entry: ConsentEntry) -> None:
        self.entry = entry
        self.category, self.purpose = entry.category, entry.purpose
        self.category_dot, self.purpose_dot = entry.category + ".", entry.purpose + "."
        self.category_depth = entry.category.count(".") + 1
        self.purpose_depth = entry.purpose.count(".") + 1
        self.is_grant = entry.effect is Effect.GRANT
        self.starts = BEFORE_ALL_TIME if entry.valid_from is None else entry.valid_from
        self.ends = _ends(entry)
        self.covers_from = _covers_from(entry)
        self._alone: LevelAnswer | None = None

    def alone(self) -> LevelAnswer:
        """The level's answer when this is its only applicable entry (made once, shared)."""
        if self._alone is None:
            self._alone = (LevelAnswer(False, True, (self,), self.covers_from) if self.is_grant
                           else LevelAnswer(True, False, (self,), NEVER_COVERED))
        return self._alone

    def overlaps(self, category: str, purpose: str) -> bool:
        """True when both scopes overlap the keys: when an opt-out applies."""
        return (_overlaps(self.category, self.category_dot, category)
                and _overlaps(self.purpose, self.purpose_dot, purpose))

    def dominates(self, other: Scope) -> bool:
        """At least as specific on both axes and strictly more specific on one."""
        cd, pd = self.category_depth, self.purpose_depth
        ocd, opd = other.category_depth, other.purpose_depth
        return cd >= ocd and pd >= opd and (cd > ocd or pd > opd)


def _overlaps(scope: str, scope_dot: str, key: str) -> bool:
    return key == scope or key.startswith(scope_dot) or scope.startswith(key + ".")


def _ends(entry: ConsentEntry) -> Micros:
    """When the entry stops counting: at once when withdrawn, else at valid_until, if any."""
    if entry.ended_version is not None:
        return BEFORE_ALL_TIME
    return AFTER_ALL_TIME if entry.valid_until is None else entry.valid_until


def _covers_from(entry: ConsentEntry) -> Micros:
    """Data a grant covers starts at covers_data_from, else valid_from (not retroactive)."""
    if entry.covers_data_from is not None:
        return entry.covers_data_from
    if entry.valid_from is not None:
        return entry.valid_from
    return NEVER_COVERED if entry.recorded_at is None else entry.recorded_at


class LevelAnswer:
    """What one level says about a (category, purpose) pair at one moment (read-only):
    `covers_from` is the earliest data its standing grants cover, NEVER_COVERED for none."""

    __slots__ = ("opted_out", "granted", "deciding", "covers_from")

    def __init__(self, opted_out: bool, granted: bool, deciding: tuple[Scope, ...],
                 covers_from: Micros) -> None:
        self.opted_out, self.granted = opted_out, granted
        self.deciding, self.covers_from = deciding, covers_from

    def entry_ids(self) -> tuple[str, ...]:
        """Ids of the entries that decided the level, for explanations."""
        return tuple(scope.entry.entry_id for scope in self.deciding)


SILENT = LevelAnswer(False, False, (), NEVER_COVERED)


def answer(scopes: Sequence[Scope], category: str, purpose: str, now: Micros) -> LevelAnswer:
    """The level's answer for the keys at `now`, with the earliest data its grants cover."""
    if not scopes:
        return SILENT
    # A grant's covering is written out, not called: this runs for every entry of a level.
    applicable = [s for s in scopes if s.starts <= now < s.ends and (
        (category == s.category or category.startswith(s.category_dot))
        and (purpose == s.purpose or purpose.startswith(s.purpose_dot))
        if s.is_grant else s.overlaps(category, purpose))]
    if not applicable:
        return SILENT
    if len(applicable) == 1:
        return applicable[0].alone()
    maximal = [s for s in applicable if not any(o.dominates(s) for o in applicable)]
    opt_outs = [s for s in maximal if not s.is_grant]
    if opt_outs:
        return LevelAnswer(True, False, tuple(opt_outs), NEVER_COVERED)
    return LevelAnswer(False, True, tuple(maximal), _standing_cover(applicable))


def _standing_cover(applicable: list[Scope]) -> Micros:
    """Earliest data covered by a standing grant: one strictly more specific than every
    applicable opt-out, since an equal or incomparable opt-out beats a grant."""
    opt_outs = [s for s in applicable if not s.is_grant]
    starts = [g.covers_from for g in applicable
              if g.is_grant and all(g.dominates(o) for o in opt_outs)]
    return min(starts, default=NEVER_COVERED)
