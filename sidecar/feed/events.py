"""What each consent change means to a pipeline that already took records: its kind, and
whether it can turn an ALLOW into a DENY (`restricts`).

Pure: a store change (or a grant whose valid_until passed) in, a FeedEvent out.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from ..core.model import Account, Change, ConsentEntry, Effect, Erasure, Micros


class ChangeKind(enum.Enum):
    """The kinds of maytrain.v1.ChangeKind, by their wire names less the prefix."""

    ACCOUNT_ADDED = "ACCOUNT_ADDED"
    ACCOUNT_UPDATED = "ACCOUNT_UPDATED"
    GRANT = "GRANT"
    OPT_OUT = "OPT_OUT"
    WITHDRAWN = "WITHDRAWN"
    ERASURE = "ERASURE"
    EXPIRED = "EXPIRED"


RESTRICTING = frozenset({ChangeKind.ACCOUNT_UPDATED, ChangeKind.OPT_OUT, ChangeKind.WITHDRAWN,
                         ChangeKind.ERASURE, ChangeKind.EXPIRED})
"""Kinds that can deny what was allowed (a new home region may fall under other rules)."""


class FeedEvent(NamedTuple):
    """One change as the feed tells it. An EXPIRED event carries the consent version it was
    announced at (the store's latest change before the grant ran out)."""

    consent_version: int
    kind: ChangeKind
    account_id: str
    user_id: str = ""
    category: str = ""
    purpose: str = ""
    entry_id: str = ""
    effective_from: Micros | None = None

    @property
    def restricts(self) -> bool:
        """True when the change can turn an ALLOW into a DENY."""
        return self.kind in RESTRICTING


def describe(change: Change) -> FeedEvent:
    """The event of one store change (its changed_at read with it)."""
    row, version, at = change.row, change.version, change.changed_at
    if isinstance(row, Account):
        # An account is created by the write that adds it: same clock reading.
        added = row.created_at is not None and row.created_at == at
        return FeedEvent(version, ChangeKind.ACCOUNT_ADDED if added else ChangeKind.ACCOUNT_UPDATED,
                         row.account_id, effective_from=at)
    if isinstance(row, Erasure):
        return FeedEvent(version, ChangeKind.ERASURE, row.account_id, row.user_id,
                         entry_id=row.erasure_id, effective_from=row.requested_at or at)
    return _entry_event(change, row)


def _entry_event(change: Change, entry: ConsentEntry) -> FeedEvent:
    """GRANT or OPT_OUT for a new entry; WITHDRAWN when a later write ended it."""
    rewritten = entry.version != change.version  # an entry keeps the version that made it
    if rewritten or entry.ended_version is not None:
        kind = ChangeKind.WITHDRAWN
        effective = change.changed_at if entry.ended_version is not None else entry.valid_until
    elif entry.effect is Effect.OPT_OUT:
        kind, effective = ChangeKind.OPT_OUT, entry.valid_from or change.changed_at
    else:
        kind, effective = ChangeKind.GRANT, entry.valid_from or change.changed_at
    return FeedEvent(change.version, kind, entry.account_id, entry.user_id, entry.category,
                     entry.purpose, entry.entry_id, effective)


def expired(entry: ConsentEntry, announced_at: int) -> FeedEvent:
    """The event of a standing grant whose valid_until has passed, at consent version
    `announced_at`."""
    return FeedEvent(announced_at, ChangeKind.EXPIRED, entry.account_id, entry.user_id,
                     entry.category, entry.purpose, entry.entry_id, entry.valid_until)
