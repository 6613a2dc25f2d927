"""The values the decision core reads and returns: records, store rows, verdicts, reasons,
and the rows of the decision table.

Times are integers: microseconds since the Unix epoch, UTC (see `times`). Store rows are
frozen dataclasses so that a consent index built from them can be shared between threads.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

Micros = int
"""A point in time: microseconds since 1970-01-01T00:00:00Z."""


class Verdict(enum.StrEnum):
    """Whether a record may be used."""

    ALLOW = "ALLOW"
    DENY = "DENY"


class Reason(enum.StrEnum):
    """Why a record got its verdict (a str enum: hashing it is as cheap as a string's)."""

    ALLOWED_BY_TERMS = "ALLOWED_BY_TERMS"
    ALLOWED_BY_CONSENT = "ALLOWED_BY_CONSENT"
    DENIED_INVALID_RECORD = "DENIED_INVALID_RECORD"
    DENIED_STALE_CACHE = "DENIED_STALE_CACHE"
    DENIED_UNKNOWN_ACCOUNT = "DENIED_UNKNOWN_ACCOUNT"
    DENIED_ERASURE = "DENIED_ERASURE"
    DENIED_BY_POLICY = "DENIED_BY_POLICY"
    DENIED_OPTED_OUT = "DENIED_OPTED_OUT"
    DENIED_OUTSIDE_WINDOW = "DENIED_OUTSIDE_WINDOW"
    DENIED_NO_CONSENT = "DENIED_NO_CONSENT"

    @property
    def verdict(self) -> Verdict:
        """ALLOW for the ALLOWED_* reasons, DENY for every other."""
        return Verdict.ALLOW if self.name.startswith("ALLOWED_") else Verdict.DENY


class Rule(enum.IntEnum):
    """A row of the decision table (DESIGN.md section 2), numbered as the table numbers it.

    Rows are tried in table order and the first that applies decides, so of two rules the
    one that `precedes` the other wins.
    """

    INVALID_RECORD = 1
    STALE_CACHE = 2
    UNKNOWN_ACCOUNT = 3
    ERASURE = 4
    PROHIBITED_BY_POLICY = 5
    OPTED_OUT = 6
    OUTSIDE_TERMS_WINDOW = 7
    ALLOWED_BY_TERMS = 8
    NO_CONSENT = 9
    OUTSIDE_CONSENT_WINDOW = 10
    ALLOWED_BY_CONSENT = 11

    @property
    def reason(self) -> Reason:
        """The reason a decision by this row carries."""
        return _REASON_OF_RULE[self]

    @property
    def allows(self) -> bool:
        """True for the rows whose verdict is ALLOW."""
        return self in _ALLOWING

    def precedes(self, other: Rule) -> bool:
        """True when this row comes before `other` in the table (and so wins over it)."""
        return self.value < other.value


_REASON_OF_RULE = {
    Rule.INVALID_RECORD: Reason.DENIED_INVALID_RECORD,
    Rule.STALE_CACHE: Reason.DENIED_STALE_CACHE,
    Rule.UNKNOWN_ACCOUNT: Reason.DENIED_UNKNOWN_ACCOUNT,
    Rule.ERASURE: Reason.DENIED_ERASURE,
    Rule.PROHIBITED_BY_POLICY: Reason.DENIED_BY_POLICY,
    Rule.OPTED_OUT: Reason.DENIED_OPTED_OUT,
    Rule.OUTSIDE_TERMS_WINDOW: Reason.DENIED_OUTSIDE_WINDOW,
    Rule.ALLOWED_BY_TERMS: Reason.ALLOWED_BY_TERMS,
    Rule.NO_CONSENT: Reason.DENIED_NO_CONSENT,
    Rule.OUTSIDE_CONSENT_WINDOW: Reason.DENIED_OUTSIDE_WINDOW,
    Rule.ALLOWED_BY_CONSENT: Reason.ALLOWED_BY_CONSENT,
}


_ALLOWING = frozenset(rule for rule, reason in _REASON_OF_RULE.items()
                      if reason.verdict is Verdict.ALLOW)


def combine(rules: Iterable[Rule]) -> Rule:
    """What decides a record from its categories' rules (derived data, DESIGN.md section 2):
    the first denial in table order, else ALLOWED_BY_CONSENT if any category needed consent,
    else ALLOWED_BY_TERMS."""
    found = set(rules)
    denials = found - _ALLOWING
    if denials:
        return min(denials)  # rows are numbered in table order
    if Rule.ALLOWED_BY_CONSENT in found:
        return Rule.ALLOWED_BY_CONSENT
    return Rule.ALLOWED_BY_TERMS


class Effect(enum.Enum):
    """What a consent entry says: an opt-in or an opt-out (a revocation)."""

    GRANT = "GRANT"
    OPT_OUT = "OPT_OUT"


class Record(NamedTuple):
    """One unit of data a worker wants to ingest, as the decision sees it (a named tuple:
    transports build hundreds of thousands a second).

    Empty strings and None both mean "not given". `problem` is set by a transport that
    could not convert a field (a timestamp out of range, say): such a record is invalid.
    """

    account_id: str = ""
    data_category: str = ""
    purpose: str = ""
    user_id: str = ""
    collected_at: Micros | None = None
    region: str = ""
    derived_from: tuple[str, ...] = ()
    record_id: str = ""
    problem: str = ""


@dataclass(frozen=True, slots=True)
class Account:
    """A customer (tenant) known to the store, with its home region ('' if none)."""

    account_id: str
    region: str = ""
    created_at: Micros | None = None


@dataclass(frozen=True, slots=True)
class ConsentEntry:
    """One opt-in or opt-out, at account level (user_id '') or user level.

    `valid_from` None means "from the consent version that wrote it": the entry is active
    as soon as an index has seen it. `ended_version` is set when the entry was withdrawn
    without an explicit time: it is inactive from that version on.
    """

    entry_id: str
    account_id: str
    category: str
    purpose: str
    effect: Effect
    user_id: str = ""
    valid_from: Micros | None = None
    valid_until: Micros | None = None
    covers_data_from: Micros | None = None
    evidence: str = ""
    recorded_at: Micros | None = None
    recorded_by: str = ""
    version: int = 0
    ended_version: int | None = None


@dataclass(frozen=True, slots=True)
class Erasure:
    """A request that an account's data (user_id '') or one user's data not be processed."""

    erasure_id: str
    account_id: str
    user_id: str = ""
    requested_at: Micros | None = None
    recorded_by: str = ""
    version: int = 0


StoreRow = Account | ConsentEntry | Erasure


@dataclass(frozen=True, slots=True)
class Change:
    """One numbered change from the store's feed: the new state of one row, the hash that
    chains it to the change before it ('' where the store keeps none), and when the store
    wrote it (None where not read; the chain does not cover it)."""

    version: int
    row: StoreRow
    chain: str = ""
    changed_at: Micros | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """A verdict with exactly one reason, the table row that gave it (an int: `Rule`), and an
    optional explanation."""

    reason: Reason
    rule: Rule
    explanation: str = ""
    entry_ids: tuple[str, ...] = field(default=())

    @property
    def verdict(self) -> Verdict:
        """The verdict the reason implies."""
        return self.reason.verdict

    @property
    def allowed(self) -> bool:
        """True for an ALLOW."""
        return self.reason.verdict is Verdict.ALLOW
