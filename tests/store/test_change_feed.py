"""The change feed after ingestion, on both backends: each change's kind and whether it
restricts, and grants that run out placed among the changes, each told once."""

from __future__ import annotations

import pytest
from conftest import START

from sidecar.core.model import Effect
from sidecar.feed import ChangeKind, FeedCursor, HistoryGone
from sidecar.store.requests import ConsentRequest

MINUTE = 60_000_000


def kinds(events) -> list[tuple[int, ChangeKind, str]]:
    return [(e.consent_version, e.kind, e.entry_id or e.account_id) for e in events]


def read_all(cursor: FeedCursor, now: int) -> list:
    return [event for page in cursor.read(now, page=2) for event in page]


def grant(store, entry_id: str, **window) -> int:
    request = ConsentRequest("acct", "customer_content", "ai", Effect.GRANT, entry_id=entry_id,
                             **window)
    return store.record_consent(request, actor="t").version


def test_each_change_has_its_kind_and_says_whether_it_restricts(store, clock) -> None:
    store.add_account("acct", "DE", actor="t")
    clock.advance()
    store.update_account("acct", "FR", actor="t")
    grant(store, "g1")
    store.record_consent(ConsentRequest("acct", "customer_content", "ai", Effect.OPT_OUT,
                                        user_id="u1", entry_id="o1"), actor="t")
    store.withdraw("g1", actor="t")
    store.request_erasure("acct", "u2", actor="t")
    events = read_all(FeedCursor(store, 0, clock.now), clock.now)
    assert [(e.consent_version, e.kind, e.restricts) for e in events] == [
        (1, ChangeKind.ACCOUNT_ADDED, False), (2, ChangeKind.ACCOUNT_UPDATED, True),
        (3, ChangeKind.GRANT, False), (4, ChangeKind.OPT_OUT, True),
        (5, ChangeKind.WITHDRAWN, True), (6, ChangeKind.ERASURE, True)]
    assert (events[3].user_id, events[3].category, events[3].purpose) == (
        "u1", "customer_content", "ai")


def test_a_grant_that_runs_out_is_placed_after_the_last_change_before_it(store, clock) -> None:
    store.add_account("acct", actor="t")
    grant(store, "g1", valid_from=START - MINUTE, valid_until=START + 2 * MINUTE)  # v2
    clock.advance(60)
    store.request_erasure("acct", "u9", actor="t")  # v3, before g1 runs out
    clock.advance(120)
    store.add_account("other", actor="t")  # v4, after it ran out
    events = read_all(FeedCursor(store, 0, clock.now), clock.now)
    assert kinds(events) == [(1, ChangeKind.ACCOUNT_ADDED, "acct"), (2, ChangeKind.GRANT, "g1"),
                             (3, ChangeKind.ERASURE, events[2].entry_id),
                             (3, ChangeKind.EXPIRED, "g1"), (4, ChangeKind.ACCOUNT_ADDED, "other")]
    assert events[3].effective_from == START + 2 * MINUTE and events[3].restricts


def test_a_grant_is_announced_when_it_runs_out_and_only_once(store, clock) -> None:
    store.add_account("acct", actor="t")
    grant(store, "g1", valid_from=START - MINUTE, valid_until=START + MINUTE)
    cursor = FeedCursor(store, 0, clock.now)
    assert [e.kind for e in read_all(cursor, clock.now)] == [ChangeKind.ACCOUNT_ADDED,
                                                             ChangeKind.GRANT]
    assert cursor.next_expiry() == START + MINUTE
    assert read_all(cursor, START + MINUTE - 1) == []
    assert kinds(read_all(cursor, START + MINUTE)) == [(2, ChangeKind.EXPIRED, "g1")]
    assert read_all(cursor, START + 10 * MINUTE) == []
    assert cursor.next_expiry() is None


def test_resuming_from_a_version_sends_only_what_came_after_it(store, clock) -> None:
    store.add_account("acct", actor="t")
    grant(store, "g1", valid_from=START - MINUTE, valid_until=START + MINUTE)
    clock.advance(120)
    store.add_account("late", actor="t")
    assert kinds(read_all(FeedCursor(store, 2, clock.now), clock.now)) == [
        (2, ChangeKind.EXPIRED, "g1"), (3, ChangeKind.ACCOUNT_ADDED, "late")]
    assert kinds(read_all(FeedCursor(store, 3, clock.now), clock.now)) == []


def test_a_withdrawn_grant_never_runs_out_in_the_feed(store, clock) -> None:
    store.add_account("acct", actor="t")
    grant(store, "g1", valid_from=START - MINUTE, valid_until=START + MINUTE)
    store.withdraw("g1", actor="t")
    events = read_all(FeedCursor(store, 0, clock.now), START + 5 * MINUTE)
    assert [e.kind for e in events] == [ChangeKind.ACCOUNT_ADDED, ChangeKind.GRANT,
                                        ChangeKind.WITHDRAWN]


def test_a_version_the_store_has_not_reached_has_no_history(store, clock) -> None:
    store.add_account("acct", actor="t")
    with pytest.raises(HistoryGone, match="below 5"):
        FeedCursor(store, 5, clock.now)
