"""The accounts a restricting change after a consent version touched — read from the store's
change feed, or from a sidecar's WatchChanges — so a plan re-decides only those."""

from __future__ import annotations

from maytrain.client import ConsentClient, HistoryUnavailable, MaytrainError

from ..core.model import Micros
from ..feed import FeedCursor, HistoryGone
from ..store.protocol import HistoryReader
from .store_rules import PlanFailed

_REPLAN = "make a full plan (without --since-version) instead"


def accounts_changed_in_store(store: HistoryReader, after: int, until: int,
                              now: Micros) -> set[str]:
    """Accounts of the restricting changes numbered in (after, until], with the grants that
    ran out by `now` among them."""
    try:
        cursor = FeedCursor(store, after, now)
    except HistoryGone as exc:
        raise PlanFailed(f"{exc}; {_REPLAN}") from None
    touched: set[str] = set()
    for events in cursor.read(now):
        touched.update(event.account_id for event in events
                       if event.restricts and event.consent_version <= until)
        if events[-1].consent_version > until:
            break
    return touched


def accounts_changed_at_sidecar(client: ConsentClient, after: int) -> tuple[set[str], int]:
    """Accounts of the restricting changes after `after` that the sidecar has seen, and the
    consent version it had reached."""
    watch = client.watch_changes(after, restricting_only=True, follow=False)
    try:
        touched = {change.account_id for change in watch if change.restricts}
    except HistoryUnavailable as exc:
        raise PlanFailed(f"{exc}; {_REPLAN}") from None
    except MaytrainError as exc:
        raise PlanFailed(f"the change feed of the sidecar at {client.config.target}: {exc}") \
            from None
    return touched, watch.consent_version
