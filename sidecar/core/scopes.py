"""Scope matching at one level (DESIGN.md section 3): which entries apply, which are maximal.

A grant applies when its scopes cover the record's keys; an opt-out when they overlap.
Among applicable entries the maximal ones (dominated by no other) decide the level: any
maximal opt-out makes it OPT_OUT, else any maximal grant makes it GRANT.
"""

from __future__ import annotations

from collections.abc import Sequence

from .model import ConsentEntry, Effect, Micros
from .times import AFTER_ALL_TIME, BEFORE_ALL_TIME

EntryFields = tuple[str, str, str, str, Effect, str, Micros | None, Micros | None, Micros | None,
                    str, Micros | None, str, int, int | None]
"""A consent entry's fields in its dataclass order (entry_id, account_id, ... ended_version)."""

NEVER_COVERED: Micros = AFTER_ALL_TIME
"""The earliest data a level's standing grants cover when they cover none: no data reaches it."""


class Scope:
    """A consent entry prepared for fast matching: scope keys, depths, active window.

    A scope unpacked from the compact index holds the entry's fields and makes the
    `ConsentEntry` only when asked for it (explanations, snapshots): decisions never do.
    """

    __slots__ = ("_entry", "_fields", "category", "category_dot", "category_depth", "purpose",
                 "purpose_dot", "purpose_depth", "is_grant", "starts", "ends", "covers_from",
                 "_alone")

    def __init__(self, entry: ConsentEntry) -> None:
        self._entry: ConsentEntry | None = entry
        self._fields: EntryFields | None = None
        self._prepare(entry.category, entry.purpose, entry.effect is Effect.GRANT,
                      entry.valid_from, _ends(entry.valid_until, entry.ended_version),
                      _covers_from(entry.covers_data_from, entry.valid_from, entry.recorded_at))

    @classmethod
    def of_fields(cls, fields: EntryFields) -> Scope:
        """The scope of the entry whose fields (in ConsentEntry's order) are given."""
        scope = cls.__new__(cls)
        scope._entry, scope._fields = None, fields
        (_, _, category, purpose, effect, _, valid_from, valid_until, covers_data_from, _,
         recorded_at, _, _, ended_version) = fields
        # _prepare written out: an unpacked account makes one scope per entry.
        scope.category, scope.purpose = category, purpose
        scope.category_dot, scope.purpose_dot = category + ".", purpose + "."
        scope.category_depth = category.count(".") + 1
        scope.purpose_depth = purpose.count(".") + 1
        scope.is_grant = effect is Effect.GRANT
        scope.starts = BEFORE_ALL_TIME if valid_from is None else valid_from
        scope.ends = (BEFORE_ALL_TIME if ended_version is not None else
                      AFTER_ALL_TIME if valid_until is None else valid_until)
        scope.covers_from = (covers_data_from if covers_data_from is not None else
                             _covers_from(None, valid_from, recorded_at))
        scope._alone = None
        return scope

    def _prepare(self, category: str, purpose: str, is_grant: bool, valid_from: Micros | None,
                 ends: Micros, covers_from: Micros) -> None:
        self.category, self.purpose = category, purpose
        self.category_dot, self.purpose_dot = category + ".", purpose + "."
        self.category_depth = category.count(".") + 1
        self.purpose_depth = purpose.count(".") + 1
        self.is_grant = is_grant
        self.starts = BEFORE_ALL_TIME if valid_from is None else valid_from
        self.ends, self.covers_from = ends, covers_from
        self._alone: LevelAnswer | None = None

    @property
    def entry(self) -> ConsentEntry:
        """The consent entry this scope matches for (made on first use when unpacked)."""
        entry = self._entry
        if entry is None:
            assert self._fields is not None
            entry = self._entry = ConsentEntry(*self._fields)
        return entry

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


def _ends(valid_until: Micros | None, ended_version: int | None) -> Micros:
    """When the entry stops counting: at once when withdrawn, else at valid_until, if any."""
    if ended_version is not None:
        return BEFORE_ALL_TIME
    return AFTER_ALL_TIME if valid_until is None else valid_until


def _covers_from(covers_data_from: Micros | None, valid_from: Micros | None,
                 recorded_at: Micros | None) -> Micros:
    """Data a grant covers starts at covers_data_from, else valid_from (not retroactive)."""
    if covers_data_from is not None:
        return covers_data_from
    if valid_from is not None:
        return valid_from
    return NEVER_COVERED if recorded_at is None else recorded_at


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
